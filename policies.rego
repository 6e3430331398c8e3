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

# Catalogs whose metadata agents may read: table and column names, types, constraints,
# comments. Drivers read pg_type at connect or to decode arrays and enums, ORMs and psql's
# \d read the rest, and an agent needs the schema to write its SQL. What holds data,
# secrets or other sessions' activity is not metadata (see not_metadata below). Make this
# set empty to hide the schema from agents (drivers that look up types then fail).
metadata_schemas := {"pg_catalog", "information_schema"}

# Functions with side effects that only release what the session itself holds: asyncpg's
# pool sends this when a connection goes back to the pool.
session_cleanup_functions := {"pg_advisory_unlock_all"}

# SQL functions of information_schema that drivers call for metadata (pgjdbc's
# getPrimaryKeys and getIndexInfo).
metadata_functions := {"_pg_expandarray"}

# Settings a driver may change with SET (anything else is a session change). The idle
# timeout the gateway pins is not among them: an agent cannot lengthen it.
harmless_settings := {
	"application_name", "datestyle", "timezone", "intervalstyle", "extra_float_digits",
	"client_min_messages", "bytea_output", "statement_timeout", "lock_timeout",
	"default_transaction_isolation", "default_transaction_deferrable",
}

# Settings SHOW may read (drivers ask for these). Others may hold secrets: custom settings
# set per role or database (ALTER ROLE ... SET app.token), archive and restore commands.
showable_settings := harmless_settings | {
	"server_version", "server_version_num", "server_encoding", "client_encoding",
	"standard_conforming_strings", "integer_datetimes", "search_path", "transaction_isolation",
	"transaction_read_only", "default_transaction_isolation", "default_transaction_read_only",
	"max_identifier_length", "lc_collate", "lc_ctype", "lc_messages", "lc_monetary",
	"lc_numeric", "lc_time", "is_superuser", "session_authorization",
	"idle_in_transaction_session_timeout", "max_connections", "block_size",
	"default_table_access_method", "max_index_keys",
}

# Utility commands drivers and tools send routinely. (LISTEN is not: a notification can
# carry another session's data, a trigger's payload.)
harmless_commands := {
	"DEALLOCATE", "DEALLOCATE ALL", "CLOSE CURSOR", "CLOSE CURSOR ALL", "DECLARE CURSOR",
	"FETCH", "MOVE", "PREPARE", "UNLISTEN",
}

stmt := input.statement

writer if "writers" in input.identity.groups

default allow := false

allow if stmt.class == "read"

allow if stmt.class == "transaction"

allow if stmt.command in harmless_commands

allow if {
	stmt.class == "session"
	session_ok
}

session_ok if harmless_set

session_ok if {
	stmt.command == "SHOW"
	lower(stmt.show.name) in showable_settings
}

# RESET (or SET … TO DEFAULT) of a setting SET may change returns it to the session's start
# (for the idle timeout, the value the gateway pinned or a lower one the client asked for at
# login).
session_ok if {
	resets_to_start
	lower(stmt.set.name) in resettable_settings
}

resets_to_start if stmt.command == "RESET"

resets_to_start if {
	stmt.command == "SET"
	stmt.set.default
}

resettable_settings := harmless_settings | {
	"idle_in_transaction_session_timeout", "default_transaction_read_only",
}

# A client may make its own later transactions read-only (never the other way: an operator
# may have made the gateway's role read-only by default).
session_ok if {
	stmt.command == "SET"
	lower(stmt.set.name) == "default_transaction_read_only"
	not stmt.set.reset
	not stmt.set.default
	lower(trim_space(stmt.set.value)) in {"on", "true", "yes", "1"}
}

# The idle-in-transaction timeout the gateway pins may be lowered (ActiveRecord's
# `variables:`), never switched off or raised past it; with none pinned, a timeout from 1 ms
# to a day only shortens the session's.
session_ok if {
	stmt.command == "SET"
	lower(stmt.set.name) == "idle_in_transaction_session_timeout"
	not stmt.set.reset
	not stmt.set.default
	timeout_ms(trim_space(stmt.set.value)) <= idle_timeout_pinned_ms
}

