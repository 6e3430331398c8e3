# P1: the agent may SELECT public.orders (all columns) and nothing else. No writes, DDL,
# session or role changes, non-allowlisted functions; catalogs are not readable.
package portcullis

import rego.v1

stmt := input.statement

# Relations the agent may read, as "schema.table".
readable := {"public.orders"}

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

test_orders_read_allowed if {
	allow with input as {"identity": agent, "session": session, "statement": st({"relations": [orders]})}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [orders]})}
}

test_catalog_read_denied if {
	r := {"schema": "pg_catalog", "name": "pg_class", "kind": "table", "access": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [r]})}
}

test_introspective_function_denied if {
	f := {"schema": "pg_catalog", "name": "inet_server_addr", "effect": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"functions": [f]})}
}
