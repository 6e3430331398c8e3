# Default least-privilege policy for agents connecting through Portcullis.
#
# The contract (input document and rule names) is described in docs/policy-api.md.
# Deny wins; an approval document holds a statement for a human; otherwise `allow`
# must be true, or the statement is refused.
package portcullis

import rego.v1

# Schemas whose tables and views agents may read.
readable_schemas := {"public"}

# Schemas agents in the "writers" group may write to.
writable_schemas := {"public"}

# Settings a driver may change with SET (anything else is a session change).
harmless_settings := {
	"application_name", "datestyle", "timezone", "intervalstyle", "extra_float_digits",
	"client_min_messages", "bytea_output", "statement_timeout", "lock_timeout",
	"idle_in_transaction_session_timeout",
}

# Utility commands drivers and tools send routinely.
harmless_commands := {
	"SHOW", "DEALLOCATE", "DEALLOCATE ALL", "CLOSE CURSOR", "CLOSE CURSOR ALL",
	"DECLARE CURSOR", "FETCH", "MOVE", "PREPARE", "LISTEN", "UNLISTEN",
}

stmt := input.statement

writer if "writers" in input.identity.groups

default allow := false

allow if stmt.class == "read"

allow if stmt.class == "transaction"

allow if stmt.command in harmless_commands

allow if {
	stmt.class == "session"
	harmless_set
}

allow if {
	stmt.class == "write"
	writer
}

# SET LOCAL of the same settings is narrower still: it ends with the transaction.
harmless_set if {
	stmt.command == "SET"
	not stmt.set.reset
	not stmt.set.default
	lower(stmt.set.name) in harmless_settings
	not disables_timeout
}

# A timeout set to 0 is switched off: that undoes a limit the gateway pins.
disables_timeout if {
	endswith(lower(stmt.set.name), "timeout")
	regex.match(`^'?0+(\.0*)?\s*(us|ms|s|min|h|d)?'?$`, trim_space(stmt.set.value))
}

# ---- refusals -------------------------------------------------------------------

deny contains "agents may not change the schema (DDL)" if stmt.class == "ddl"

deny contains "agents may not change roles or privileges" if stmt.class == "dcl"

deny contains sprintf("%s is not understood by the gateway and is refused", [cmd]) if {
	stmt.class == "unknown"
	cmd := object.get(stmt, "command", "this statement")
}

deny contains "dynamic or opaque SQL (DO, CALL, functions defined in SQL) cannot be checked" if stmt.opaque

deny contains msg if {
	stmt.class == "session"
	not harmless_set
	not stmt.command in harmless_commands
	msg := sprintf("agents may not change session state (%s)", [stmt.command])
}

deny contains msg if {
	some r in stmt.relations
	r.access == "read"
	not r.schema in readable_schemas
	msg := sprintf("reading %s.%s is not allowed", [r.schema, r.name])
}

deny contains msg if {
	some r in stmt.relations
	r.access == "write"
	not writer
	msg := sprintf("writing %s.%s is not allowed for this agent", [r.schema, r.name])
}

deny contains msg if {
	some r in stmt.relations
	r.access == "write"
	not r.schema in writable_schemas
	msg := sprintf("writing %s.%s is not allowed", [r.schema, r.name])
}

deny contains msg if {
	some r in stmt.relations
	r.catalog
	r.catalog != input.session.database
	msg := sprintf("cross-database reference %s.%s.%s", [r.catalog, r.schema, r.name])
}

deny contains msg if {
	some f in stmt.functions
	f.effect == "side_effect"
	msg := sprintf("function %s.%s has side effects", [f.schema, f.name])
}

deny contains msg if {
	some f in stmt.functions
	f.effect == "unknown"
	msg := sprintf("function %s.%s is not on the allow-list", [f.schema, f.name])
}

deny contains "COPY to or from server files or programs is not allowed" if {
	stmt.copy
	not stmt.copy.stdio
}

deny contains "read-write transactions are reserved for writers" if {
	stmt.class == "transaction"
	stmt.transaction.read_write
	not writer
}

deny contains "two-phase commit is not allowed" if {
	stmt.class == "transaction"
	stmt.transaction.kind in {"prepare", "commit_prepared", "rollback_prepared"}
}

deny contains "NOTIFY is not allowed" if stmt.command == "NOTIFY"

deny contains "explicit table locks are not allowed" if stmt.command == "LOCK TABLE"

deny contains "the statement could not be parsed" if stmt.parse_error

hint := "this agent may only read; ask an operator for the writers group" if {
	stmt.class == "write"
	not writer
} else := "ask for approval, or add a WHERE clause" if {
	stmt.command in {"UPDATE", "DELETE"}
	not stmt.has_where
}

# Resource limits on every allowed statement: an agent gets at most 10,000 rows from one
# statement (more is refused with 54000, not silently cut) and 30 s of execution (57014).
# A cartesian blow-up or a runaway query ends here instead of streaming to the agent.
limits := {"max_rows": 10000, "timeout_ms": 30000}

# Writers' writes that may touch every row wait for a DBA.
approval := {
	"reason": unbounded_write,
	"approvers": ["group:dba"],
	"quorum": 1,
	"ttl_seconds": 900,
} if {
	writer
	unbounded_write
}