idle_timeout_pinned_ms := to_number(input.session.pinned.idle_in_transaction_session_timeout)

idle_timeout_pinned_ms := 86400000 if {
	is_object(input.session.pinned)
	not input.session.pinned.idle_in_transaction_session_timeout
}

# DISCARD ALL (connection pools, Rails) resets the session to how it started, as RESET ALL.
session_ok if stmt.command == "DISCARD ALL"

# The parts of DISCARD ALL on their own (cached plans, sequence caches, temporary tables).
session_ok if stmt.command in {"DISCARD PLANS", "DISCARD SEQUENCES", "DISCARD TEMP"}

# A setting the gateway pins, set to the value it has (search_path as pinned, client_encoding
# UTF8 by any name, standard_conforming_strings on): Rails and Laravel send these when they
# connect, and they change nothing.
session_ok if {
	stmt.command == "SET"
	stmt.set.keeps_pinned
}

# RESET ALL returns every setting to the value the session started with: the gateway pins
# search_path and the others at startup, so they stay (role and session_authorization are
# not reset by RESET ALL). Pools send it when a connection is handed back.
session_ok if {
	stmt.command == "RESET"
	stmt.set.all
}

# The default for the session's later transactions, as BEGIN ISOLATION LEVEL ... is for one.
session_ok if {
	stmt.command == "SET"
	stmt.set.name == "session characteristics"
	not stmt.transaction_options.read_write
}

session_ok if {
	stmt.command == "SET"
	stmt.set.name == "session characteristics"
	writer
}

