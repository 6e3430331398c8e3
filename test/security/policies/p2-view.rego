# P2-view: the agent may SELECT public.customer_v (a view of customers.id, customers.card);
# the card column is masked wherever it is read through the view. Otherwise as P1.
package portcullis

import rego.v1

stmt := input.statement

# Relations the agent may read, as "schema.table".
readable := {"public.customer_v"}

# Statement classes that can be allowed at all (each statement is still checked below).
allowed_classes := {"read", "transaction"}

# Commands that only touch the client's own prepared statements and cursors.
own_state_commands := {"DEALLOCATE", "DEALLOCATE ALL", "CLOSE CURSOR", "CLOSE CURSOR ALL"}

# Catalog functions that read server or catalog state rather than computing on values.
introspective_prefixes := ["pg_", "has_", "inet_", "to_reg", "txid_", "current_setting"]

introspective_names := {
	"version", "obj_description", "col_description", "shobj_description", "format_type",
	"current_schemas", "acldefault", "aclexplode", "row_security_active", "makeaclitem",
	"regconfigin", "regdictionaryin",
}

default allow := false

# Resource limits for every allowed statement (CPU burn, cartesian blow-ups).
limits := {"max_rows": 500, "timeout_ms": 10000}

allow if stmt.class in allowed_classes

allow if stmt.command in own_state_commands

deny contains msg if {
	not stmt.class in allowed_classes
	not stmt.command in own_state_commands
	msg := sprintf("%s statements (%s) are not allowed for this agent", [stmt.command, stmt.class])
}

deny contains "the statement could not be parsed" if stmt.parse_error

deny contains "opaque SQL (DO, CALL, dynamic SQL) cannot be checked" if stmt.opaque

deny contains "statements that write through a CTE are not allowed" if stmt.writes_cte

deny contains "SELECT INTO creates a table" if stmt.select_into

deny contains "row locks are not allowed" if stmt.locking

deny contains "COPY to or from server files or programs is not allowed" if {
	stmt.copy
	not stmt.copy.stdio
}

deny contains "COPY FROM is a write" if stmt.copy.direction == "from"

deny contains "read-write or two-phase transactions are not allowed" if {
	stmt.class == "transaction"
	not transaction_ok
}

transaction_ok if {
	stmt.transaction.kind in {"begin", "start", "commit", "rollback", "savepoint", "release", "rollback_to", "set_transaction"}
	not stmt.transaction.read_write
}

deny contains msg if {
	some r in stmt.relations
	not relation_ok(r)
	msg := sprintf("%s of %s.%s (%s) is not allowed", [r.access, r.schema, r.name, r.kind])
}

relation_ok(r) if {
	r.access == "read"
	r.kind == "table"
	sprintf("%s.%s", [r.schema, r.name]) in readable
	same_database(r)
}

# A set-returning function in FROM: judged as a function (it is also in functions[]).
relation_ok(r) if {
	r.access == "read"
	r.kind == "function"
	function_ok({"schema": r.schema, "name": r.name, "effect": "read"})
}

# EXPLAIN of the view prints its plan: the tables it is built from, their columns and any
# filter constants, which is its definition (pg_get_viewdef and pg_views are refused above).
views := {"public.customer_v"}

deny contains "EXPLAIN of a view shows its definition" if {
	stmt.explain
	some r in stmt.relations
	sprintf("%s.%s", [r.schema, r.name]) in views
}

same_database(r) if not r.catalog

same_database(r) if r.catalog == input.session.database

deny contains msg if {
	some f in stmt.functions
	not function_ok(f)
	msg := sprintf("function %s.%s (%s) is not on the allow-list", [f.schema, f.name, f.effect])
}

function_ok(f) if {
	f.effect == "read"
	f.schema == "pg_catalog"
	not introspective(f.name)
}

introspective(name) if {
	name in introspective_names
	not name in value_functions
}

