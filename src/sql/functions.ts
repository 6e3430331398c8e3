// Function catalogue: the effect of calling a function, from PostgreSQL's own volatility plus lists.
import type { FunctionEffect, FunctionFact, RelationFact } from './types.js';
import {
  PG_CATALOG_FUNCTIONS,
  PG_CATALOG_REG_RESULTS,
  PG_CATALOG_ROW_TYPE_OIDS,
} from './pg-catalog-data.js';

const VOLATILITY = new Map<string, string>(Object.entries(PG_CATALOG_FUNCTIONS));

/**
 * Functions with effects beyond returning a value: files, large objects, other sessions,
 * settings, sequences, locks, notifications, sleeping, server administration,
 * replication, and functions that run SQL given as text (the *_to_xml family, ts_stat,
 * ts_rewrite), which the gateway cannot see into. Matched by exact name.
 */
const SIDE_EFFECT = new Set([
  'pg_read_file',
  'pg_read_binary_file',
  'pg_stat_file',
  'set_config',
  'pg_terminate_backend',
  'pg_cancel_backend',
  'pg_log_backend_memory_contexts',
  'nextval',
  'setval',
  'setseed',
  'pg_notify',
  'pg_sleep',
  'pg_sleep_for',
  'pg_sleep_until',
  'pg_reload_conf',
  'pg_rotate_logfile',
  'pg_import_system_collations',
  'pg_switch_wal',
  'pg_promote',
  'pg_backup_start',
  'pg_backup_stop',
  'pg_create_restore_point',
  'pg_wal_replay_pause',
  'pg_wal_replay_resume',
  'pg_drop_replication_slot',
  'pg_replication_slot_advance',
  'pg_sync_replication_slots',
  'pg_log_standby_snapshot',
  'pg_nextoid',
  // They assign the transaction an ID when it has none: a write (WAL), though 'stable'.
  'txid_current',
  'pg_current_xact_id',
  // They run a type's input function and domain checks, for a type named by a string.
  'pg_input_is_valid',
  'pg_input_error_info',
  // Language validators: fmgr_c_validator loads a function's shared library, as LOAD does.
  'fmgr_c_validator',
  'fmgr_internal_validator',
  'fmgr_sql_validator',
  'plpgsql_validator',
  'pg_stop_making_pinned_objects',
  'pg_export_snapshot',
  'pg_stat_force_next_flush',
  'pg_clear_attribute_stats',
  'pg_clear_relation_stats',
  'pg_restore_attribute_stats',
  'pg_restore_relation_stats',
  'pg_extension_config_dump',
  'brin_summarize_new_values',
  'brin_summarize_range',
  'brin_desummarize_range',
  'gin_clean_pending_list',
  'database_to_xml',
  'database_to_xmlschema',
  'database_to_xml_and_xmlschema',
  'schema_to_xml',
  'schema_to_xmlschema',
  'schema_to_xml_and_xmlschema',
  'table_to_xml',
  'table_to_xmlschema',
  'table_to_xml_and_xmlschema',
  'query_to_xml',
  'query_to_xmlschema',
  'query_to_xml_and_xmlschema',
  'cursor_to_xml',
  'cursor_to_xmlschema',
  'ts_stat',
  'ts_rewrite',
  // Common extensions, in whatever schema they were installed.
  'pg_file_write',
  'pg_file_rename',
  'pg_file_unlink',
  'pg_file_sync',
  'pg_logdir_ls',
  'pg_stat_statements_reset',
  'pg_prewarm',
]);

/** Name prefixes with side effects (families: lo_*, dblink*, pg_advisory_*, pg_ls_*...). */
const SIDE_EFFECT_PREFIXES = [
  'lo_',
  'dblink',
  'pg_advisory_',
  'pg_try_advisory_',
  'pg_ls_',
  'pg_stat_reset',
  'pg_create_',
  'pg_copy_',
  'pg_logical_',
  'pg_replication_origin_',
  'binary_upgrade_',
];

/** Large-object functions without the lo_ prefix. */
const LO_OTHERS = new Set(['loread', 'lowrite']);