session_ok if {
	stmt.command == "SET"
	stmt.set.name == "session characteristics"
	upstream_read_write
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

# A timeout is harmless only as a whole number of milliseconds or more, up to a day.
# PostgreSQL rounds a fraction or microseconds down (0.4, '100us' are 0: switched off),
# and reads hex and exponents.
disables_timeout if {
	endswith(lower(stmt.set.name), "timeout")
	not timeout_ms(trim_space(stmt.set.value)) <= 86400000
}

timeout_units := {"": 1, "ms": 1, "s": 1000, "min": 60000, "h": 3600000, "d": 86400000}

timeout_ms(v) := to_number(m[1]) * timeout_units[m[2]] if {
	m := regex.find_all_string_submatch_n(`^'?([1-9][0-9]{0,9})\s*(ms|s|min|h|d)?'?$`, v, 1)[0]
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
	not session_ok
	not stmt.command in harmless_commands
	msg := sprintf("agents may not change session state (%s)", [stmt.command])
}

deny contains msg if {
	some r in stmt.relations
	r.access == "read"
	not readable(r)
	not unnamed_type(r)
	msg := sprintf("reading %s.%s is not allowed", [r.schema, r.name])
}

readable(r) if {
	r.schema in readable_schemas
}

readable(r) if metadata(r)

# A set-returning function in FROM (generate_series, unnest...) is judged by the function
# rules below: it is in functions[] too.
readable(r) if {
	r.kind == "function"
	r.schema != ""
}

# A parameter type that a protocol Parse declares by OID: the gateway has no catalog to name
# it, so it cannot tell a harmless enum from a domain whose CHECK runs code.
unnamed_type(r) if {
	r.kind == "type"
	r.schema == ""
}

deny contains msg if {
	some r in stmt.relations
	unnamed_type(r)
	msg := sprintf("parameter type OID %s is not a built-in type; declare the parameter without a type, or by a built-in one", [r.name])
}

metadata(r) if {
	r.schema in metadata_schemas
	r.kind in {"table", "view"}
	not r.name in not_metadata
	not startswith(r.name, "pg_stat_")
	not startswith(r.name, "pg_statio_")
}

# Secrets (password hashes, user mappings), column statistics (sample values of every
# column), large objects, server files and settings, and other sessions' activity.
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

# Per-role settings may hold secrets, as pg_db_role_setting does: pg_roles.rolconfig and
# pg_user.useconfig read that table, and so does the whole row of either view.
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

# Functions that read what not_metadata keeps back: other sessions' activity, locks and
# snapshots, the server's files, settings, address and memory.
deny contains msg if {
	some f in stmt.functions
	not_metadata_function(f.name)
	not showable_setting_read(f)
	msg := sprintf("function %s.%s reports the server or other sessions, not metadata", [f.schema, f.name])
}

# current_setting of settings SHOW may read, each named by a literal (SQLAlchemy 2's
# reflection reads default_table_access_method this way).
showable_setting_read(f) if {
	f.schema == "pg_catalog"
	f.name == "current_setting"
	count(stmt.settings_read) > 0
	every n in stmt.settings_read {
		is_string(n)
		lower(n) in showable_settings
	}
}

not_metadata_function(name) if startswith(name, "pg_stat_")

not_metadata_function(name) if startswith(name, "inet_")

not_metadata_function(name) if startswith(name, "pg_control_")

not_metadata_function(name) if name in {
	"pg_show_all_settings", "pg_show_all_file_settings", "pg_hba_file_rules",
	"pg_get_backend_memory_contexts", "pg_get_replication_slots", "pg_cursor",
	"pg_prepared_statement", "pg_prepared_xact", "pg_lock_status", "pg_get_shmem_allocations",
	"pg_get_shmem_allocations_numa", "pg_config", "pg_ident_file_mappings", "pg_get_aios",
	"pg_show_replication_origin_status", "pg_blocking_pids", "pg_safe_snapshot_blocking_pids",
	"pg_isolation_test_session_is_blocked", "pg_current_snapshot", "txid_current_snapshot",
	"pg_xact_status", "txid_status", "pg_current_logfile", "pg_sequence_last_value",
	"pg_xact_commit_timestamp", "pg_xact_commit_timestamp_origin", "pg_last_committed_xact",
	# Settings: custom ones set per role or database may hold secrets, as may archive and
	# restore commands (SHOW reads only showable_settings).
	"current_setting", "pg_settings_get_flags",
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
	not session_cleanup(f)
	not writer_sequence_call(f)
	msg := sprintf("function %s.%s has side effects", [f.schema, f.name])
}

session_cleanup(f) if {
	f.schema == "pg_catalog"
	f.name in session_cleanup_functions
}

deny contains msg if {
	some f in stmt.functions
	f.effect == "unknown"
	not metadata_function(f)
	msg := sprintf("function %s.%s is not on the allow-list", [f.schema, f.name])
}

metadata_function(f) if {
	f.schema == "information_schema"
	f.name in metadata_functions
}

# A cursor WITH HOLD is written out whole when its transaction ends, rows never fetched
# included: the row limit never sees them, the temporary files stay for the session.
deny contains "cursors WITH HOLD are not allowed" if stmt.cursor.hold

# Statistics views of extensions (pg_stat_statements and the like) hold every session's
# queries, in whatever schema they are installed.
deny contains msg if {
	some r in stmt.relations
	startswith(r.name, "pg_stat")
	not r.schema in metadata_schemas
	msg := sprintf("%s.%s holds other sessions' activity", [r.schema, r.name])
}

deny contains "COPY to or from server files or programs is not allowed" if {
	stmt.copy
	not stmt.copy.stdio
}

deny contains "read-write transactions are reserved for writers" if {
	stmt.class == "transaction"
	stmt.transaction.read_write
	not writer
	not upstream_read_write
}

# Where the upstream session's transactions are read-write by default, READ WRITE changes
# nothing (lib/pq sends BEGIN READ WRITE for every transaction); where the operator made
# them read-only (ALTER ROLE … SET default_transaction_read_only = on), it would lift that.
# Unknown (not reported, or a replay without it) counts as read-only.
upstream_read_write if input.session.default_read_only == false

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
} else := "add a WHERE clause that names the rows to change (writes of every row need a DBA's approval)" if {
	stmt.command in {"UPDATE", "DELETE"}
	not stmt.has_where
}

# Resource limits on every allowed statement: an agent gets at most 10,000 rows from one
# statement (more is refused with 54000, not silently cut) and 30 s of execution (57014).
# A cartesian blow-up or a runaway query ends here instead of streaming to the agent.
limits := {"max_rows": 10000, "timeout_ms": 30000}