# pg_-prefixed functions that only compute on their argument.
value_functions := {"pg_typeof", "pg_column_size", "pg_size_pretty"}

introspective(name) if {
	some p in introspective_prefixes
	startswith(name, p)
	not name in value_functions
}

# ---- masked columns -----------------------------------------------------------------

# Masked columns by relation. A masked column may only be selected as it is (the result is
# masked); it may not reach a predicate, join, grouping, ordering, any derived expression,
# or a COPY (whose binary and text streams the masker does not rewrite).
masked := {"public.customer_v": {"card"}}

protected(c) if c.column in masked[sprintf("%s.%s", [c.schema, c.table])]

# Every column of the masked relations (system columns included). PostgreSQL reads `t.f`,
# where t has no column f, as the call f(t) of a function on the whole row: `c.hstore` is
# hstore(c), every column of c as text, and a function taking the table's row type runs
# the same way. The gateway has no catalog and reports such a name as a column f of t, so
# a name that is not a column of a masked relation is refused (unless it may be another
# relation's column: ambiguous).
columns_of := {"public.customer_v": {"id", "card"}}

deny contains msg if {
	some c in stmt.columns
	cols := columns_of[sprintf("%s.%s", [c.schema, c.table])]
	c.column != "*"
	not c.column in cols
	not c.ambiguous
	msg := sprintf("%s is not a column of %s.%s (%s.%s would call %s() on its whole row)", [c.column, c.schema, c.table, c.table, c.column, c.column])
}

# A whole-row reference (*, t.*, t) carries every masked column of its relation.
protected(c) if {
	c.column == "*"
	masked[sprintf("%s.%s", [c.schema, c.table])]
}

deny contains msg if {
	some c in stmt.columns
	protected(c)
	c.clause != "select"
	msg := sprintf("%s.%s.%s is masked and may not be used in %s", [c.schema, c.table, c.column, c.clause])
}

deny contains msg if {
	some c in stmt.columns
	protected(c)
	c.derived
	msg := sprintf("%s.%s.%s is masked and may not be used in an expression", [c.schema, c.table, c.column])
}

deny contains msg if {
	stmt.copy
	some c in stmt.columns
	protected(c)
	msg := sprintf("%s.%s.%s is masked and may not be copied out", [c.schema, c.table, c.column])
}

mask[col] := "redact" if {
	some c in stmt.columns
	protected(c)
	c.clause == "select"
	not c.derived
	rel := sprintf("%s.%s", [c.schema, c.table])
	some name in masked[rel]
	col := sprintf("%s.%s", [rel, name])
}

# ---- tests ------------------------------------------------------------------------

agent := {"sub": "agent-1", "groups": ["agents"], "method": "jwt", "claims": {}}

session := {"database": "postgres", "in_transaction": false}

st(props) := object.union(
	{
		"text": "", "command": "SELECT", "class": "read", "relations": [], "columns": [],
		"functions": [], "has_where": false, "opaque": false,
	},
	props,
)

orders := {"schema": "public", "name": "orders", "kind": "table", "access": "read"}

test_orders_read_denied if {
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [orders]})}
}

test_catalog_read_denied if {
	r := {"schema": "pg_catalog", "name": "pg_class", "kind": "table", "access": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [r]})}
}

test_introspective_function_denied if {
	f := {"schema": "pg_catalog", "name": "inet_server_addr", "effect": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"functions": [f]})}
}

customer_v := {"schema": "public", "name": "customer_v", "kind": "table", "access": "read"}

test_view_card_selected_is_masked if {
	c := {"schema": "public", "table": "customer_v", "column": "card", "clause": "select"}
	s := st({"relations": [customer_v], "columns": [c]})
	mask["public.customer_v.card"] == "redact" with input as {"identity": agent, "session": session, "statement": s}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_view_function_of_whole_row_denied if {
	c := {"schema": "public", "table": "customer_v", "column": "hstore", "clause": "select"}
	s := st({"relations": [customer_v], "columns": [c]})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
}
