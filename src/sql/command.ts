// Command tag, class and kind-specific facts of one statement node (PostgreSQL's CreateCommandTag).
import { constantTruth, openCondition } from './constant.js';
import type {
  ColumnFact,
  CopyFact,
  SetFact,
  StatementClass,
  TransactionFact,
  TransactionKind,
} from './types.js';
import type { Collector } from './collector.js';
import { resolveFunction, resolveRelation } from './names.js';
import { PG_CATALOG_SET_RETURNING } from './pg-catalog-data.js';
import { bodyFacts } from './plpgsql.js';
import { Walker, body, names, nodeType, writesOf } from './walk.js';

type N = Record<string, any>;

export interface Described {
  command: string;
  class: StatementClass;
  has_where: boolean;
  extra: Record<string, unknown>;
}

/** Facts of an inner statement (PREPARE's), built by the caller's pipeline. */
export type InnerFacts = (node: N) => Record<string, unknown>;

/** Object types as PostgreSQL spells them in command tags. */
const OBJECT_WORDS: Record<string, string> = {
  OBJECT_MATVIEW: 'MATERIALIZED VIEW',
  OBJECT_FOREIGN_TABLE: 'FOREIGN TABLE',
  OBJECT_FDW: 'FOREIGN DATA WRAPPER',
  OBJECT_FOREIGN_SERVER: 'SERVER',
  OBJECT_OPCLASS: 'OPERATOR CLASS',
  OBJECT_OPFAMILY: 'OPERATOR FAMILY',
  OBJECT_TSPARSER: 'TEXT SEARCH PARSER',
  OBJECT_TSDICTIONARY: 'TEXT SEARCH DICTIONARY',
  OBJECT_TSTEMPLATE: 'TEXT SEARCH TEMPLATE',
  OBJECT_TSCONFIGURATION: 'TEXT SEARCH CONFIGURATION',
  OBJECT_ACCESS_METHOD: 'ACCESS METHOD',
  OBJECT_EVENT_TRIGGER: 'EVENT TRIGGER',
  OBJECT_LARGEOBJECT: 'LARGE OBJECT',
  OBJECT_TABCONSTRAINT: 'TABLE',
  OBJECT_DOMCONSTRAINT: 'DOMAIN',
  OBJECT_COLUMN: 'TABLE',
  OBJECT_ATTRIBUTE: 'TYPE',
  OBJECT_USER_MAPPING: 'USER MAPPING',
  OBJECT_DEFACL: 'DEFAULT PRIVILEGES',
  OBJECT_STATISTIC_EXT: 'STATISTICS',
  OBJECT_PUBLICATION_NAMESPACE: 'PUBLICATION',
  OBJECT_PUBLICATION_REL: 'PUBLICATION',
  OBJECT_AMOP: 'OPERATOR FAMILY',
  OBJECT_AMPROC: 'OPERATOR FAMILY',
  OBJECT_ROLE: 'ROLE',
};

function objectWord(objtype: unknown): string {
  const s = String(objtype ?? '');
  return OBJECT_WORDS[s] ?? s.replace(/^OBJECT_/, '').replace(/_/g, ' ');
}

/** Relation-like object kinds, for facts about DROP/COMMENT/ALTER ... targets. */
const RELATION_KINDS: Record<string, string> = {
  OBJECT_TABLE: 'table',
  OBJECT_VIEW: 'view',
  OBJECT_MATVIEW: 'matview',
  OBJECT_INDEX: 'index',
  OBJECT_SEQUENCE: 'sequence',
  OBJECT_FOREIGN_TABLE: 'foreign_table',
};