# ---- what the recording leaves out ----------------------------------------------

# Statements that carry credentials are recorded with their constants shown as `?` (and
# their bound parameters as "redacted"): role passwords, user mappings, foreign servers
# and subscriptions (connection strings), custom settings (applications keep tokens in
# them), and functions that take a key or a connection string. Refused ones too.
redact contains "literals" if stmt.class == "dcl"

redact contains "literals" if stmt.command in credential_commands

redact contains "literals" if contains(stmt.set.name, ".")

redact contains r if {
	some f in stmt.functions
	f.name in credential_functions
	some r in {"literals", "params"}
}

credential_commands := {
	"CREATE USER MAPPING", "ALTER USER MAPPING", "CREATE SERVER", "ALTER SERVER",
	"CREATE SUBSCRIPTION", "ALTER SUBSCRIPTION", "ALTER SYSTEM",
}

credential_functions := {
	"set_config", "dblink", "dblink_connect", "dblink_connect_u", "dblink_exec",
	"dblink_send_query", "crypt", "hmac", "encrypt", "decrypt", "encrypt_iv", "decrypt_iv",
	"pgp_sym_encrypt", "pgp_sym_decrypt", "pgp_sym_encrypt_bytea", "pgp_sym_decrypt_bytea",
	"pgp_pub_decrypt", "pgp_pub_decrypt_bytea",
}

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
	no_row_filter
} else := sprintf("EXPLAIN ANALYZE %s without WHERE", [stmt.explain.command]) if {
	stmt.explain.analyze
	stmt.explain.command in {"UPDATE", "DELETE"}
	no_row_filter
} else := "EXPLAIN ANALYZE MERGE" if {
	stmt.explain.analyze
	stmt.explain.command == "MERGE"
} else := "TRUNCATE removes every row" if {
	stmt.command == "TRUNCATE TABLE"
} else := "UPDATE, DELETE or MERGE inside another statement (WITH, COPY)" if {
	some c in object.get(stmt, "nested_commands", [])
	c in {"UPDATE", "DELETE", "MERGE"}
} else := "MERGE that updates or deletes (its ON condition may match every row)" if {
	stmt.command == "MERGE"
	not merge_inserts_only
} else := "INSERT … ON CONFLICT DO UPDATE from a query (it may update every row)" if {
	stmt.on_conflict == "update"
	stmt.insert.source == "query"
	runs_write
}

# No WHERE, or one that names no column of the table written (WHERE true, WHERE 1 = 1, as
# query builders write when no filter was added), or one its constants make true whatever
# the row (WHERE id = 1 OR true), or one with an OR arm that names no column (WHERE id = 1
# OR 'a' = 'a'): it may touch every row. A WHERE that names a column may still match every
# row (WHERE id IS NOT NULL, a CASE whose branches are all true, a column of a VALUES list or
# subquery standing in for one of the table's); that is the writer's. WHERE 1 = 0 (an empty IN list, as query
# builders write it) touches none.
no_row_filter if not stmt.has_where

no_row_filter if stmt.where_true

no_row_filter if stmt.where_open

no_row_filter if {
	stmt.has_where
	not where_names_target
	not stmt.where_false
}

# The analysis says whether the WHERE names a column of the rows written (through the
# target's own name: not z.id of DELETE FROM t q USING t z); recordings made before it
# said so are read from the columns.
where_names_target if stmt.where_names_target == true

where_names_target if {
	not "where_names_target" in object.keys(stmt)
	some c in stmt.columns
	c.clause == "where"
	some r in stmt.relations
	r.access == "write"
	c.schema == r.schema
	c.table == r.name
}

# The statement's write runs: not a plain EXPLAIN (which only plans it).
runs_write if not stmt.explain

runs_write if stmt.explain.analyze

merge_inserts_only if {
	every a in stmt.merge.actions {
		a in {"insert", "nothing"}
	}
}

# ---- what drivers and ORMs read -------------------------------------------------