# Every way to write every row: UPDATE/DELETE without WHERE, the same run by EXPLAIN
# ANALYZE, TRUNCATE, and UPDATE/DELETE inside WITH (whose WHERE the facts do not carry).
unbounded_write := sprintf("%s without WHERE", [stmt.command]) if {
	stmt.command in {"UPDATE", "DELETE"}
	not stmt.has_where
} else := sprintf("EXPLAIN ANALYZE %s without WHERE", [stmt.explain.command]) if {
	stmt.explain.analyze
	stmt.explain.command in {"UPDATE", "DELETE"}
	not stmt.has_where
} else := "TRUNCATE removes every row" if {
	stmt.command == "TRUNCATE TABLE"
} else := "UPDATE or DELETE inside WITH" if {
	some c in object.get(stmt, "nested_commands", [])
	c in {"UPDATE", "DELETE"}
}

# ---- tests (portcullis policy test) ----------------------------------------------

agent := {"sub": "agent-1", "groups": ["agents"], "method": "jwt", "claims": {}}

writer_agent := {"sub": "etl", "groups": ["writers"], "method": "api_key", "claims": {}}

session := {"database": "demo", "in_transaction": false}

st(props) := object.union(
	{
		"text": "", "command": "SELECT", "class": "read", "relations": [], "columns": [],
		"functions": [], "has_where": false, "opaque": false,
	},
	props,
)

orders_read := {"schema": "public", "name": "orders", "kind": "table", "access": "read"}

orders_write := {"schema": "public", "name": "orders", "kind": "table", "access": "write"}

test_every_statement_has_resource_limits if {
	i := {"identity": agent, "session": session, "statement": st({"relations": [orders_read]})}
	limits.max_rows == 10000 with input as i
	limits.timeout_ms == 30000 with input as i
}

test_read_of_public_table_allowed if {
	allow with input as {"identity": agent, "session": session, "statement": st({"relations": [orders_read]})}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [orders_read]})}
}

test_catalog_read_denied if {
	rel := {"schema": "pg_catalog", "name": "pg_authid", "kind": "table", "access": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [rel]})}
}

test_ddl_denied if {
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"command": "DROP TABLE", "class": "ddl"})}
}

test_set_role_denied if {
	s := st({"command": "SET", "class": "session", "set": {"name": "role", "value": "postgres", "local": false, "reset": false, "all": false, "default": false}})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_set_application_name_allowed if {
	s := st({"command": "SET", "class": "session", "set": {"name": "application_name", "value": "x", "local": false, "reset": false, "all": false, "default": false}})
	allow with input as {"identity": agent, "session": session, "statement": s}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_set_local_lock_timeout_allowed if {
	s := st({"command": "SET", "class": "session", "set": {"name": "lock_timeout", "value": "1s", "local": true, "reset": false, "all": false, "default": false}})
	allow with input as {"identity": agent, "session": session, "statement": s}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_show_and_listen_allowed if {
	every cmd in ["SHOW", "LISTEN", "UNLISTEN", "DEALLOCATE ALL"] {
		allow with input as {"identity": agent, "session": session, "statement": st({"command": cmd, "class": "session"})}
		count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"command": cmd, "class": "session"})}
	}
}

test_set_transaction_read_write_denied_for_reader if {
	s := st({"command": "SET", "class": "transaction", "transaction": {"kind": "set_transaction", "read_write": true}})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_side_effect_function_denied if {
	f := {"schema": "pg_catalog", "name": "pg_sleep", "effect": "side_effect"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"functions": [f]})}
}

test_write_denied_for_reader if {
	s := st({"command": "UPDATE", "class": "write", "relations": [orders_write], "has_where": true})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_write_with_where_allowed_for_writer if {
	s := st({"command": "UPDATE", "class": "write", "relations": [orders_write], "has_where": true})
	allow with input as {"identity": writer_agent, "session": session, "statement": s}
	count(deny) == 0 with input as {"identity": writer_agent, "session": session, "statement": s}
	not approval with input as {"identity": writer_agent, "session": session, "statement": s}
}

test_delete_without_where_needs_approval if {
	s := st({"command": "DELETE", "class": "write", "relations": [orders_write], "has_where": false})
	approval.approvers == ["group:dba"] with input as {"identity": writer_agent, "session": session, "statement": s}
}

test_opaque_denied if {
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"command": "DO", "class": "utility", "opaque": true})}
}

test_set_statement_timeout_zero_denied if {
	s := st({"command": "SET", "class": "session", "set": {"name": "statement_timeout", "value": "0", "local": false, "reset": false, "all": false, "default": false}})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_set_statement_timeout_allowed if {
	s := st({"command": "SET", "class": "session", "set": {"name": "statement_timeout", "value": "5s", "local": false, "reset": false, "all": false, "default": false}})
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_truncate_needs_approval if {
	s := st({"command": "TRUNCATE TABLE", "class": "write", "relations": [orders_write]})
	approval.reason == "TRUNCATE removes every row" with input as {"identity": writer_agent, "session": session, "statement": s}
}

test_explain_analyze_delete_without_where_needs_approval if {
	s := st({"command": "EXPLAIN", "class": "write", "relations": [orders_write], "explain": {"analyze": true, "command": "DELETE"}})
	approval.approvers == ["group:dba"] with input as {"identity": writer_agent, "session": session, "statement": s}
}

test_explain_without_analyze_needs_no_approval if {
	s := st({"command": "EXPLAIN", "class": "write", "relations": [orders_write], "explain": {"analyze": false, "command": "DELETE"}})
	not approval with input as {"identity": writer_agent, "session": session, "statement": s}
}

test_delete_inside_with_needs_approval if {
	s := st({"command": "SELECT", "class": "write", "relations": [orders_write], "writes_cte": true, "nested_commands": ["DELETE"]})
	approval.reason == "UPDATE or DELETE inside WITH" with input as {"identity": writer_agent, "session": session, "statement": s}
}