/** Simple statements: node type → [tag, class]. */
const SIMPLE: Record<string, [string, StatementClass]> = {
  CreateStmt: ['CREATE TABLE', 'ddl'],
  CreateForeignTableStmt: ['CREATE FOREIGN TABLE', 'ddl'],
  ViewStmt: ['CREATE VIEW', 'ddl'],
  IndexStmt: ['CREATE INDEX', 'ddl'],
  CreateSchemaStmt: ['CREATE SCHEMA', 'ddl'],
  CreateSeqStmt: ['CREATE SEQUENCE', 'ddl'],
  AlterSeqStmt: ['ALTER SEQUENCE', 'ddl'],
  CreateDomainStmt: ['CREATE DOMAIN', 'ddl'],
  AlterDomainStmt: ['ALTER DOMAIN', 'ddl'],
  CompositeTypeStmt: ['CREATE TYPE', 'ddl'],
  CreateEnumStmt: ['CREATE TYPE', 'ddl'],
  CreateRangeStmt: ['CREATE TYPE', 'ddl'],
  AlterEnumStmt: ['ALTER TYPE', 'ddl'],
  AlterTypeStmt: ['ALTER TYPE', 'ddl'],
  AlterFunctionStmt: ['ALTER FUNCTION', 'ddl'],
  CreateCastStmt: ['CREATE CAST', 'ddl'],
  CreateOpClassStmt: ['CREATE OPERATOR CLASS', 'ddl'],
  CreateOpFamilyStmt: ['CREATE OPERATOR FAMILY', 'ddl'],
  AlterOpFamilyStmt: ['ALTER OPERATOR FAMILY', 'ddl'],
  AlterOperatorStmt: ['ALTER OPERATOR', 'ddl'],
  CreateConversionStmt: ['CREATE CONVERSION', 'ddl'],
  CreateTransformStmt: ['CREATE TRANSFORM', 'ddl'],
  CreateStatsStmt: ['CREATE STATISTICS', 'ddl'],
  AlterStatsStmt: ['ALTER STATISTICS', 'ddl'],
  CreateAmStmt: ['CREATE ACCESS METHOD', 'ddl'],
  CreatePLangStmt: ['CREATE LANGUAGE', 'ddl'],
  CreateFdwStmt: ['CREATE FOREIGN DATA WRAPPER', 'ddl'],
  AlterFdwStmt: ['ALTER FOREIGN DATA WRAPPER', 'ddl'],
  CreateForeignServerStmt: ['CREATE SERVER', 'ddl'],
  AlterForeignServerStmt: ['ALTER SERVER', 'ddl'],
  CreateUserMappingStmt: ['CREATE USER MAPPING', 'ddl'],
  AlterUserMappingStmt: ['ALTER USER MAPPING', 'ddl'],
  DropUserMappingStmt: ['DROP USER MAPPING', 'ddl'],
  ImportForeignSchemaStmt: ['IMPORT FOREIGN SCHEMA', 'ddl'],
  CreateTableSpaceStmt: ['CREATE TABLESPACE', 'ddl'],
  DropTableSpaceStmt: ['DROP TABLESPACE', 'ddl'],
  AlterTableSpaceOptionsStmt: ['ALTER TABLESPACE', 'ddl'],
  AlterTableMoveAllStmt: ['ALTER TABLE', 'ddl'],
  CreatePublicationStmt: ['CREATE PUBLICATION', 'ddl'],
  AlterPublicationStmt: ['ALTER PUBLICATION', 'ddl'],
  CreateSubscriptionStmt: ['CREATE SUBSCRIPTION', 'ddl'],
  AlterSubscriptionStmt: ['ALTER SUBSCRIPTION', 'ddl'],
  DropSubscriptionStmt: ['DROP SUBSCRIPTION', 'ddl'],
  CreatePolicyStmt: ['CREATE POLICY', 'ddl'],
  AlterPolicyStmt: ['ALTER POLICY', 'ddl'],
  CreatedbStmt: ['CREATE DATABASE', 'ddl'],
  AlterDatabaseStmt: ['ALTER DATABASE', 'ddl'],
  AlterDatabaseSetStmt: ['ALTER DATABASE', 'ddl'],
  AlterDatabaseRefreshCollStmt: ['ALTER DATABASE', 'ddl'],
  DropdbStmt: ['DROP DATABASE', 'ddl'],
  AlterSystemStmt: ['ALTER SYSTEM', 'ddl'],
  AlterTSDictionaryStmt: ['ALTER TEXT SEARCH DICTIONARY', 'ddl'],
  AlterTSConfigurationStmt: ['ALTER TEXT SEARCH CONFIGURATION', 'ddl'],
  AlterCollationStmt: ['ALTER COLLATION', 'ddl'],
  AlterExtensionStmt: ['ALTER EXTENSION', 'ddl'],
  AlterExtensionContentsStmt: ['ALTER EXTENSION', 'ddl'],
  AlterEventTrigStmt: ['ALTER EVENT TRIGGER', 'ddl'],
  AlterObjectDependsStmt: ['ALTER', 'ddl'],
  RefreshMatViewStmt: ['REFRESH MATERIALIZED VIEW', 'ddl'],
  CommentStmt: ['COMMENT', 'ddl'],
  SecLabelStmt: ['SECURITY LABEL', 'ddl'],
  ReassignOwnedStmt: ['REASSIGN OWNED', 'dcl'],
  DropOwnedStmt: ['DROP OWNED', 'dcl'],
  CreateRoleStmt: ['CREATE ROLE', 'dcl'],
  AlterRoleStmt: ['ALTER ROLE', 'dcl'],
  AlterRoleSetStmt: ['ALTER ROLE', 'dcl'],
  DropRoleStmt: ['DROP ROLE', 'dcl'],
  AlterDefaultPrivilegesStmt: ['ALTER DEFAULT PRIVILEGES', 'dcl'],
  VacuumStmt: ['VACUUM', 'utility'],
  ClusterStmt: ['CLUSTER', 'utility'],
  ReindexStmt: ['REINDEX', 'utility'],
  CheckPointStmt: ['CHECKPOINT', 'utility'],
  ConstraintsSetStmt: ['SET CONSTRAINTS', 'transaction'],
  TruncateStmt: ['TRUNCATE TABLE', 'write'],
  LockStmt: ['LOCK TABLE', 'write'],
  ListenStmt: ['LISTEN', 'session'],
  UnlistenStmt: ['UNLISTEN', 'session'],
  NotifyStmt: ['NOTIFY', 'utility'],
  VariableShowStmt: ['SHOW', 'session'],
  DeallocateStmt: ['DEALLOCATE', 'session'],
  ExecuteStmt: ['EXECUTE', 'unknown'],
  DoStmt: ['DO', 'unknown'],
  CallStmt: ['CALL', 'unknown'],
  LoadStmt: ['LOAD', 'utility'],
  CreateEventTrigStmt: ['CREATE EVENT TRIGGER', 'ddl'],
  CreateTrigStmt: ['CREATE TRIGGER', 'ddl'],
  RuleStmt: ['CREATE RULE', 'ddl'],
  CreateExtensionStmt: ['CREATE EXTENSION', 'ddl'],
  DropStmt: ['DROP', 'ddl'],
  RenameStmt: ['ALTER', 'ddl'],
  AlterObjectSchemaStmt: ['ALTER', 'ddl'],
  AlterOwnerStmt: ['ALTER', 'ddl'],
  AlterTableStmt: ['ALTER TABLE', 'ddl'],
  DefineStmt: ['CREATE', 'ddl'],
  CreateFunctionStmt: ['CREATE FUNCTION', 'ddl'],
  GrantStmt: ['GRANT', 'dcl'],
  GrantRoleStmt: ['GRANT ROLE', 'dcl'],
  DiscardStmt: ['DISCARD', 'session'],
  ClosePortalStmt: ['CLOSE CURSOR', 'utility'],
  FetchStmt: ['FETCH', 'read'],
  VariableSetStmt: ['SET', 'session'],
  TransactionStmt: ['BEGIN', 'transaction'],
  CopyStmt: ['COPY', 'read'],
  ExplainStmt: ['EXPLAIN', 'read'],
  PrepareStmt: ['PREPARE', 'read'],
  DeclareCursorStmt: ['DECLARE CURSOR', 'read'],
  CreateTableAsStmt: ['CREATE TABLE AS', 'ddl'],
  SelectStmt: ['SELECT', 'read'],
  InsertStmt: ['INSERT', 'write'],
  UpdateStmt: ['UPDATE', 'write'],
  DeleteStmt: ['DELETE', 'write'],
  MergeStmt: ['MERGE', 'write'],
};