# Writers may draw sequence values (Hibernate/JPA SEQUENCE ids, `select nextval('x_seq')`):
# an INSERT draws them anyway; the sequence itself is still a relation written, so
# writable_schemas applies, and nextval(<expression>) stays opaque.
writer_sequence_call(f) if {
	writer
	f.schema == "pg_catalog"
	f.name == "nextval"
}

# Sequelize's describeTable joins pg_statio_all_tables only to map relid to relname (for
# column comments); its I/O counters are not read.
statio_name_columns := {"relid", "schemaname", "relname"}

readable(r) if {
	r.schema == "pg_catalog"
	r.name in {"pg_statio_all_tables", "pg_statio_user_tables"}
	every c in stmt.columns {
		statio_name_only(c, r.name)
	}
}

statio_name_only(c, t) if c.table != t

statio_name_only(c, _) if c.column in statio_name_columns

# Exact driver probes of compile-time constants (the text is read only for statements
# that touch pg_settings, so the decision cache is unaffected elsewhere).
driver_settings_probes := {
	"SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'", # pgjdbc getImportedKeys/getExportedKeys
}

readable(r) if {
	r.schema == "pg_catalog"
	r.name == "pg_settings"
	count(stmt.relations) == 1
	count(stmt.functions) == 0
	stmt.text in driver_settings_probes
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

test_catalog_metadata_allowed if {
	every name in ["pg_type", "pg_class", "pg_attribute", "pg_namespace"] {
		rel := {"schema": "pg_catalog", "name": name, "kind": "table", "access": "read"}
		count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [rel]})}
	}
	cols := {"schema": "information_schema", "name": "columns", "kind": "view", "access": "read"}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [cols]})}
}

test_other_sessions_activity_denied if {
	rel := {"schema": "pg_catalog", "name": "pg_stat_activity", "kind": "view", "access": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [rel]})}
	f := {"schema": "pg_catalog", "name": "pg_stat_get_activity", "effect": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"functions": [f]})}
}

test_role_settings_denied if {
	c := {"schema": "pg_catalog", "table": "pg_roles", "column": "rolconfig", "access": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"columns": [c]})}
}

test_set_returning_function_in_from_judged_as_function if {
	rel := {"schema": "pg_catalog", "name": "generate_series", "kind": "function", "access": "read"}
	f := {"schema": "pg_catalog", "name": "generate_series", "effect": "read"}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [rel], "functions": [f]})}
	g := {"schema": "pg_catalog", "name": "pg_ls_dir", "effect": "side_effect"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [object.union(rel, {"name": "pg_ls_dir"})], "functions": [g]})}
}

test_pool_reset_allowed if {
	f := {"schema": "pg_catalog", "name": "pg_advisory_unlock_all", "effect": "side_effect"}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"functions": [f]})}
	reset := st({"command": "RESET", "class": "session", "set": {"name": null, "value": null, "local": false, "reset": true, "all": true, "default": false}})
	allow with input as {"identity": agent, "session": session, "statement": reset}
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": reset}
}

test_session_isolation_level_allowed_read_write_for_writers if {
	iso := st({"command": "SET", "class": "session", "transaction_options": {"isolation": "serializable"}, "set": {"name": "session characteristics", "value": null, "local": false, "reset": false, "all": false, "default": false}})
	allow with input as {"identity": agent, "session": session, "statement": iso}
	rw := st({"command": "SET", "class": "session", "transaction_options": {"read_write": true}, "set": {"name": "session characteristics", "value": null, "local": false, "reset": false, "all": false, "default": false}})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": rw}
	count(deny) == 0 with input as {"identity": writer_agent, "session": session, "statement": rw}
}