/** Volatile pg_catalog functions that only return a value. */
const VOLATILE_READ = new Set([
  'random',
  'random_normal',
  'array_sample',
  'array_shuffle',
  'clock_timestamp',
  'timeofday',
  'gen_random_uuid',
  'uuidv4',
  'uuidv7',
  'currval',
  'lastval',
  'pg_current_logfile',
  'pg_is_in_recovery',
  'pg_relation_size',
  'pg_table_size',
  'pg_indexes_size',
  'pg_total_relation_size',
  'pg_database_size',
  'pg_tablespace_size',
  'pg_blocking_pids',
  'pg_safe_snapshot_blocking_pids',
  'pg_xact_status',
  'txid_status',
  'pg_xact_commit_timestamp',
  'pg_partition_tree',
  'pg_partition_ancestors',
  'pg_sequence_last_value',
  'pg_notification_queue_usage',
  'pg_jit_available',
  'pg_current_wal_lsn',
  'pg_current_wal_insert_lsn',
  'pg_current_wal_flush_lsn',
  'pg_last_wal_receive_lsn',
  'pg_last_wal_replay_lsn',
  'pg_last_xact_replay_timestamp',
  'pg_is_wal_replay_paused',
  'pg_stat_clear_snapshot',
  'pg_stat_have_stats',
]);

function sideEffectName(name: string): boolean {
  if (SIDE_EFFECT.has(name) || LO_OTHERS.has(name)) return true;
  for (const p of SIDE_EFFECT_PREFIXES) if (name.startsWith(p)) return true;
  return false;
}

/**
 * pg_catalog functions with an overload of one argument of any type (record, anyelement,
 * "any", ...): `t.f` calls f(t), the whole row, when t has no column f. From PostgreSQL 18's
 * pg_proc.
 */
const WHOLE_ROW = new Set([
  'any_value',
  'array_agg',
  'concat',
  'count',
  'hash_record',
  'json_agg',
  'json_agg_strict',
  'json_build_array',
  'json_build_object',
  'jsonb_agg',
  'jsonb_agg_strict',
  'jsonb_build_array',
  'jsonb_build_object',
  'max',
  'min',
  'num_nonnulls',
  'num_nulls',
  'pg_collation_for',
  'pg_column_compression',
  'pg_column_size',
  'pg_column_toast_chunk_id',
  'pg_typeof',
  'quote_literal',
  'quote_nullable',
  'record_out',
  'record_send',
  'row_to_json',
  'to_json',
  'to_jsonb',
]);

/** True when `t.name` may be the function call name(t) on a whole row. */
export function wholeRowFunction(name: string): boolean {
  return WHOLE_ROW.has(name);
}

/**
 * A value of a reg* type (regclass, regrole, ...) is a catalog lookup of a name or OID, as
 * to_regclass(x) does: the function a policy sees for it. aclitem's input looks up the role
 * names it holds ('agent=r/gw'::aclitem fails for a role that does not exist).
 */
const REG_TYPE_LOOKUP = new Map([
  ['aclitem', 'to_regrole'],
  ['regclass', 'to_regclass'],
  ['regcollation', 'to_regcollation'],
  ['regconfig', 'regconfigin'],
  ['regdictionary', 'regdictionaryin'],
  ['regnamespace', 'to_regnamespace'],
  ['regoper', 'to_regoper'],
  ['regoperator', 'to_regoperator'],
  ['regproc', 'to_regproc'],
  ['regprocedure', 'to_regprocedure'],
  ['regrole', 'to_regrole'],
  ['regtype', 'to_regtype'],
]);

/**
 * pg_catalog functions given a relation or type OID, whose answers and errors name it:
 * oidvectortypes lists type names, and the input functions of records, arrays, enums,
 * domains and ranges look the type up (enum_in('x', 16389): 'invalid input value for enum
 * customers').
 */
const OID_LOOKUP = new Map([
  ['satisfies_hash_partition', 'to_regclass'],
  // aclitem arguments given as strings are read by aclitem's input, which looks up the
  // roles they name; acldefault and makeaclitem print role names for role OIDs.
  ...[
    'aclcontains',
    'aclinsert',
    'aclremove',
    'aclitemeq',
    'hash_aclitem',
    'hash_aclitem_extended',
    'aclexplode',
    'acldefault',
    'makeaclitem',
  ].map((f) => [f, 'to_regrole'] as const),
  ['oidvectortypes', 'to_regtype'],
  ...['record', 'array', 'enum', 'domain', 'range', 'multirange'].flatMap((t) => [
    [`${t}_in`, 'to_regtype'] as const,
    [`${t}_recv`, 'to_regtype'] as const,
  ]),
]);

/** The reg* types and aclitem by their fixed OIDs (pg_type.dat), arrays included. */
const REG_TYPE_OIDS = new Map([
  [1033, 'aclitem'],
  [1034, '_aclitem'],
  [24, 'regproc'],
  [1008, '_regproc'],
  [2202, 'regprocedure'],
  [2207, '_regprocedure'],
  [2203, 'regoper'],
  [2208, '_regoper'],
  [2204, 'regoperator'],
  [2209, '_regoperator'],
  [2205, 'regclass'],
  [2210, '_regclass'],
  [2206, 'regtype'],
  [2211, '_regtype'],
  [3734, 'regconfig'],
  [3735, '_regconfig'],
  [3769, 'regdictionary'],
  [3770, '_regdictionary'],
  [4089, 'regnamespace'],
  [4090, '_regnamespace'],
  [4096, 'regrole'],
  [4097, '_regrole'],
  [4191, 'regcollation'],
  [4192, '_regcollation'],
]);