/** Statements that run code the gateway cannot read. */
const OPAQUE = new Set([
  'DoStmt',
  'CallStmt',
  'CreateFunctionStmt',
  'CreateTrigStmt',
  'RuleStmt',
  'CreateEventTrigStmt',
  'CreateExtensionStmt',
  'AlterExtensionStmt',
  'LoadStmt',
]);

const LOCK_MODES = [
  '',
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
];

/** Describe one statement node, walking it into `out`. Never throws on odd trees. */
export function describe(
  node: N,
  w: Walker,
  out: Collector,
  inner: InnerFacts,
  searchPath: readonly string[],
): Described {
  const t = nodeType(node) ?? '';
  const b: N = t ? node[t] : {};
  const simple = SIMPLE[t];
  const d: Described = {
    command: simple ? simple[0] : 'UNKNOWN',
    class: simple ? simple[1] : 'unknown',
    has_where: false,
    extra: {},
  };
  if (OPAQUE.has(t)) out.opaque = true;
  const rel = (rv: N | undefined, access: 'read' | 'write', kind?: string): void => {
    if (!rv) return;
    const r = resolveRelation(rv, searchPath);
    out.addRelation({
      schema: r.schema,
      name: r.name,
      kind: kind ?? r.kind,
      access,
      ...(r.catalog !== undefined ? { catalog: r.catalog } : {}),
      ...(r.unqualified ? { unqualified: true } : {}),
    });
  };

  switch (t) {
    case 'SelectStmt':
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      w.walkQuery(node, Walker.rootCtx());
      if (t === 'SelectStmt' && b.intoClause) d.command = 'SELECT INTO';
      d.has_where = Boolean(b.whereClause) || t === 'MergeStmt';
      const oc = b.onConflictClause ? body(b.onConflictClause) : undefined;
      if (oc) d.extra.on_conflict = oc.action === 'ONCONFLICT_UPDATE' ? 'update' : 'nothing';
      if (t === 'InsertStmt') d.extra.insert = { source: insertSource(b, searchPath) };
      if (t === 'MergeStmt') d.extra.merge = { actions: mergeActions(b) };
      if ((t === 'UpdateStmt' || t === 'DeleteStmt') && b.whereClause) {
        // WHERE 1 = 0 (an empty IN list, as query builders write it): no row is written.
        // WHERE id = 1 OR true names a column, yet every row is written.
        const read: { literals?: boolean } = {};
        const truth = constantTruth(b.whereClause, read);
        if (truth === false) d.extra.where_false = true;
        if (truth === true) d.extra.where_true = true;
        else if (truth !== false && openCondition(b.whereClause, read)) d.extra.where_open = true;
        if (read.literals) out.literalSensitive = true;
        // Whether a column it names is one of the rows written (through the target's own
        // name), not of another reference to the same table (DELETE FROM t q USING t z
        // WHERE z.id = 1 deletes every row).
        d.extra.where_names_target = w.whereNamesTarget;
      }
      break;
    }
    case 'ExplainStmt': {
      const from = out.columns.length;
      const inn = describe(b.query ?? {}, w, out, inner, searchPath);
      // The plan is computed from what the query would return: widths from the column
      // statistics, SERIALIZE's output size, row counts. Nothing is returned as it is.
      for (let i = from; i < out.columns.length; i++)
        out.columns[i] = explainedColumn(out.columns[i]);
      const analyze = defBool(b.options, 'analyze');
      d.class = inn.class;
      d.has_where = inn.has_where;
      d.extra = { ...inn.extra, explain: { analyze, command: inn.command } };
      break;
    }
    case 'CreateTableAsStmt': {
      if (b.objtype === 'OBJECT_MATVIEW') d.command = 'CREATE MATERIALIZED VIEW';
      else if (b.is_select_into) d.command = 'SELECT INTO';
      const into = body(b.into);
      rel(
        into?.rel ? body(into.rel) : undefined,
        'write',
        b.objtype === 'OBJECT_MATVIEW' ? 'matview' : 'table',
      );
      const q = body(b.query);
      if (nodeType(b.query) === 'ExecuteStmt') {
        // CREATE TABLE t AS EXECUTE p: what it reads is what p holds, which the session
        // merges in as for EXECUTE p (the statement stays a CREATE TABLE AS).
        d.extra.execute = {
          name: String(q.name ?? ''),
          params: (q.params ?? []).map((p: N) => constText(p)),
        };
        w.walk(q.params, Walker.rootCtx());
      } else w.walkQuery(b.query, Walker.rootCtx());
      break;
    }
    case 'CopyStmt': {
      const from = Boolean(b.is_from);
      const program = Boolean(b.is_program);
      const file = typeof b.filename === 'string' ? b.filename : null;
      const copy: CopyFact = {
        direction: from ? 'from' : 'to',
        program,
        file,
        stdio: file === null,
        format: copyFormat(b.options),
        header: copyHeader(b.options),
        query: Boolean(b.query),
      };
      d.extra.copy = copy;
      d.class = from ? 'write' : 'read';
      if (file !== null) d.class = 'utility'; // server-side file or program: not a data read/write
      if (program) out.opaque = true;
      if (b.relation) {
        const rv = body(b.relation);
        rel(rv, from ? 'write' : 'read');
        const r = resolveRelation(rv, searchPath);
        const cols = names((b.attlist ?? []).map((x: N) => x));
        const clause = from ? 'values' : 'select';
        if (cols.length === 0)
          out.addColumn({ schema: r.schema, table: r.name, column: '*', clause });
        for (const c of cols) out.addColumn({ schema: r.schema, table: r.name, column: c, clause });
      }
      if (b.query) {
        const inn = describe(b.query, w, out, inner, searchPath);
        if (inn.class !== 'read' && file === null) d.class = inn.class;
        // COPY (DELETE … RETURNING …) TO: the write runs inside the COPY, as in a WITH.
        const writes = writesOf(b.query);
        if (writes.length > 0) out.addNestedWrite(writes);
      }
      if (b.whereClause) w.walk(b.whereClause, { ...Walker.rootCtx(), clause: 'where' });
      break;
    }
    case 'TransactionStmt':
      transaction(b, d);
      break;
    case 'VariableSetStmt':
      variableSet(b, d, searchPath);
      break;
    case 'VariableShowStmt':
      d.extra.show = { name: String(b.name ?? '').toLowerCase() };
      break;
    case 'DiscardStmt': {
      const target = String(b.target ?? 'DISCARD_ALL').replace(/^DISCARD_/, '');
      d.command = `DISCARD ${target}`;
      d.extra.discard = { target: target.toLowerCase() };
      break;
    }
    case 'PrepareStmt': {
      const facts = inner(b.query ?? {});
      d.class = facts.class as StatementClass;
      d.has_where = Boolean(facts.has_where);
      for (const r of (facts.relations as never[]) ?? []) out.addRelation(r);
      for (const c of (facts.columns as never[]) ?? []) out.addColumn(c);
      for (const f of (facts.functions as never[]) ?? []) out.addFunction(f);
      if (facts.opaque) out.opaque = true;
      if (facts.cross_database) out.crossDatabase = true;
      if (facts.literal_sensitive) out.literalSensitive = true;
      // What makes the statement more than its class: a policy judging the PREPARE sees it.
      if (facts.locking) out.locking = true;
      if (facts.select_into) out.selectInto = true;
      for (const n of (facts.settings_read as (string | null)[]) ?? []) out.settingsRead.add(n);
      if (facts.writes_cte) out.addNestedWrite((facts.nested_commands as string[]) ?? []);
      // PREPARE r(regclass): its parameters are catalog lookups.
      for (const x of b.argtypes ?? []) w.typeName(names(body(x).names));
      d.extra.prepare = {
        name: String(b.name ?? ''),
        types: (b.argtypes ?? []).map((x: N) => names(body(x).names).join('.')),
        statement: facts,
      };
      break;
    }
    case 'ExecuteStmt': {
      const params = (b.params ?? []).map((p: N) => constText(p));
      d.extra.execute = { name: String(b.name ?? ''), params };
      w.walk(b.params, Walker.rootCtx());
      break;
    }
    case 'DeallocateStmt':
      if (b.isall || !b.name) d.command = 'DEALLOCATE ALL';
      d.extra.deallocate = { name: b.isall || !b.name ? null : String(b.name) };
      break;
    case 'DeclareCursorStmt': {
      const inn = describe(b.query ?? {}, w, out, inner, searchPath);
      d.class = inn.class;
      d.has_where = inn.has_where;
      const opts = Number(b.options ?? 0);
      d.extra = {
        ...inn.extra,
        cursor: {
          name: String(b.portalname ?? ''),
          hold: (opts & 0x20) !== 0,
          scroll: (opts & 0x02) !== 0,
        },
      };
      break;
    }
    case 'FetchStmt': {
      if (b.ismove) d.command = 'MOVE';
      d.extra.cursor_op = {
        kind: b.ismove ? 'move' : 'fetch',
        name: String(b.portalname ?? ''),
        direction: String(b.direction ?? 'FETCH_FORWARD')
          .replace(/^FETCH_/, '')
          .toLowerCase(),
        count:
          typeof b.howMany === 'number'
            ? b.howMany
            : b.howMany === undefined
              ? 0
              : Number(b.howMany),
      };
      break;
    }
    case 'ClosePortalStmt':
      if (!b.portalname) d.command = 'CLOSE CURSOR ALL';
      d.extra.cursor_op = { kind: 'close', name: b.portalname ? String(b.portalname) : null };
      break;
    case 'LockStmt': {
      for (const r of b.relations ?? []) rel(body(r), 'write');
      d.extra.lock = {
        mode: LOCK_MODES[Number(b.mode ?? 0)] || 'ACCESS EXCLUSIVE',
        nowait: Boolean(b.nowait),
      };
      break;
    }
    case 'ListenStmt':
      d.extra.notify = { kind: 'listen', channel: String(b.conditionname ?? '') };
      break;
    case 'UnlistenStmt':
      d.extra.notify = {
        kind: 'unlisten',
        channel: b.conditionname ? String(b.conditionname) : null,
      };
      break;
    case 'NotifyStmt':
      d.extra.notify = {
        kind: 'notify',
        channel: String(b.conditionname ?? ''),
        payload: typeof b.payload === 'string' ? b.payload : null,
      };
      break;
    case 'DoStmt': {
      const language = doLanguage(b.args);
      const src = doBody(b.args);
      const bf = nested(() =>
        bodyFacts(src ?? '', language, (n) => describe(n, w, out, inner, searchPath)),
      );
      d.extra.do = { language, ...bf };
      break;
    }
    case 'CallStmt':
      w.walk(b.funccall, Walker.rootCtx());
      break;
    case 'CreateFunctionStmt': {
      if (b.is_procedure) d.command = 'CREATE PROCEDURE';
      const f = resolveFunction(names(b.funcname), searchPath);
      out.addRelation({
        schema: f.schema,
        name: f.name,
        kind: b.is_procedure ? 'procedure' : 'function',
        access: 'write',
      });
      w.walk({ ...b, funcname: undefined }, Walker.rootCtx('write'));
      const language = optionString(b.options, 'language') ?? 'sql';
      const src = optionString(b.options, 'as');
      if (src !== null) {
        const bf = nested(() =>
          bodyFacts(src, language, (n) => describe(n, w, out, inner, searchPath)),
        );
        d.extra.body = { language, ...bf };
      }
      break;
    }
    case 'CreateTrigStmt': {
      rel(b.relation ? body(b.relation) : undefined, 'write');
      const f = resolveFunction(names(b.funcname), searchPath);
      out.addFunction({ schema: f.schema, name: f.name, effect: 'unknown' });
      w.walk({ ...b, relation: undefined, funcname: undefined }, Walker.rootCtx('write'));
      break;
    }
    case 'CreateExtensionStmt':
      d.extra.extension = { name: String(b.extname ?? '') };
      break;
    case 'VacuumStmt':
      if (!b.is_vacuumcmd) d.command = 'ANALYZE';
      w.walk(b.rels, Walker.rootCtx('write'));
      break;
    case 'DropStmt': {
      d.command = `DROP ${objectWord(b.removeType)}`;
      for (const o of b.objects ?? []) objectFact(b.removeType, o, out, searchPath);
      break;
    }
    case 'CommentStmt':
    case 'SecLabelStmt':
      objectFact(b.objtype, b.object, out, searchPath);
      break;
    case 'RenameStmt': {
      const ot =
        b.renameType === 'OBJECT_COLUMN' || b.renameType === 'OBJECT_TABCONSTRAINT'
          ? b.relationType
          : b.renameType;
      d.command = `ALTER ${objectWord(ot)}`;
      if (b.relation) rel(body(b.relation), 'write');
      else if (b.object) objectFact(b.renameType, b.object, out, searchPath);
      break;
    }
    case 'AlterObjectSchemaStmt':
    case 'AlterOwnerStmt': {
      d.command = `ALTER ${objectWord(b.objectType)}`;
      if (b.relation) rel(body(b.relation), 'write');
      else if (b.object) objectFact(b.objectType, b.object, out, searchPath);
      break;
    }
    case 'AlterTableStmt':
      d.command = `ALTER ${objectWord(b.objtype ?? 'OBJECT_TABLE')}`;
      rel(b.relation ? body(b.relation) : undefined, 'write');
      w.walk(b.cmds, Walker.rootCtx('write'));
      break;
    case 'DefineStmt':
      d.command = `CREATE ${objectWord(b.kind)}`;
      w.walk(b.definition, Walker.rootCtx('write'));
      break;
    case 'GrantStmt':
      d.command = b.is_grant ? 'GRANT' : 'REVOKE';
      if (b.objtype === 'OBJECT_TABLE' || b.objtype === 'OBJECT_SEQUENCE') {
        w.walk(b.objects, Walker.rootCtx('write'));
      } else for (const o of b.objects ?? []) objectFact(b.objtype, o, out, searchPath);
      break;
    case 'GrantRoleStmt':
      d.command = b.is_grant ? 'GRANT ROLE' : 'REVOKE ROLE';
      break;
    case 'AlterRoleStmt':
    case 'AlterRoleSetStmt':
    case 'CreateRoleStmt':
    case 'DropRoleStmt':
      break;
    case 'AlterSystemStmt': {
      const s = body(b.setstmt);
      d.extra.alter_system = { name: s?.name ? String(s.name).toLowerCase() : null };
      break;
    }
    case 'AlterDatabaseSetStmt': {
      const s = body(b.setstmt);
      d.extra.alter_database = {
        name: String(b.dbname ?? ''),
        setting: s?.name ? String(s.name).toLowerCase() : null,
      };
      break;
    }
    case 'CreateSeqStmt':
    case 'AlterSeqStmt':
      rel(b.sequence ? body(b.sequence) : undefined, 'write', 'sequence');
      w.walk(b.options, Walker.rootCtx('write'));
      break;
    case 'RefreshMatViewStmt':
      rel(b.relation ? body(b.relation) : undefined, 'write', 'matview');
      d.extra.refresh = { concurrent: Boolean(b.concurrent) };
      break;
    default:
      if (!simple) {
        d.command = 'UNKNOWN';
        d.class = 'unknown';
      }
      // Walk everything: any relation or function named anywhere is reported.
      w.walk(node, Walker.rootCtx('write'));
  }
  return d;
}