test_parameter_type_by_oid_explained if {
	rel := {"schema": "", "name": "16416", "kind": "type", "access": "read"}
	deny == {"parameter type OID 16416 is not a built-in type; declare the parameter without a type, or by a built-in one"} with input as {"identity": agent, "session": session, "statement": st({"relations": [rel]})}
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

test_show_unlisten_and_deallocate_allowed if {
	every cmd in ["UNLISTEN", "DEALLOCATE ALL", "DISCARD ALL", "DISCARD PLANS", "DISCARD TEMP"] {
		allow with input as {"identity": agent, "session": session, "statement": st({"command": cmd, "class": "session"})}
		count(deny) == 0 with input as {"identity": agent, "session": session, "statement": st({"command": cmd, "class": "session"})}
	}
	show := st({"command": "SHOW", "class": "session", "show": {"name": "server_version"}})
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": show}
}

test_show_of_other_settings_and_listen_denied if {
	every name in ["all", "myapp.token", "restore_command"] {
		s := st({"command": "SHOW", "class": "session", "show": {"name": name}})
		count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
	}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"command": "LISTEN", "class": "session"})}
	f := {"schema": "pg_catalog", "name": "current_setting", "effect": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"functions": [f]})}
}

test_timeouts_switched_off_in_disguise_denied if {
	every v in ["0", "0.4", "'0.0001'", "'0x0'", "'100us'", "'0e5'", "2147483647", "'2 days'"] {
		s := st({"command": "SET", "class": "session", "set": {"name": "statement_timeout", "value": v, "local": false, "reset": false, "all": false, "default": false}})
		count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
	}
	every v in ["5000", "'5s'", "'2min'", "1"] {
		s := st({"command": "SET", "class": "session", "set": {"name": "lock_timeout", "value": v, "local": false, "reset": false, "all": false, "default": false}})
		count(deny) == 0 with input as {"identity": agent, "session": session, "statement": s}
	}
}

test_cursor_with_hold_and_extension_statistics_denied if {
	hold := st({"command": "DECLARE CURSOR", "cursor": {"name": "c", "hold": true, "scroll": false}})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": hold}
	plain := st({"command": "DECLARE CURSOR", "cursor": {"name": "c", "hold": false, "scroll": false}})
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": plain}
	pss := {"schema": "public", "name": "pg_stat_statements", "kind": "view", "access": "read"}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": st({"relations": [pss]})}
}

test_set_transaction_read_write_denied_for_reader if {
	s := st({"command": "SET", "class": "transaction", "transaction": {"kind": "set_transaction", "read_write": true}})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": s}
}

test_read_write_for_reader_where_it_changes_nothing if {
	b := st({"command": "BEGIN", "class": "transaction", "transaction": {"kind": "begin", "read_write": true}})
	rw_default := object.union(session, {"default_read_only": false})
	ro_default := object.union(session, {"default_read_only": true})
	allow with input as {"identity": agent, "session": rw_default, "statement": b}
	count(deny) == 0 with input as {"identity": agent, "session": rw_default, "statement": b}
	count(deny) > 0 with input as {"identity": agent, "session": ro_default, "statement": b}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": b}
}

set_read_only_to(v) := st({"command": "SET", "class": "session", "set": {"name": "default_transaction_read_only", "value": v, "local": false, "reset": false, "all": false, "default": false}})

test_default_read_only_only_switched_on if {
	allow with input as {"identity": agent, "session": session, "statement": set_read_only_to("on")}
	not allow with input as {"identity": agent, "session": session, "statement": set_read_only_to("off")}
	not allow with input as {"identity": agent, "session": session, "statement": set_read_only_to("0")}
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
	s := st({"command": "UPDATE", "class": "write", "relations": [orders_write], "has_where": true, "columns": [{"schema": "public", "table": "orders", "column": "id", "clause": "where"}]})
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
	approval.reason == "UPDATE, DELETE or MERGE inside another statement (WITH, COPY)" with input as {"identity": writer_agent, "session": session, "statement": s}
}

test_where_naming_no_column_of_the_table_needs_approval if {
	w := st({"command": "UPDATE", "class": "write", "has_where": true, "relations": [orders_write], "columns": [{"schema": "public", "table": "orders", "column": "status", "clause": "set"}]})
	approval.reason == "UPDATE without WHERE" with input as {"identity": writer_agent, "session": session, "statement": w}
	f := st({"command": "UPDATE", "class": "write", "has_where": true, "relations": [orders_write], "columns": [{"schema": "public", "table": "orders", "column": "id", "clause": "where"}]})
	not approval with input as {"identity": writer_agent, "session": session, "statement": f}
}