/** Objects made by initdb (pg_catalog, information_schema) have OIDs below this. */
const FIRST_NORMAL_OBJECT_ID = 16384;
/** Objects whose OIDs are fixed in the catalog headers have OIDs below this. */
const FIRST_INITDB_OBJECT_ID = 10000;

/**
 * What the parameter types of a protocol Parse, given by OID, add to its statement's facts,
 * as `PREPARE p(regclass)` would: a reg* type is its lookup function, and a type of the
 * database's own (an OID from FirstNormalObjectId on: a domain's CHECK, a row type) a
 * relation of kind "type", named by its OID since the gateway has no catalog to name it.
 * Undefined when the types add nothing (0, unspecified, is what most drivers send).
 */
export function paramTypeFacts(
  oids: readonly number[],
): { functions: FunctionFact[]; relations: RelationFact[] } | undefined {
  let out: { functions: FunctionFact[]; relations: RelationFact[] } | undefined;
  for (const oid of oids) {
    const reg = REG_TYPE_OIDS.get(oid);
    // A catalog's row type holds reg* and aclitem fields that convert names implicitly:
    // named where its OID is fixed, else (made by initdb: a catalog view's) by the OID.
    const row =
      PG_CATALOG_ROW_TYPE_OIDS[oid] ??
      (oid >= FIRST_INITDB_OBJECT_ID && oid < FIRST_NORMAL_OBJECT_ID ? String(oid) : undefined);
    if (reg === undefined && row === undefined && oid < FIRST_NORMAL_OBJECT_ID) continue;
    out ??= { functions: [], relations: [] };
    if (row !== undefined) {
      if (!out.relations.some((r) => r.schema === 'pg_catalog' && r.name === row))
        out.relations.push({ schema: 'pg_catalog', name: row, kind: 'type', access: 'read' });
    } else if (reg !== undefined) {
      const fn = typeLookup(reg)!;
      if (!out.functions.some((f) => f.name === fn))
        out.functions.push({
          schema: 'pg_catalog',
          name: fn,
          effect: functionEffect('pg_catalog', fn),
        });
    } else if (!out.relations.some((r) => r.name === String(oid))) {
      out.relations.push({ schema: '', name: String(oid), kind: 'type', access: 'read' });
    }
  }
  return out;
}

/** The lookup a value of pg_catalog type `name` does (_regclass: regclass[] by its array name). */
export function typeLookup(name: string): string | undefined {
  return REG_TYPE_LOOKUP.get(name.replace(/^_/, ''));
}

/**
 * The lookup calling pg_catalog.`name` does: the function-style cast regclass(x), a reg*
 * type's own I/O functions (regclassout), and the functions given an OID (record_in).
 */
export function functionLookup(name: string): string | undefined {
  return OID_LOOKUP.get(name) ?? REG_TYPE_LOOKUP.get(name.replace(/(in|out|recv|send)$/, ''));
}

/**
 * The lookup a pg_catalog function's result does when it is converted: pg_typeof returns a
 * regtype, and a regtype meeting a number or a string (UNION, VALUES, ARRAY, IN, COALESCE, a
 * comparison) converts it to regtype implicitly, so `SELECT pg_typeof(1) UNION ALL SELECT
 * 16389` prints a table's name and `pg_typeof(1) = 'customers'` tells whether one exists.
 */
export function resultLookup(name: string): string | undefined {
  const t = PG_CATALOG_REG_RESULTS[name];
  return t === undefined ? undefined : typeLookup(t);
}

/** True when `name` is a pg_catalog function (any overload). */
export function isCatalogFunction(name: string): boolean {
  return VOLATILITY.has(name);
}

/**
 * Effect of calling `schema.name` (schema already resolved). Anything outside pg_catalog
 * is "unknown" (its body is not ours to see) unless its name is a known side effect.
 */
export function functionEffect(schema: string, name: string): FunctionEffect {
  if (sideEffectName(name)) return 'side_effect';
  if (schema !== 'pg_catalog') return 'unknown';
  const v = VOLATILITY.get(name);
  if (v === undefined) return 'unknown';
  if (v === 'i' || v === 's') return 'read';
  return VOLATILE_READ.has(name) ? 'read' : 'unknown';
}