/** Relation-ish facts for DROP/COMMENT/ALTER ... OWNER targets given as name lists. */
function objectFact(objtype: unknown, o: N, out: Collector, searchPath: readonly string[]): void {
  const ot = String(objtype ?? '');
  const kind = RELATION_KINDS[ot];
  const t = nodeType(o);
  if (kind || ot === 'OBJECT_COLUMN') {
    let parts = t === 'List' ? names(o.List.items) : t === 'String' ? [String(o.String.sval)] : [];
    if (ot === 'OBJECT_COLUMN') parts = parts.slice(0, -1);
    if (parts.length === 0) return;
    const rv = {
      relname: parts[parts.length - 1],
      schemaname: parts[parts.length - 2],
      catalogname: parts[parts.length - 3],
    };
    const r = resolveRelation(rv, searchPath);
    out.addRelation({
      schema: r.schema,
      name: r.name,
      kind: kind ?? 'table',
      access: 'write',
      ...(r.catalog !== undefined ? { catalog: r.catalog } : {}),
      ...(r.unqualified ? { unqualified: true } : {}),
    });
    return;
  }
  if (t === 'ObjectWithArgs') {
    const f = resolveFunction(names(o.ObjectWithArgs.objname), searchPath);
    out.addRelation({
      schema: f.schema,
      name: f.name,
      kind: ot.replace(/^OBJECT_/, '').toLowerCase(),
      access: 'write',
    });
    return;
  }
  const parts = t === 'List' ? names(o.List.items) : t === 'String' ? [String(o.String.sval)] : [];
  if (parts.length === 0) return;
  const kindName = ot.replace(/^OBJECT_/, '').toLowerCase();
  const name = parts[parts.length - 1];
  const schema = kindName === 'schema' ? name : (parts[parts.length - 2] ?? '');
  out.addRelation({ schema, name, kind: kindName, access: 'write' });
}