test_where_false_needs_no_approval if {
	w := st({"command": "DELETE", "class": "write", "has_where": true, "where_false": true, "relations": [orders_write]})
	not approval with input as {"identity": writer_agent, "session": session, "statement": w}
	allow with input as {"identity": writer_agent, "session": session, "statement": w}
}

test_where_true_whatever_the_row_needs_approval if {
	w := st({"command": "DELETE", "class": "write", "has_where": true, "where_true": true, "relations": [orders_write], "columns": [{"schema": "public", "table": "orders", "column": "id", "clause": "where"}]})
	approval.reason == "DELETE without WHERE" with input as {"identity": writer_agent, "session": session, "statement": w}
}

test_where_with_an_arm_naming_no_column_needs_approval if {
	w := st({"command": "UPDATE", "class": "write", "has_where": true, "where_open": true, "relations": [orders_write], "columns": [{"schema": "public", "table": "orders", "column": "id", "clause": "where"}]})
	approval.reason == "UPDATE without WHERE" with input as {"identity": writer_agent, "session": session, "statement": w}
}

test_where_naming_only_another_reference_to_the_table_needs_approval if {
	# DELETE FROM orders q USING orders z WHERE z.id = 1: the column is orders', not the rows written.
	w := st({"command": "DELETE", "class": "write", "has_where": true, "where_names_target": false, "relations": [orders_write], "columns": [{"schema": "public", "table": "orders", "column": "id", "clause": "where"}]})
	approval.reason == "DELETE without WHERE" with input as {"identity": writer_agent, "session": session, "statement": w}
	t := object.union(w, {"where_names_target": true})
	not approval with input as {"identity": writer_agent, "session": session, "statement": t}
}

test_set_keeping_a_pinned_value_allowed if {
	every name in ["search_path", "client_encoding"] {
		s := st({"command": "SET", "class": "session", "set": {"name": name, "value": "x", "local": false, "reset": false, "all": false, "default": false, "keeps_pinned": true}})
		allow with input as {"identity": agent, "session": session, "statement": s}
		count(deny) == 0 with input as {"identity": agent, "session": session, "statement": s}
		o := st({"command": "SET", "class": "session", "set": {"name": name, "value": "x", "local": false, "reset": false, "all": false, "default": false}})
		count(deny) > 0 with input as {"identity": agent, "session": session, "statement": o}
	}
}

set_idle(v) := st({"command": "SET", "class": "session", "set": {"name": "idle_in_transaction_session_timeout", "value": v, "local": false, "reset": false, "all": false, "default": false}})

test_idle_timeout_lowered_only if {
	pinned := object.union(session, {"pinned": {"idle_in_transaction_session_timeout": "300000"}})
	count(deny) == 0 with input as {"identity": agent, "session": pinned, "statement": set_idle("60s")}
	count(deny) == 0 with input as {"identity": agent, "session": pinned, "statement": set_idle("300000")}
	count(deny) > 0 with input as {"identity": agent, "session": pinned, "statement": set_idle("301s")}
	count(deny) > 0 with input as {"identity": agent, "session": pinned, "statement": set_idle("0")}
	count(deny) > 0 with input as {"identity": agent, "session": pinned, "statement": set_idle("1d")}
	none := object.union(session, {"pinned": {}})
	count(deny) == 0 with input as {"identity": agent, "session": none, "statement": set_idle("1d")}
	count(deny) > 0 with input as {"identity": agent, "session": none, "statement": set_idle("0")}
	# No session (a policy replay): nothing to compare with.
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": set_idle("60s")}
}

test_set_to_default_of_harmless_settings_only if {
	d := st({"command": "SET", "class": "session", "set": {"name": "statement_timeout", "value": null, "local": false, "reset": false, "all": false, "default": true}})
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": d}
	r := st({"command": "SET", "class": "session", "set": {"name": "role", "value": null, "local": false, "reset": false, "all": false, "default": true}})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": r}
}

