# P4: as P1 (SELECT public.orders only, no writes, DDL, session or role changes,
# non-allowlisted functions), plus read-only metadata in information_schema and pg_catalog.
# Catalog relations that hold data, secrets or other sessions' activity are not metadata.
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

# Catalog metadata (views and tables of information_schema and pg_catalog).
relation_ok(r) if {
	r.access == "read"
	r.schema in {"information_schema", "pg_catalog"}
	r.kind in {"table", "view"}
	not r.name in not_metadata
	not startswith(r.name, "pg_stat_")
	not startswith(r.name, "pg_statio_")
	same_database(r)
}

# Secrets (password hashes, user mappings), column statistics (sample values of every
# column), large objects, server files and other sessions' activity.
not_metadata := {
	"pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_statistic",
	"pg_statistic_ext_data", "pg_stats", "pg_stats_ext", "pg_stats_ext_exprs",
	"pg_largeobject", "pg_file_settings", "pg_hba_file_rules", "pg_ident_file_mappings",
	"pg_backend_memory_contexts", "pg_shmem_allocations", "pg_locks", "pg_prepared_xacts",
	"pg_replication_slots", "pg_subscription", "pg_config", "pg_settings", "pg_db_role_setting",
	"pg_cursors", "pg_prepared_statements", "pg_aios", "pg_shmem_allocations_numa",
	"user_mapping_options", "user_mappings", "_pg_user_mappings", "pg_replication_origin_status",
	"pg_sequences",
}

# Per-role settings (they may hold secrets, like pg_db_role_setting): pg_roles.rolconfig and
# pg_user.useconfig read that table, as does the whole row of either view.
deny contains msg if {
	some c in stmt.columns
	c.schema == "pg_catalog"
	role_settings_column[c.table][c.column]
	msg := sprintf("%s.%s holds per-role settings, which are not metadata", [c.table, c.column])
}

role_settings_column := {
	"pg_roles": {"rolconfig", "*"},
	"pg_user": {"useconfig", "*"},
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

# Metadata functions (pg_get_viewdef, format_type, has_table_privilege...), but not the
# ones that report other sessions, server settings or the server's address.
function_ok(f) if {
	f.effect == "read"
	f.schema == "pg_catalog"
	introspective(f.name)
	not startswith(f.name, "pg_stat_")
	not startswith(f.name, "inet_")
	not f.name in {"current_setting", "pg_show_all_settings", "pg_get_backend_memory_contexts", "pg_show_all_file_settings", "pg_hba_file_rules", "pg_control_system", "pg_control_checkpoint", "pg_control_recovery", "pg_control_init"}
	not f.name in non_metadata_functions
}

# The functions behind the views in not_metadata.
non_metadata_functions := {
	"pg_get_replication_slots", "pg_cursor", "pg_prepared_statement", "pg_prepared_xact",
	"pg_lock_status", "pg_get_shmem_allocations", "pg_get_shmem_allocations_numa", "pg_config",
	"pg_ident_file_mappings", "pg_get_aios", "pg_show_replication_origin_status",
	# Other sessions' locks and snapshots.
	"pg_blocking_pids", "pg_safe_snapshot_blocking_pids", "pg_isolation_test_session_is_blocked",
	"pg_current_snapshot", "txid_current_snapshot", "pg_xact_status", "txid_status",
	# A sequence's current value (pg_sequences shows it too).
	"pg_sequence_last_value",
	# The server's log file name.
	"pg_current_logfile",
	# Other transactions' commit times.
	"pg_xact_commit_timestamp", "pg_xact_commit_timestamp_origin", "pg_last_committed_xact",
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

test_catalog_metadata_allowed if {
	r := {"schema": "pg_catalog", "name": "pg_class", "kind": "table", "access": "read"}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [r]})}
}

test_password_hashes_denied if {
	r := {"schema": "pg_catalog", "name": "pg_authid", "kind": "table", "access": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [r]})}
}

test_introspective_function_denied if {
	f := {"schema": "pg_catalog", "name": "inet_server_addr", "effect": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"functions": [f]})}
}