function transaction(b: N, d: Described): void {
  const kinds: Record<string, [TransactionKind, string]> = {
    TRANS_STMT_BEGIN: ['begin', 'BEGIN'],
    TRANS_STMT_START: ['start', 'START TRANSACTION'],
    TRANS_STMT_COMMIT: ['commit', 'COMMIT'],
    TRANS_STMT_ROLLBACK: ['rollback', 'ROLLBACK'],
    TRANS_STMT_SAVEPOINT: ['savepoint', 'SAVEPOINT'],
    TRANS_STMT_RELEASE: ['release', 'RELEASE'],
    TRANS_STMT_ROLLBACK_TO: ['rollback_to', 'ROLLBACK'],
    TRANS_STMT_PREPARE: ['prepare', 'PREPARE TRANSACTION'],
    TRANS_STMT_COMMIT_PREPARED: ['commit_prepared', 'COMMIT PREPARED'],
    TRANS_STMT_ROLLBACK_PREPARED: ['rollback_prepared', 'ROLLBACK PREPARED'],
  };
  const [kind, tag] = kinds[String(b.kind)] ?? ['begin', 'BEGIN'];
  d.command = tag;
  const tx: TransactionFact = { kind };
  Object.assign(tx, transactionOptions(b.options));
  if (b.savepoint_name) tx.name = String(b.savepoint_name);
  if (b.gid) tx.name = String(b.gid);
  if (b.chain) tx.chain = true;
  d.extra.transaction = tx;
}