test_merge_and_upsert_from_a_query_need_approval if {
	orders_w := {"schema": "public", "name": "orders", "kind": "table", "access": "write"}
	orders_r := {"schema": "public", "name": "orders", "kind": "table", "access": "read"}
	m := st({"command": "MERGE", "class": "write", "has_where": true, "relations": [orders_w], "merge": {"actions": ["delete"]}})
	approval.reason with input as {"identity": writer_agent, "session": session, "statement": m}
	ins := st({"command": "MERGE", "class": "write", "has_where": true, "relations": [orders_w], "merge": {"actions": ["insert", "nothing"]}})
	not approval with input as {"identity": writer_agent, "session": session, "statement": ins}
	up := st({"command": "INSERT", "class": "write", "relations": [orders_w, orders_r], "on_conflict": "update", "insert": {"source": "query"}})
	approval.reason with input as {"identity": writer_agent, "session": session, "statement": up}
	vals := st({"command": "INSERT", "class": "write", "relations": [orders_w], "on_conflict": "update", "insert": {"source": "values"}})
	not approval with input as {"identity": writer_agent, "session": session, "statement": vals}
	copy := st({"command": "COPY", "class": "write", "relations": [orders_w], "writes_cte": true, "nested_commands": ["DELETE"]})
	approval.reason with input as {"identity": writer_agent, "session": session, "statement": copy}
	nested := st({"command": "SELECT", "class": "write", "relations": [orders_w], "nested_commands": ["MERGE"]})
	approval.reason with input as {"identity": writer_agent, "session": session, "statement": nested}
}

test_current_setting_of_showable_settings_only if {
	cs := {"schema": "pg_catalog", "name": "current_setting", "effect": "read"}
	ok := st({"functions": [cs], "settings_read": ["default_table_access_method", "Server_Version"]})
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": ok}
	secret := st({"functions": [cs], "settings_read": ["server_version", "restore_command"]})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": secret}
	named := st({"functions": [cs], "settings_read": [null]})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": named}
	unknown := st({"functions": [cs]})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": unknown}
}

test_driver_reads_and_writer_sequences if {
	nv := st({"functions": [{"schema": "pg_catalog", "name": "nextval", "effect": "side_effect"}], "relations": [{"schema": "public", "name": "events_id_seq", "kind": "sequence", "access": "write"}]})
	count(deny) == 0 with input as {"identity": writer_agent, "session": session, "statement": nv}
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": nv}
	statio := {"schema": "pg_catalog", "name": "pg_statio_all_tables", "kind": "view", "access": "read"}
	ok := st({"relations": [statio], "columns": [{"schema": "pg_catalog", "table": "pg_statio_all_tables", "column": "relid"}]})
	count(deny) == 0 with input as {"identity": agent, "session": session, "statement": ok}
	bad := st({"relations": [statio], "columns": [{"schema": "pg_catalog", "table": "pg_statio_all_tables", "column": "heap_blks_read"}]})
	count(deny) > 0 with input as {"identity": agent, "session": session, "statement": bad}
}

test_credentials_left_out_of_the_recording if {
	role := st({"command": "ALTER ROLE", "class": "dcl"})
	redact == {"literals"} with input as {"identity": agent, "session": session, "statement": role}
	mapping := st({"command": "CREATE USER MAPPING", "class": "ddl"})
	redact == {"literals"} with input as {"identity": agent, "session": session, "statement": mapping}
	custom := st({"command": "SET", "class": "session", "set": {"name": "app.token", "value": "x", "local": false, "reset": false, "all": false, "default": false}})
	redact == {"literals"} with input as {"identity": agent, "session": session, "statement": custom}
	key := st({"functions": [{"schema": "public", "name": "pgp_sym_decrypt", "effect": "unknown"}]})
	redact == {"literals", "params"} with input as {"identity": agent, "session": session, "statement": key}
	plain := st({"relations": [{"schema": "public", "name": "orders", "kind": "table", "access": "read"}]})
	count(redact) == 0 with input as {"identity": agent, "session": session, "statement": plain}
	tz := st({"command": "SET", "class": "session", "set": {"name": "timezone", "value": "UTC", "local": false, "reset": false, "all": false, "default": false}})
	count(redact) == 0 with input as {"identity": agent, "session": session, "statement": tz}
}