/**
 * The SET gives a setting the gateway pins on every session the value it has there, so it
 * changes nothing: search_path as the analysis reads names (each value one schema, as
 * PostgreSQL quotes a list setting's values), client_encoding UTF8 by any of its names,
 * standard_conforming_strings on. Frameworks send these when they connect.
 */
function keepsPinned(
  name: string,
  vals: readonly (string | null)[],
  searchPath: readonly string[],
): boolean {
  if (name === 'search_path')
    return vals.length === searchPath.length && vals.every((v, i) => v === searchPath[i]);
  if (vals.length !== 1 || vals[0] === null) return false;
  // PostgreSQL reads an encoding name in any case, ignoring what is not a letter or digit.
  if (name === 'client_encoding')
    return ['utf8', 'unicode'].includes(vals[0].toLowerCase().replace(/[^a-z0-9]/g, ''));
  if (name === 'standard_conforming_strings') return ['on', 'true'].includes(vals[0].toLowerCase());
  return false;
}

/** READ ONLY / READ WRITE / ISOLATION LEVEL / DEFERRABLE options (DefElem list). */
function transactionOptions(list: unknown): Partial<TransactionFact> {
  const o: Partial<TransactionFact> = {};
  if (!Array.isArray(list)) return o;
  for (const x of list) {
    const de = body(x);
    const v = constText(de.arg);
    if (de.defname === 'transaction_read_only') {
      const ro = v !== null && v !== '0' && v !== 'false' && v !== 'off';
      if (ro) o.read_only = true;
      else o.read_write = true;
    } else if (de.defname === 'transaction_isolation' && v !== null) o.isolation = v;
    else if (de.defname === 'transaction_deferrable') o.deferrable = v !== '0' && v !== 'false';
  }
  return o;
}

function variableSet(b: N, d: Described, searchPath: readonly string[]): void {
  const kind = String(b.kind ?? '');
  const name = b.name ? String(b.name).toLowerCase() : null;
  const set: SetFact = {
    name,
    value: null,
    local: Boolean(b.is_local),
    reset: kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL',
    all: kind === 'VAR_RESET_ALL',
    default: kind === 'VAR_SET_DEFAULT',
  };
  if (set.reset) d.command = 'RESET';
  if (kind === 'VAR_SET_VALUE') {
    const vals = (b.args ?? []).map((a: N) => constText(a));
    set.value = vals.some((v: string | null) => v === null) ? null : vals.join(', ');
    if (name && keepsPinned(name, vals, searchPath)) set.keeps_pinned = true;
  } else if (kind === 'VAR_SET_MULTI') {
    // SET TRANSACTION ... / SET SESSION CHARACTERISTICS AS TRANSACTION ...
    const options = transactionOptions(b.args);
    d.extra.transaction_options = options;
    // SET TRANSACTION sets the current transaction's characteristics only, as
    // BEGIN ISOLATION LEVEL ... does: a transaction statement. The session-wide form stays
    // a session change.
    if (name === 'transaction') {
      d.class = 'transaction';
      d.extra.transaction = { kind: 'set_transaction', ...options };
    }
  } else if (kind === 'VAR_SET_CURRENT') set.from_current = true;
  d.extra.set = set;
}

/** Text of a constant (A_Const, or a cast of one), else null. */
export function constText(n: unknown): string | null {
  let x = n as N | undefined;
  if (nodeType(x) === 'TypeCast') x = (x as N).TypeCast.arg;
  if (nodeType(x) !== 'A_Const') return null;
  const c = (x as N).A_Const;
  if (c.isnull) return null;
  if (c.sval) return String(c.sval.sval ?? '');
  if (c.ival) return String(c.ival.ival ?? 0);
  if (c.fval) return String(c.fval.fval ?? '0');
  if (c.boolval) return String(Boolean(c.boolval.boolval));
  if (c.bsval) return String(c.bsval.bsval ?? '');
  return null;
}

/** defGetBoolean over a DefElem list; an unreadable value counts as true (fail closed). */
function defBool(list: unknown, name: string): boolean {
  if (!Array.isArray(list)) return false;
  let v = false;
  for (const x of list) {
    const de = body(x);
    if (String(de.defname).toLowerCase() !== name) continue;
    if (!de.arg) {
      v = true;
      continue;
    }
    const s = (constText(de.arg) ?? stringNode(de.arg) ?? '').toLowerCase();
    if (nodeType(de.arg) === 'Boolean') v = Boolean(de.arg.Boolean.boolval);
    else if (nodeType(de.arg) === 'Integer') v = Number(de.arg.Integer.ival ?? 0) !== 0;
    else v = !(s === 'false' || s === 'off' || s === '0' || s === 'no');
  }
  return v;
}

function stringNode(n: unknown): string | null {
  return nodeType(n) === 'String' ? String((n as N).String.sval ?? '') : null;
}

function copyFormat(list: unknown): 'text' | 'csv' | 'binary' {
  let f: 'text' | 'csv' | 'binary' = 'text';
  if (!Array.isArray(list)) return f;
  for (const x of list) {
    const de = body(x);
    if (de.defname === 'format') {
      const v = (stringNode(de.arg) ?? '').toLowerCase();
      if (v === 'csv' || v === 'binary') f = v;
    } else if (de.defname === 'binary') f = 'binary';
    else if (de.defname === 'csv') f = 'csv';
  }
  return f;
}

/** HEADER, HEADER true/on/1/match (FROM only): a header line; false, off or 0: none. */
function copyHeader(list: unknown): boolean {
  let h = false;
  if (!Array.isArray(list)) return h;
  for (const x of list) {
    const de = body(x);
    if (de.defname !== 'header') continue;
    if (de.arg === undefined || de.arg === null) h = true;
    else {
      const a = body(de.arg);
      const v = (stringNode(de.arg) ?? String(a.boolval ?? a.ival ?? '')).toLowerCase();
      h = !['false', 'off', '0', ''].includes(v);
    }
  }
  return h;
}

/** Nesting of bodies analysed inside bodies (DO inside DO...): a few levels, then opaque. */
let bodyDepth = 0;
const MAX_BODY_DEPTH = 4;
const NOT_PARSED = { parsed: false, dynamic: false, statements: 0 };

function nested(fn: () => ReturnType<typeof bodyFacts>): ReturnType<typeof bodyFacts> {
  if (bodyDepth >= MAX_BODY_DEPTH) return NOT_PARSED;
  bodyDepth++;
  try {
    return fn();
  } finally {
    bodyDepth--;
  }
}

function doBody(list: unknown): string | null {
  return optionString(list, 'as');
}

/** A DefElem option's text (String, or the first String of a List). */
function optionString(list: unknown, name: string): string | null {
  if (!Array.isArray(list)) return null;
  for (const x of list) {
    const de = body(x);
    if (de.defname !== name) continue;
    const s = stringNode(de.arg);
    if (s !== null) return s;
    if (nodeType(de.arg) === 'List') return stringNode(de.arg.List.items?.[0]);
  }
  return null;
}

function doLanguage(list: unknown): string {
  if (!Array.isArray(list)) return 'plpgsql';
  for (const x of list) {
    const de = body(x);
    if (de.defname === 'language') return stringNode(de.arg) ?? 'plpgsql';
  }
  return 'plpgsql';
}

/** A column of an explained query as EXPLAIN shows it: what it would return is derived. */
export function explainedColumn(c: ColumnFact): ColumnFact {
  return (c.clause === 'select' || c.clause === 'returning') && !c.derived
    ? { ...c, derived: true }
    : c;
}

/** What a MERGE's WHEN clauses do: 'update', 'delete', 'insert', 'nothing' (each once). */
function mergeActions(b: N): string[] {
  const out = new Set<string>();
  for (const w of Array.isArray(b.mergeWhenClauses) ? b.mergeWhenClauses : []) {
    const t = String(body(w)?.commandType ?? '');
    out.add(t.startsWith('CMD_') ? t.slice(4).toLowerCase() : 'unknown');
  }
  return [...out];
}

/** Where an INSERT's rows come from: a VALUES list, DEFAULT VALUES, or a query. */
/**
 * Where an INSERT's rows come from. A VALUES list calling a function that may return a set
 * (`VALUES (unnest(ARRAY(SELECT id FROM t)), 0)`, `generate_series`, or any function
 * outside pg_catalog) has as many rows as that returns: a query's.
 */
function insertSource(b: N, searchPath: readonly string[]): 'values' | 'default' | 'query' {
  if (!b.selectStmt) return 'default';
  const sel = body(b.selectStmt);
  if (!Array.isArray(sel?.valuesLists) || sel.withClause) return 'query';
  return mayReturnSet(sel.valuesLists, searchPath) ? 'query' : 'values';
}

const SET_RETURNING = new Set(PG_CATALOG_SET_RETURNING);

/** Whether expressions call a function that may return a set (not inside a subquery). */
function mayReturnSet(n: unknown, searchPath: readonly string[]): boolean {
  if (!n || typeof n !== 'object') return false;
  if (Array.isArray(n)) return n.some((x) => mayReturnSet(x, searchPath));
  const o = n as N;
  // A scalar subquery is one value (or an error); ARRAY(SELECT …) one array.
  if ('SubLink' in o) return mayReturnSet(o.SubLink.testexpr, searchPath);
  if ('FuncCall' in o) {
    const f = resolveFunction(names(o.FuncCall.funcname), searchPath);
    if (f.schema !== 'pg_catalog' || SET_RETURNING.has(f.name)) return true;
  }
  // (x).f is the call f(x) where x has no field f: a set-returning built-in, or a name no
  // built-in has (a field, or a function of the search_path schema).
  if ('A_Indirection' in o)
    for (const step of (o.A_Indirection.indirection ?? []) as N[]) {
      const f = nodeType(step) === 'String' ? (step.String as N).sval : undefined;
      if (typeof f !== 'string') continue;
      const r = resolveFunction([f], searchPath);
      if (r.schema !== 'pg_catalog' || SET_RETURNING.has(f)) return true;
    }
  for (const k in o) if (mayReturnSet(o[k], searchPath)) return true;
  return false;
}
