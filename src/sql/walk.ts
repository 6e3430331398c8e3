// Iterative walk of one parse tree: relations, columns and functions with their access and clause.
import type { Access, Clause } from './types.js';
import type { Catalog } from './catalog.js';
import { Collector } from './collector.js';
import {
  functionEffect,
  functionLookup,
  resultLookup,
  typeLookup,
  wholeRowFunction,
} from './functions.js';
import { regclassName, resolveFunction, resolveRelation } from './names.js';
import { PG_CATALOG_RELATIONS, PG_CATALOG_TYPES } from './pg-catalog-data.js';
import {
  type CteScope,
  type Level,
  type Origin,
  type ScopeItem,
  type Shape,
  findCte,
  knownColumn,
  mayHave,
  newShape,
  originsOf,
  renameShape,
  worse,
} from './scope.js';

type N = Record<string, any>;

export interface Ctx {
  level: Level | null;
  ctes: CteScope | null;
  clause: Clause;
  /** Inside an expression: a column found here does not reach the output bare. */
  derived: boolean;
  /** Access for relations met outside FROM (DDL targets, generic positions). */
  access: Access;
  /**
   * A name here may not be an input column at all (GROUP BY k, where k is also an output
   * alias): the columns it is resolved to are candidates only.
   */
  ambiguous?: boolean;
}

type Task = (() => void) | { n: unknown; c: Ctx };

/** Node types that keep a column bare (no expression between it and its clause). */
/**
 * pg_catalog functions whose first argument, given as a string (or a parameter), names a
 * text search configuration or parser that PostgreSQL looks up.
 */
const NAMED_BY_FIRST_ARG = new Map([
  // With fewer arguments the first is the document, not a name.
  ['to_tsvector', 2],
  ['to_tsquery', 2],
  ['plainto_tsquery', 2],
  ['phraseto_tsquery', 2],
  ['websearch_to_tsquery', 2],
  ['ts_headline', 3],
  ['ts_debug', 2],
  ['json_to_tsvector', 3],
  ['jsonb_to_tsvector', 3],
  ['ts_parse', 2],
  ['ts_token_type', 1],
  // ts_lexize(regdictionary, text): the dictionary, by name.
  ['ts_lexize', 2],
]);

/** pg_catalog functions that run a query given as text or read cursors or tables by name. */
const READS_BY_NAME = new Set(
  ['query', 'cursor', 'table', 'schema', 'database']
    .flatMap((k) => [`${k}_to_xml`, `${k}_to_xmlschema`, `${k}_to_xml_and_xmlschema`])
    .concat(['ts_stat', 'ts_rewrite']),
);

const TRANSPARENT = new Set(['List', 'SortBy', 'ResTarget', 'GroupingSet', 'Alias', 'String']);

/** A_Expr kinds whose name is an operator (BETWEEN and the like name none). */
const OPERATOR_KINDS = new Set([
  'AEXPR_OP',
  'AEXPR_OP_ANY',
  'AEXPR_OP_ALL',
  // PostgreSQL looks these operators up by name too, as written in `name` (= for IN,
  // NULLIF and IS DISTINCT FROM, ~~ for LIKE, …): a search_path schema's may run.
  'AEXPR_IN',
  'AEXPR_NULLIF',
  'AEXPR_DISTINCT',
  'AEXPR_NOT_DISTINCT',
  'AEXPR_LIKE',
  'AEXPR_ILIKE',
  'AEXPR_SIMILAR',
]);
/** BETWEEN and its forms are comparisons by >= and <= (NOT BETWEEN: < and >). */
const BETWEEN_KINDS = new Set([
  'AEXPR_BETWEEN',
  'AEXPR_NOT_BETWEEN',
  'AEXPR_BETWEEN_SYM',
  'AEXPR_NOT_BETWEEN_SYM',
]);

/** The operator symbols pg_catalog defines (PostgreSQL 18's pg_operator). */
const BUILTIN_OPERATORS = new Set(
  (
    '!! !~ !~* !~~ !~~* # ## #- #> #>> % & && &< &<| &> * *< *<= *<> *= *> *>= + - -> ->> ' +
    '-|- / < <-> << <<= <<| <= <> <@ <^ = > >= >> >>= >^ ? ?# ?& ?- ?-| ?| ?|| @ @-@ @> ' +
    '@? @@ @@@ ^ ^@ | |&> |/ |>> || ||/ ~ ~* ~<=~ ~<~ ~= ~>=~ ~>~ ~~ ~~*'
  ).split(' '),
);

const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

/**
 * Functions whose first (text) argument names a sequence. currval only reads what the
 * session drew, but it locks the relation it names as a write does (RowExclusiveLock,
 * whatever the relation is, before it checks that it is a sequence), as a locking clause
 * does (also reported as a write).
 */
const SEQUENCE_FUNCS: Record<string, Access> = {
  nextval: 'write',
  setval: 'write',
  currval: 'write',
};

/** The wrapped node's type ("SelectStmt") or null for a bare struct. */
export function nodeType(n: unknown): string | null {
  if (!n || typeof n !== 'object' || Array.isArray(n)) return null;
  for (const k in n) {
    const c = k.charCodeAt(0);
    return c >= 65 && c <= 90 ? k : null;
  }
  return null;
}

/** Body of a wrapped node, or the node itself when bare. */
export function body(n: any): N {
  const t = nodeType(n);
  return t ? n[t] : n;
}

/** String values of a name list ([{String:{sval}}...]); A_Star as "*". */
export function names(list: unknown): string[] {
  const out: string[] = [];
  if (!Array.isArray(list)) return out;
  for (const x of list) {
    if (x?.String) out.push(String(x.String.sval ?? ''));
    else if (x?.A_Star) out.push('*');
    else out.push('');
  }
  return out;
}

const CATALOG_TYPES = new Set(PG_CATALOG_TYPES);
/** String types a value of any type casts to through its output function. */
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar']);

/**
 * Most FROM items one statement's column references may be matched against, and columns
 * its `*`s expand to, in all. An unqualified name is a candidate column of every item whose
 * columns are not known, so names × items grows with the square of the text: 2,000 tables
 * and 2,000 names (34 KB) took 17 s and 4 million facts on the gateway's one thread. A `*`
 * over a subquery or CTE copies its columns: repeated, they grow with the square of the
 * text (a 20,000-column CTE read 1,000 times: 9 s) or doubled per level, exponentially.
 */
export const MAX_RESOLVE_WORK = 50_000;

/** A statement whose analysis would cost past MAX_RESOLVE_WORK: refused, never analysed. */
export class TooComplex extends Error {}

export class Walker {
  /** FROM items matched against so far (see MAX_RESOLVE_WORK). */
  private work = 0;

  private spend(n: number): void {
    this.work += n;
    if (this.work > MAX_RESOLVE_WORK) throw new TooComplex();
  }

  private readonly stack: Task[] = [];
  /** Calls whose value is cast straight to text (see the TypeCast case). */
  private readonly printed = new WeakSet<object>();

  constructor(
    readonly out: Collector,
    private readonly searchPath: readonly string[],
    private readonly catalog?: Catalog,
  ) {}

  static rootCtx(access: Access = 'read'): Ctx {
    return { level: null, ctes: null, clause: 'select', derived: false, access };
  }

  /** Walk `node` (any statement or expression) to completion. */
  walk(node: unknown, ctx: Ctx): void {
    this.stack.push({ n: node, c: ctx });
    this.drain();
  }

  /** Walk a statement that produces rows into `shape` (SELECT or DML with RETURNING). */
  walkQuery(node: unknown, ctx: Ctx, shape: Shape = newShape()): Shape {
    this.stack.push(() => this.query(node, ctx, shape, false));
    this.drain();
    return shape;
  }

  private drain(): void {
    const st = this.stack;
    while (st.length > 0) {
      const t = st.pop()!;
      if (typeof t === 'function') t();
      else this.dispatch(t.n, t.c);
    }
  }

  private pushAll(tasks: Task[]): void {
    for (let i = tasks.length - 1; i >= 0; i--) this.stack.push(tasks[i]);
  }

  private dispatch(n: unknown, c: Ctx): void {
    if (!n || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      for (let i = n.length - 1; i >= 0; i--) this.stack.push({ n: n[i], c });
      return;
    }
    const t = nodeType(n);
    const b = t ? (n as N)[t] : (n as N);
    if (!b || typeof b !== 'object') return;
    switch (t) {
      case 'SelectStmt':
      case 'InsertStmt':
      case 'UpdateStmt':
      case 'DeleteStmt':
      case 'MergeStmt':
        // Reached inside an expression (JSON_ARRAY(SELECT …) holds a bare query): what it
        // returns reaches the output only through that expression.
        this.query(n, c, newShape(), c.derived === true);
        return;
      case 'JsonArrayQueryConstructor':
        // JSON_ARRAY(SELECT …): an ARRAY(SELECT …) whose values come out as JSON.
        this.subLink({ subselect: b.query }, c);
        // RETURNING type: a cast of the result to it.
        this.stack.push({ n: b.output, c });
        return;
      case 'RangeVar':
        this.relation(b, c.access);
        return;
      case 'ColumnRef':
        this.columnRef(b, c);
        return;
      case 'FuncCall':
        this.funcCall(b, c);
        return;
      case 'A_Indirection':
        this.fieldCalls(b);
        break;
      case 'TypeCast': {
        // pg_typeof(x)::text: the reg* result is only printed, never converted (resultLookup).
        const a = b.arg as N | undefined;
        const ty = b.typeName as N | undefined;
        const tn = ty ? names(ty.names) : [];
        if (
          a &&
          nodeType(a) === 'FuncCall' &&
          !(ty?.arrayBounds as unknown[] | undefined)?.length &&
          (tn.length === 1 || tn[0] === 'pg_catalog') &&
          TEXT_TYPES.has(tn[tn.length - 1])
        )
          this.printed.add(a.FuncCall as N);
        break;
      }
      case 'SubLink':
        this.subLink(b, c);
        return;
      case 'WindowDef':
        this.windowDef(b, c);
        return;
      case 'IntoClause':
        this.into(b);
        return;
      case 'RangeSubselect':
      case 'RangeFunction':
      case 'JoinExpr':
      case 'RangeTableSample':
        this.fromItem(n, c, { parent: c.level, items: [] });
        return;
      case 'A_Const':
        return;
      case 'A_Expr':
        if (OPERATOR_KINDS.has(b.kind as string)) this.operator(names(b.name));
        else if (BETWEEN_KINDS.has(b.kind as string))
          for (const op of ['>=', '<=', '<', '>']) this.operator([op]);
        break;
      case 'CaseExpr':
        // CASE x WHEN v compares x = v.
        if (b.arg) this.operator(['=']);
        break;
      case 'SortBy':
        // ORDER BY x USING op outside a select list's ORDER BY (aggregates, windows).
        this.sortOperator(n);
        break;
      case 'CollateClause': {
        // COLLATE s."C" looks the collation up: its error tells whether schema s exists.
        const coll = names(b.collname);
        if (coll.length > 1 && coll[coll.length - 2] !== 'pg_catalog')
          this.lookup('to_regcollation');
        break;
      }
      case null:
        // Fields typed as a specific struct come unwrapped: recognise them by shape.
        if (typeof b.relname === 'string') {
          this.relation(b, c.access);
          return;
        }
        if (Array.isArray(b.funcname) && 'funcformat' in b) {
          this.funcCall(b, c);
          return;
        }
        if ('frameOptions' in b) {
          this.windowDef(b, c);
          return;
        }
        if (Array.isArray(b.names) && 'typemod' in b) {
          // A type name: x::regclass, a column typed regclass (AS t(r regclass)), a domain.
          this.typeName(names(b.names));
          return;
        }
        break;
    }
    const cc = t && !TRANSPARENT.has(t) && !c.derived ? { ...c, derived: true } : c;
    const keys = Object.keys(b);
    for (let i = keys.length - 1; i >= 0; i--) {
      const v = b[keys[i]];
      if (v && typeof v === 'object') this.stack.push({ n: v, c: cc });
    }
  }

  // ---- statements producing rows ------------------------------------------------------

  /** SELECT or DML (wrapped or bare); `forceDerived` for subqueries used as expressions. */
  private query(n: unknown, c: Ctx, out: Shape, forceDerived: boolean): void {
    const t = nodeType(n);
    const b = t ? (n as N)[t] : (n as N);
    if (!b || typeof b !== 'object') return;
    if (t === null || t === 'SelectStmt') {
      if (t === null && ('relation' in b || 'mergeWhenClauses' in b)) {
        this.dispatch(n, c);
        return;
      }
      this.select(b, c, out, forceDerived);
    } else if (DML.has(t)) {
      this.dml(t, b, c, out);
    } else this.dispatch(n, c);
  }

  private select(b: N, c: Ctx, out: Shape, forceDerived: boolean): void {
    const tasks: Task[] = [];
    const cc = b.withClause ? this.withClause(body(b.withClause), c, tasks) : c;
    if (b.op && b.op !== 'SETOP_NONE') {
      const l = newShape();
      const r = newShape();
      // A set operation's output has no column origin in RowDescription (verified: table
      // OID 0), so its columns reach the client unmasked by origin: derived.
      tasks.push(() => this.query(b.larg, cc, l, true));
      tasks.push(() => this.query(b.rarg, cc, r, true));
      tasks.push(() => {
        const width = Math.max(l.cols.length, r.cols.length);
        for (let i = 0; i < width; i++) {
          const a = l.cols[i];
          const z = r.cols[i];
          out.cols.push({
            // PostgreSQL names a set operation's columns after its left arm only.
            // (A left arm with `*` names its columns from the catalog: not known here.)
            name: a ? a.name : l.stars.length ? null : (z?.name ?? null),
            origins: mergeCapped(a?.origins ?? [], z?.origins ?? [], originKey),
            derived: Boolean(a?.derived || z?.derived),
          });
        }
        out.stars.push(...mergeCapped(l.stars, r.stars, relKey));
        // Arms paired by position: if either arm's columns are inexact, so are the names.
        if (l.inexact || r.inexact) out.inexact = 'names';
        // UNION (without ALL), INTERSECT and EXCEPT compare whole rows: every output
        // column of both arms is a grouping key (an equality oracle on its values).
        if (b.op !== 'SETOP_UNION' || !b.all) {
          for (const s of [l, r]) {
            this.reportShape(s, 'group');
            for (const rel of s.stars) this.column(rel, '*', 'group', true);
          }
        }
        // ORDER BY of a set operation sorts by result columns, named by position or name.
        this.setOpOrder(b.sortClause, out);
      });
      const lc: Ctx = { ...cc, clause: 'order', derived: false, access: 'read' };
      tasks.push(
        { n: b.sortClause, c: lc },
        { n: b.limitCount, c: lc },
        { n: b.limitOffset, c: lc },
      );
      this.pushAll(tasks);
      return;
    }
    if (b.valuesLists) {
      const vc: Ctx = { ...cc, clause: 'values', derived: false, access: 'read' };
      tasks.push({ n: b.valuesLists, c: vc });
      tasks.push(() => {
        const first = b.valuesLists?.[0]?.List?.items ?? [];
        for (let i = 0; i < first.length; i++)
          out.cols.push({ name: `column${i + 1}`, origins: [], derived: true });
      });
      tasks.push(
        { n: b.sortClause, c: vc },
        { n: b.limitCount, c: vc },
        { n: b.limitOffset, c: vc },
      );
      this.pushAll(tasks);
      return;
    }
    const level: Level = { parent: cc.level, items: [] };
    const lc: Ctx = { level, ctes: cc.ctes, clause: 'select', derived: false, access: 'read' };
    for (const f of b.fromClause ?? []) tasks.push(() => this.fromItem(f, lc, level));
    if (b.intoClause) tasks.push(() => this.into(body(b.intoClause)));
    let tlStart = 0;
    let tlEnd = 0;
    tasks.push(() => {
      tlStart = this.out.columns.length;
      this.targetList(b.targetList, lc, 'select', forceDerived);
    });
    tasks.push(() => {
      tlEnd = this.out.columns.length;
    });
    // Select-list entries a clause names by position (ORDER BY 2) or, for ORDER BY and
    // DISTINCT ON, by output name: walked again under that clause. Items naming nothing
    // exactly leave `fallback` set: every listed column then counts for the clause.
    const group = this.byOutput(b.groupClause, b.targetList, false);
    const order = this.byOutput(b.sortClause, b.targetList, true);
    const distinct = plainDistinct(b.distinctClause)
      ? undefined
      : this.byOutput(b.distinctClause, b.targetList, true);
    tasks.push({ n: distinct?.rest ?? b.distinctClause, c: { ...lc, clause: 'group' } });
    tasks.push({ n: distinct?.uncertain, c: { ...lc, clause: 'group', ambiguous: true } });
    tasks.push({ n: b.whereClause, c: { ...lc, clause: 'where' } });
    tasks.push({ n: group.rest, c: { ...lc, clause: 'group' } });
    tasks.push({ n: group.uncertain, c: { ...lc, clause: 'group', ambiguous: true } });
    tasks.push({ n: b.havingClause, c: { ...lc, clause: 'having' } });
    tasks.push({ n: b.windowClause, c: lc });
    tasks.push({ n: order.rest, c: { ...lc, clause: 'order' } });
    tasks.push({ n: order.uncertain, c: { ...lc, clause: 'order', ambiguous: true } });
    for (const [r, clause] of [
      [group, 'group'],
      [order, 'order'],
      [distinct, 'group'],
    ] as const)
      for (const v of r?.entries ?? []) tasks.push({ n: v, c: { ...lc, clause, derived: true } });
    tasks.push({ n: b.limitOffset, c: lc }, { n: b.limitCount, c: lc });
    if (b.lockingClause) tasks.push(() => this.locking(b.lockingClause, level));
    tasks.push(() => {
      this.shapeOf(b.targetList, level, out, forceDerived);
      // A position or output name that cannot be pinned to one entry (a `*` before it, a
      // GROUP BY name, which may be an input column) counts every output column; so does a
      // plain DISTINCT. Columns met in the select list (derived ones included) count too.
      const listed = this.out.columns.slice(tlStart, tlEnd).filter((x) => x.clause === 'select');
      for (const [fallback, clause] of [
        [group.fallback, 'group'],
        [order.fallback, 'order'],
        [distinct ? distinct.fallback : plainDistinct(b.distinctClause), 'group'],
      ] as const) {
        if (!fallback) continue;
        this.reportShape(out, clause);
        // A `*` the output passes through (of a subquery or CTE whose own list is a `*`):
        // its columns are among those the clause names.
        for (const rel of out.stars) this.column(rel, '*', clause, true);
        for (const x of listed) this.out.addColumn({ ...x, clause, derived: true });
      }
    });
    this.pushAll(tasks);
  }

  /**
   * The select-list entries a GROUP BY / ORDER BY / DISTINCT ON list names: `k` is the k-th
   * entry when no `*` comes before it (the facts then depend on the literal); for ORDER BY
   * and DISTINCT ON a bare name is an output column first, as PostgreSQL resolves it.
   * `rest` is what is left to walk as expressions over the input.
   */
  private byOutput(
    clause: unknown,
    targetList: unknown,
    outputNamesFirst: boolean,
  ): { entries: N[]; rest: N[]; uncertain: N[]; fallback: boolean } {
    const r = { entries: [] as N[], rest: [] as N[], uncertain: [] as N[], fallback: false };
    if (!Array.isArray(clause)) return r;
    const tl: N[] = Array.isArray(targetList) ? (targetList as N[]).map((x) => body(x)) : [];
    const starAt = tl.findIndex((rt) => isStar(rt.val));
    const outNames = tl.map((rt) => outputName(rt));
    // An output column a plain `*` or `t.*` brings is the input column of that name, which
    // the name also resolves to when no entry has it: only other unnamed entries may hide
    // which entry a name means.
    const anyUnnamed = outNames.some((n, i) => n === undefined && !isColumnStar(tl[i].val));
    for (const x of clause as N[]) {
      // ORDER BY / DISTINCT ON (a, b) is a row: its names are input columns, its numbers
      // constants. GROUP BY (1, 2) lists positions and names as at the top level.
      const items = outputNamesFirst && nodeType(unsort(x)) === 'RowExpr' ? [x] : clauseItems([x]);
      const kept: N[] = [];
      for (const item of items) {
        const n = unsort(item);
        // ORDER BY x USING op: the sort runs op's function, whatever x resolves to.
        this.sortOperator(item);
        if (nodeType(n) === 'A_Const') {
          const k = this.position(n);
          if (Number.isInteger(k) && k >= 1 && k <= tl.length && (starAt < 0 || starAt >= k))
            r.entries.push(tl[k - 1].val);
          else r.fallback = true;
          continue;
        }
        if (nodeType(n) === 'ColumnRef') {
          const f = names(n.ColumnRef.fields);
          if (f.length === 1 && f[0] !== '*') {
            if (outputNamesFirst) {
              const hits = tl.filter((_, i) => outNames[i] === f[0]);
              if (hits.length > 0) {
                for (const h of hits) r.entries.push(h.val);
                continue;
              }
              // An entry whose output name is not known may be the one meant: the name is
              // then an input column only perhaps.
              if (anyUnnamed) {
                r.fallback = true;
                r.uncertain.push(item);
                continue;
              }
            } else {
              // GROUP BY prefers an input column of that name, else an aliased entry: both
              // are reported, the input column as a candidate only (GROUP BY day, where day
              // is an alias, names no column of the table).
              const aliased = tl.filter((rt) => rt.name === f[0]);
              for (const rt of aliased) r.entries.push(rt.val);
              if (aliased.length > 0) {
                r.uncertain.push(item);
                continue;
              }
            }
          }
        }
        kept.push(item);
      }
      // Grouping sets and rows are walked whole; their positions were resolved above.
      if (kept.length === items.length) r.rest.push(x);
      else if (kept.length > 0) r.rest.push(...kept);
    }
    return r;
  }

  /** The number of `ORDER BY 2` (NaN for another constant): the facts now depend on it. */
  private position(n: N): number {
    this.out.literalSensitive = true;
    return n.A_Const.ival ? Number(n.A_Const.ival.ival ?? 0) : NaN;
  }

  /**
   * The result columns an ORDER BY of a UNION / INTERSECT / EXCEPT sorts by: the one at a
   * position or of a name, or all of them where a `*` hides which (facts then depend on
   * the position literal).
   */
  private setOpOrder(sortClause: unknown, out: Shape): void {
    for (const x of clauseItems(sortClause)) {
      this.sortOperator(x);
      const n = unsort(x);
      let cols = out.cols;
      if (nodeType(n) === 'A_Const') {
        const k = this.position(n);
        if (out.stars.length === 0 && !out.inexact && k >= 1 && k <= out.cols.length)
          cols = [out.cols[k - 1]];
      } else if (nodeType(n) === 'ColumnRef') {
        const f = names(n.ColumnRef.fields);
        const hits = f.length === 1 ? out.cols.filter((c) => c.name === f[0]) : [];
        if (out.stars.length === 0 && out.inexact !== 'names' && hits.length > 0) cols = hits;
      }
      this.reportShape({ cols, stars: [] }, 'order');
      for (const rel of out.stars) this.column(rel, '*', 'order', true);
    }
  }

  private dml(t: string, b: N, c: Ctx, out: Shape): void {
    if (c.level !== null || c.ctes !== null) this.out.addNestedWrite(writesOf({ [t]: b }));
    const tasks: Task[] = [];
    const cc = b.withClause ? this.withClause(body(b.withClause), c, tasks) : c;
    const level: Level = { parent: cc.level, items: [] };
    const lc: Ctx = { level, ctes: cc.ctes, clause: 'select', derived: false, access: 'read' };
    let target: ScopeItem | undefined;
    tasks.push(() => {
      // The target of INSERT/UPDATE/DELETE/MERGE is always a table, never a CTE.
      if (b.relation) target = this.relItem(body(b.relation), 'write', lc, false);
      if (target) level.items.push(target);
      if (c.level === null && c.ctes === null && (t === 'UpdateStmt' || t === 'DeleteStmt'))
        this.dmlTarget = target;
    });
    if (t === 'InsertStmt') {
      tasks.push(() => {
        for (const col of b.cols ?? []) {
          const name = body(col).name;
          if (target?.rel && name) this.column(target.rel, name, 'values', false);
        }
      });
      // The source query does not see the target.
      if (b.selectStmt) tasks.push(() => this.query(b.selectStmt, cc, newShape(), false));
      const oc = b.onConflictClause ? body(b.onConflictClause) : undefined;
      if (oc) {
        tasks.push(() => {
          if (target?.rel) level.items.push({ alias: 'excluded', rel: target.rel });
        });
        tasks.push({ n: oc.infer, c: { ...lc, clause: 'where' } });
        tasks.push(() => this.setList(oc.targetList, lc, () => target));
        tasks.push({ n: oc.whereClause, c: { ...lc, clause: 'where' } });
      }
    } else if (t === 'UpdateStmt') {
      for (const f of b.fromClause ?? []) tasks.push(() => this.fromItem(f, lc, level));
      tasks.push(() => this.setList(b.targetList, lc, () => target));
    } else if (t === 'DeleteStmt') {
      for (const f of b.usingClause ?? []) tasks.push(() => this.fromItem(f, lc, level));
    } else if (t === 'MergeStmt') {
      if (b.sourceRelation) tasks.push(() => this.fromItem(b.sourceRelation, lc, level));
      tasks.push({ n: b.joinCondition, c: { ...lc, clause: 'join' } });
      for (const w of b.mergeWhenClauses ?? []) {
        const m = body(w);
        tasks.push({ n: m.condition, c: { ...lc, clause: 'where' } });
        if (m.commandType === 'CMD_INSERT') {
          tasks.push(() => {
            for (const col of m.targetList ?? []) {
              const name = body(col).name;
              if (target?.rel && name) this.column(target.rel, name, 'values', false);
            }
          });
          tasks.push({ n: m.values, c: { ...lc, clause: 'values' } });
        } else tasks.push(() => this.setList(m.targetList, lc, () => target));
      }
    }
    // Its own WHERE (and the subqueries in it): where a name may bound the rows written.
    tasks.push(() => (this.inDmlWhere = true));
    tasks.push({ n: b.whereClause, c: { ...lc, clause: 'where' } });
    tasks.push(() => (this.inDmlWhere = false));
    // RETURNING (PG 18: returningClause {exprs, options} with OLD/NEW aliases).
    const rc = b.returningClause ? body(b.returningClause) : undefined;
    const returning = b.returningList ?? rc?.exprs;
    if (returning) {
      tasks.push(() => {
        if (!target?.rel) return;
        const aliases = ['old', 'new'];
        for (const o of rc?.options ?? []) {
          const v = body(o).value;
          if (typeof v === 'string') aliases.push(v);
        }
        for (const a of aliases) level.items.push({ alias: a, rel: target.rel });
      });
      tasks.push(() => this.targetList(returning, lc, 'returning', false));
      tasks.push(() => this.shapeOf(returning, level, out, false));
    }
    this.pushAll(tasks);
  }

  /** UPDATE SET / ON CONFLICT DO UPDATE SET / MERGE UPDATE SET. */
  private setList(list: unknown, lc: Ctx, target: () => ScopeItem | undefined): void {
    if (!Array.isArray(list)) return;
    const tasks: Task[] = [];
    for (const x of list) {
      const rt = body(x);
      const tg = target();
      if (tg?.rel && rt.name) this.column(tg.rel, rt.name, 'set', false);
      tasks.push({ n: rt.indirection, c: { ...lc, clause: 'set', derived: true } });
      const v = rt.val;
      if (nodeType(v) === 'ColumnRef')
        tasks.push({ n: v, c: { ...lc, clause: 'set', derived: false } });
      else tasks.push({ n: v, c: { ...lc, clause: 'set', derived: true } });
    }
    this.pushAll(tasks);
  }

  private withClause(w: N, c: Ctx, tasks: Task[]): Ctx {
    const scope: CteScope = { parent: c.ctes, map: new Map() };
    const nc: Ctx = { ...c, ctes: scope };
    const ctes: N[] = (w.ctes ?? []).map(body);
    for (const cte of w.recursive ? dependencyOrder(ctes) : ctes) {
      const name = String(cte.ctename ?? '');
      const shape = newShape();
      // Inside its own recursive arm the CTE's columns are not known yet.
      if (w.recursive) scope.map.set(name, { cols: [], stars: [], inexact: 'names' });
      tasks.push(() => this.query(cte.ctequery, nc, shape, false));
      // CYCLE ... SET col TO value DEFAULT value: typed values like any others.
      if (cte.cycle_clause) tasks.push({ n: cte.cycle_clause, c: { ...nc, derived: true } });
      tasks.push(() => {
        const renamed = renameShape(shape, names(cte.aliascolnames));
        scope.map.set(name, renamed);
      });
    }
    return nc;
  }

  // ---- FROM ---------------------------------------------------------------------------

  private fromItem(n: unknown, c: Ctx, level: Level): void {
    const t = nodeType(n);
    const b = t ? (n as N)[t] : (n as N);
    if (!b || typeof b !== 'object') return;
    if (t === 'RangeVar' || (t === null && typeof b.relname === 'string')) {
      const it = this.relItem(b, 'read', c, true);
      if (it) level.items.push(it);
      return;
    }
    if (t === 'RangeSubselect') {
      const shape = newShape();
      const alias = b.alias ? body(b.alias) : undefined;
      this.stack.push(() => {
        level.items.push({
          alias: alias?.aliasname ?? '',
          shape: renameShape(shape, names(alias?.colnames)),
        });
      });
      // A LATERAL subquery sees the items before it; any other sees only the outer queries
      // (a sibling's column must not stand in for an outer one of the same name).
      this.stack.push(() =>
        this.query(b.subquery, { ...c, level: b.lateral ? level : level.parent }, shape, false),
      );
      return;
    }
    if (t === 'RangeFunction') {
      const alias = b.alias ? body(b.alias) : undefined;
      // Without an alias the item is named after its first function, whatever that is
      // (ROWS FROM (current_date, f()) is "current_date"): only a call's name is known.
      let first: string | undefined;
      for (const f of b.functions ?? []) {
        const fc = body(f)?.items?.[0];
        if (nodeType(fc) === 'FuncCall') {
          const parts = names(fc.FuncCall.funcname);
          const r = resolveFunction(parts, this.searchPath);
          first ??= r.name;
          this.out.addRelation({
            schema: r.schema,
            name: r.name,
            kind: 'function',
            access: 'read',
            ...(parts.length === 1 ? { unqualified: true } : {}),
          });
          const shadow = this.shadowingSchema(parts, r.schema, 'function');
          if (shadow !== undefined)
            this.out.addRelation({
              schema: shadow,
              name: r.name,
              kind: 'function',
              access: 'read',
            });
        } else first ??= '';
      }
      // Its arguments see the items before it (functions in FROM are LATERAL), not its own
      // columns: the item joins the level after they are walked.
      const item = functionItem(b, alias, first ?? '');
      this.stack.push(() => level.items.push(item));
      this.stack.push({ n: b.functions, c: { ...c, level, clause: 'select', derived: true } });
      this.stack.push({ n: b.coldeflist, c: { ...c, level } });
      return;
    }
    if (t === 'JoinExpr') {
      // JOIN … USING (x) and NATURAL JOIN compare the merged columns with =.
      if (b.usingClause || b.isNatural) this.operator(['=']);
      const start = level.items.length;
      if (b.isNatural) level.merged = 'all';
      else if (b.usingClause && level.merged !== 'all') {
        const m = level.merged ?? new Set<string>();
        for (const col of names(b.usingClause)) m.add(col);
        level.merged = m;
      }
      // ON and USING see the join's own two sides (and outer queries), not the FROM items
      // before the join: a name those hold resolves to an outer query, as in PostgreSQL.
      const own = (): Level => ({
        parent: level.parent,
        items: level.items.slice(start),
        ...(level.merged ? { merged: level.merged } : {}),
      });
      const tasks: Task[] = [
        () => this.fromItem(b.larg, c, level),
        () => this.fromItem(b.rarg, c, level),
        () =>
          this.stack.push({
            n: b.quals,
            c: { ...c, level: own(), clause: 'join', derived: false },
          }),
        () => {
          for (const col of names(b.usingClause))
            this.resolveAndReport([col], { ...c, level: own(), clause: 'join' });
          // NATURAL JOIN compares every column name both sides share; without the catalog,
          // every column of both sides may be a join key.
          if (b.isNatural) {
            for (const it of level.items.slice(start)) {
              if (it.rel) this.column(it.rel, '*', 'join', true);
              else if (it.shape) {
                this.reportShape(it.shape, 'join');
                for (const rel of it.shape.stars) this.column(rel, '*', 'join', true);
              }
            }
          }
          const alias = b.alias ? body(b.alias) : undefined;
          const usingAlias = b.join_using_alias ? body(b.join_using_alias) : undefined;
          // USING and NATURAL merge the join columns into one each, in front: a join over
          // these items (aliased, with a column list) cannot pair names by position.
          if (b.isNatural || b.usingClause)
            for (const it of level.items.slice(start)) it.inMergedJoin = true;
          const joinShape = (): Shape => {
            const shape = newShape();
            for (const it of level.items.slice(start)) {
              if (it.qualifiedOnly) continue;
              if (it.open) shape.inexact = 'names';
              if (it.inMergedJoin) shape.inexact = worse(shape.inexact, 'order');
              if (it.rel) shape.stars.push(it.rel);
              else if (it.shape) {
                this.spend(it.shape.cols.length + it.shape.stars.length);
                shape.cols.push(...it.shape.cols);
                shape.stars.push(...it.shape.stars);
                shape.inexact = worse(shape.inexact, it.shape.inexact);
              }
            }
            return shape;
          };
          if (alias?.aliasname) {
            // (a JOIN b) AS j(x, y): the column list renames the join's columns too. The
            // alias hides the names inside the join.
            const shape = joinShape();
            level.items.splice(start);
            level.items.push({
              alias: alias.aliasname,
              shape: renameShape(shape, names(alias.colnames)),
            });
          } else if (usingAlias?.aliasname) {
            // a JOIN b USING (id) AS x: x names the merged columns, and a and b stay
            // visible. x.col is taken as any column of either side, and x.* as columns
            // not known (PostgreSQL allows the USING columns only).
            level.items.push({
              alias: usingAlias.aliasname,
              shape: { ...joinShape(), inexact: 'names' },
              qualifiedOnly: true,
            });
          }
        },
      ];
      this.pushAll(tasks);
      return;
    }
    if (t === 'RangeTableSample') {
      // Its arguments see neither the table sampled nor the FROM items before it: they are
      // not LATERAL (PostgreSQL skips the level's lateral-only items there), so a name there
      // is an outer query's, even where an item before it has a column of that name
      // (`FROM (SELECT 1 AS card) s, t TABLESAMPLE SYSTEM (length(card))` reads the outer
      // card; `c.card` with an item c before it reads the outer query's c).
      const outer: Ctx = { ...c, level: level.parent, clause: 'select', derived: true };
      // The method is a function PostgreSQL calls (its handler): an extension's
      // (tsm_system_time's system_time, in the search_path schema) is listed as one; the
      // built-in SYSTEM and BERNOULLI are part of the syntax.
      const method = names(b.method);
      const m = method[method.length - 1];
      if (!(BUILTIN_SAMPLING.has(m) && (method.length === 1 || method[0] === 'pg_catalog')))
        this.addCall(method);
      this.stack.push(() => this.fromItem(b.relation, c, level));
      this.stack.push({ n: b.args, c: outer });
      this.stack.push({ n: b.repeatable, c: outer });
      return;
    }
    // XMLTABLE, JSON_TABLE and anything else: walk it, name it.
    // Its arguments see the FROM items before it, not itself (a name there is another's).
    const alias = b.alias ? body(b.alias) : undefined;
    // The columns it declares are its columns (unless an alias renames them): t.name is
    // then a column, not a call of name(t).
    const shape = newShape();
    if (!alias?.colnames)
      for (const name of declaredColumns(b.columns))
        shape.cols.push({ name, origins: [], derived: true });
    this.stack.push(() => level.items.push({ alias: alias?.aliasname ?? '', shape, open: true }));
    this.stack.push({ n, c: { ...c, level, clause: 'select', derived: true } });
  }

  /** A RangeVar as FROM item (or DML target): a CTE reference or a reported relation. */
  private relItem(rv: N, access: Access, c: Ctx, allowCte: boolean): ScopeItem | undefined {
    const alias = rv.alias ? body(rv.alias) : undefined;
    if (allowCte && !rv.schemaname && !rv.catalogname) {
      const shape = findCte(c.ctes, String(rv.relname));
      if (shape) {
        return {
          alias: alias?.aliasname ?? rv.relname,
          shape: renameShape(shape, names(alias?.colnames)),
        };
      }
    }
    const r = this.relation(rv, access);
    const item: ScopeItem = {
      alias: alias?.aliasname ?? rv.relname,
      rel: { schema: r.schema, name: r.name },
    };
    if (alias?.aliasname) item.aliased = true;
    if (alias?.colnames?.length) {
      item.renamed = true;
      item.aliasCols = names(alias.colnames);
    }
    return item;
  }

  private relation(rv: N, access: Access): { schema: string; name: string } {
    const r = resolveRelation(rv, this.searchPath);
    const fact: import('./types.js').RelationFact = {
      schema: r.schema,
      name: r.name,
      kind: r.kind,
      access,
    };
    if (r.catalog !== undefined) fact.catalog = r.catalog;
    if (r.unqualified) fact.unqualified = true;
    this.out.addRelation(fact);
    return r;
  }

  private into(ic: N): void {
    if (!ic?.rel) return;
    this.out.selectInto = true;
    this.relation(body(ic.rel), 'write');
  }

  private locking(list: unknown, level: Level): void {
    if (!Array.isArray(list)) return;
    this.out.locking = true;
    for (const x of list) {
      const lc = body(x);
      const locked = Array.isArray(lc.lockedRels) ? lc.lockedRels : [];
      const targets: { schema: string; name: string }[] = [];
      if (locked.length === 0) {
        for (const r of this.out.readRelations()) targets.push(r);
      } else {
        for (const rv of locked) {
          const want = body(rv).relname;
          for (const it of level.items) {
            if (it.alias !== want) continue;
            if (it.rel) targets.push(it.rel);
            for (const o of it.shape ? originsOf(it, '*') : [])
              targets.push({ schema: o.schema, name: o.table });
          }
        }
      }
      for (const r of targets) {
        this.out.addRelation({
          schema: r.schema,
          name: r.name,
          kind: 'table',
          access: 'write',
          locking: true,
        });
      }
    }
  }

  // ---- expressions ----------------------------------------------------------------------

  private targetList(list: unknown, lc: Ctx, clause: Clause, forceDerived: boolean): void {
    if (!Array.isArray(list)) return;
    const tasks: Task[] = [];
    for (const x of list) {
      const rt = body(x);
      const v = rt.val;
      if (nodeType(v) === 'ColumnRef')
        tasks.push({ n: v, c: { ...lc, clause, derived: forceDerived } });
      else tasks.push({ n: v, c: { ...lc, clause, derived: true } });
    }
    this.pushAll(tasks);
  }

  /** Output shape of a target list, for lineage through subqueries and CTEs. */
  private shapeOf(list: unknown, level: Level, out: Shape, forceDerived: boolean): void {
    if (!Array.isArray(list)) return;
    for (const x of list) {
      const rt = body(x);
      const v = rt.val;
      if (nodeType(v) === 'ColumnRef') {
        const f = names(v.ColumnRef.fields);
        if (f[f.length - 1] === '*') {
          const items = this.itemsFor(f.slice(0, -1), level);
          // A bare * over a USING or NATURAL join: its join columns merged, in front.
          if (f.length === 1 && innermost(level)?.merged) out.inexact = worse(out.inexact, 'order');
          for (const it of items) {
            if (it.open) out.inexact = 'names';
            if (it.rel) out.stars.push(it.rel);
            else if (it.shape) {
              // Each column a `*` brings is a fact to carry: a CTE of `*` over itself
              // twice doubles them per level (23 levels: 8 million, 2 GB).
              this.spend(it.shape.cols.length + it.shape.stars.length);
              for (const col of it.shape.cols)
                out.cols.push({ ...col, derived: col.derived || forceDerived });
              out.stars.push(...it.shape.stars);
              out.inexact = worse(out.inexact, it.shape.inexact);
            }
          }
          continue;
        }
        const origins = this.resolve(f, level).filter((o) => o.column !== '*');
        out.cols.push({ name: rt.name ?? f[f.length - 1], origins, derived: forceDerived });
      } else {
        // (x).* expands to columns of unknown number and names.
        if (isStar(v)) out.inexact = 'names';
        out.cols.push({ name: rt.name ?? null, origins: [], derived: true });
      }
    }
  }

  private reportShape(shape: Shape, clause: Clause): void {
    for (const col of shape.cols) {
      for (const o of col.origins)
        this.column({ schema: o.schema, name: o.table }, o.column, clause, true);
    }
  }

  private columnRef(b: N, c: Ctx): void {
    this.resolveAndReport(names(b.fields), c);
  }

  private resolveAndReport(fields: string[], c: Ctx): void {
    const level = c.level;
    if (!level) return;
    // Only a name that certainly binds to the rows written bounds them: one that may be
    // another item's (a subquery's table may have the column too) does not.
    const target = this.inDmlWhere && c.clause === 'where' ? this.dmlTarget : undefined;
    if (target && !this.whereNamesTarget && this.bindsToTarget(fields, level, target))
      this.whereNamesTarget = true;
    const origins = this.resolve(fields, level);
    for (const o of origins) {
      this.out.addColumn({
        schema: o.schema,
        table: o.table,
        column: o.column,
        clause: c.clause,
        ...(c.derived || o.derived ? { derived: true } : {}),
        ...(o.ambiguous || c.ambiguous ? { ambiguous: true } : {}),
      });
    }
  }

  private column(
    rel: { schema: string; name: string },
    column: string,
    clause: Clause,
    derived: boolean,
  ): void {
    this.out.addColumn({
      schema: rel.schema,
      table: rel.name,
      column,
      clause,
      ...(derived ? { derived } : {}),
    });
  }

  /** FROM items a qualifier names (all items of the innermost non-empty level when none). */
  private itemsFor(qual: string[], level: Level): ScopeItem[] {
    if (qual.length === 0) return innermost(level)?.items.filter((it) => !it.qualifiedOnly) ?? [];
    const alias = qual[qual.length - 1];
    const schema = qual.length >= 2 ? qual[qual.length - 2] : undefined;
    for (let l: Level | null = level; l; l = l.parent) {
      // A schema-qualified name (s.t.col) names a relation without an alias only.
      const hits = l.items.filter(
        (it) => it.alias === alias && (!schema || (it.rel?.schema === schema && !it.aliased)),
      );
      if (hits.length) return hits;
    }
    return [];
  }

  /**
   * Whether a FROM item certainly has no column `col`: a base relation the catalog lists
   * without one, or a subquery whose output names are all known (through the catalog for
   * a `*` it passes on) and none is `col`.
   */
  private lacksColumn(it: ScopeItem, col: string): boolean {
    const cat = this.catalog;
    if (it.rel)
      // Renamed (orders AS o(a, b)): it lacks a name that is neither an alias nor any of
      // its columns (one of which the aliases may have renamed away).
      return (
        cat !== undefined &&
        cat.lacksColumn(it.rel.schema, it.rel.name, col) &&
        !it.aliasCols?.includes(col)
      );
    const s = it.shape;
    if (!s || it.open || it.qualifiedOnly || s.inexact === 'names') return false;
    if (s.cols.some((c) => c.name === col || c.name === null || c.maybe)) return false;
    return s.stars.every((r) => cat !== undefined && cat.lacksColumn(r.schema, r.name, col));
  }

  /** Whether a FROM item certainly has a column `col` (the catalog's, a subquery's). */
  private hasColumn(it: ScopeItem, col: string): boolean {
    if (it.rel)
      return it.renamed
        ? it.aliasCols?.includes(col) === true
        : this.catalog?.columns(it.rel.schema, it.rel.name)?.has(col) === true;
    return knownColumn(it, col);
  }

  /**
   * The rows a top-level UPDATE or DELETE writes (its target), and whether its WHERE
   * certainly names a column of them.
   */
  private dmlTarget: ScopeItem | undefined;
  private inDmlWhere = false;
  whereNamesTarget = false;

  /**
   * Whether a column reference certainly binds to the DML target: qualified by its name
   * (the innermost item of that name), or unqualified where, at the innermost level with an
   * item that may have the column, the target is the only one. The catalog tells a table
   * that lacks the column (`UPDATE orders … FROM customers c WHERE customer_id = c.id`:
   * customer_id is orders'); without it, any other table may have it, and the name is not
   * certainly the target's (`DELETE FROM kind WHERE EXISTS (SELECT 1 FROM gear WHERE id = 1)`
   * reads gear's id).
   */
  private bindsToTarget(fields: string[], level: Level, target: ScopeItem): boolean {
    const col = fields[fields.length - 1];
    if (fields.length > 1) {
      const items = this.itemsFor(fields.slice(0, -1), level);
      return items.length === 1 && items[0] === target;
    }
    for (let l: Level | null = level; l; l = l.parent) {
      const cands = l.items.filter(
        (it) => !it.qualifiedOnly && !this.lacksColumn(it, col) && mayHave(it, col),
      );
      if (cands.length) return cands.length === 1 && cands[0] === target;
    }
    return false;
  }

  /** Origins of a column reference (fields as written). */
  private resolve(fields: string[], level: Level): Origin[] {
    if (fields.length === 0) return [];
    const col = fields[fields.length - 1];
    if (fields.length > 1) {
      const items = this.itemsFor(fields.slice(0, -1), level);
      if (items.length === 0) {
        // A qualifier that names no FROM item: keep what was written.
        const q = fields.slice(0, -1);
        return [
          { schema: q.length >= 2 ? q[q.length - 2] : '', table: q[q.length - 1], column: col },
        ];
      }
      const out: Origin[] = [];
      this.spend(items.length);
      for (const it of items) out.push(...originsOf(it, col));
      if (col !== '*')
        for (const it of items) {
          // An item whose column names are not known (a join alias or subquery over a table
          // beside a function, a set operation's arm): t.f may name no column of it, and is
          // then PostgreSQL's f(t), a function (hstore, a computed field) of the whole row.
          // The column candidates above are all ambiguous, so the whole row is one too.
          if (it.rel || it.qualifiedOnly || it.shape?.inexact !== 'names') continue;
          for (const o of originsOf(it, '*')) out.push({ ...o, derived: true, ambiguous: true });
        }
      if (col !== '*' && !wholeRowFunction(col)) {
        // An item known to have no column f (from the catalog, or a subquery whose output
        // names are all known): t.f is certainly f(t), a function (hstore, a computed field)
        // of its whole row, found as an unqualified function name is.
        const lacking = items.filter((it) => this.lacksColumn(it, col));
        if (lacking.length) {
          // Called with the row, whose value the gateway does not see: the facts of f(x).
          this.callee([col], [undefined]);
          for (const it of lacking)
            for (const o of originsOf(it, '*')) out.push({ ...o, derived: true, ambiguous: true });
        } else if (
          functionEffect('pg_catalog', col) === 'side_effect' &&
          items.some((it) => !this.hasColumn(it, col))
        ) {
          // A built-in with side effects (t.pg_read_file over unnest(ARRAY['/etc/passwd']) t,
          // t.pg_cancel_backend): a call unless t certainly has such a column. Built-ins
          // that only compute are not listed for a t whose columns are not known: they show
          // what the row already shows.
          this.out.addFunction({ schema: 'pg_catalog', name: col, effect: 'side_effect' });
        } else if (items.some((it) => it.open && !knownColumn(it, col))) {
          // A function in FROM whose columns are not known may return one plain value
          // (unnest(ARRAY['port']) t, CAST('x' AS text) t): t is then that value, and
          // t.current_setting is current_setting(t), a call of any function of the name.
          const r = resolveFunction([col], this.searchPath);
          if (r.schema === 'pg_catalog' || this.catalog?.hasFunction(r.schema, col))
            this.callee([col], [undefined]);
        }
      }
      if (wholeRowFunction(col)) {
        // t.f (s.t.f, d.s.t.f) is also PostgreSQL's notation for f(t) when t has no column
        // f: a function of the whole row (c.row_to_json reads every column of c).
        this.out.addFunction({
          schema: 'pg_catalog',
          name: col,
          effect: functionEffect('pg_catalog', col),
        });
        for (const it of items)
          for (const o of originsOf(it, '*')) out.push({ ...o, derived: true, ambiguous: true });
      }
      return col === '*' ? out.map((o) => ({ ...o })) : out;
    }
    if (col === '*') {
      const out: Origin[] = [];
      for (const it of this.itemsFor([], level)) out.push(...originsOf(it, '*'));
      return out;
    }
    const out: Origin[] = [];
    // A bare name equal to a FROM item's name may be a whole-row reference (row_to_json(c)).
    for (let l: Level | null = level; l; l = l.parent) {
      const whole = l.items.filter((it) => it.alias === col);
      if (whole.length) {
        for (const it of whole)
          for (const o of originsOf(it, '*')) out.push({ ...o, derived: true });
        break;
      }
    }
    // PostgreSQL binds the name in the innermost query level whose FROM items have such a
    // column. Without the catalog the columns of a base relation (or of a "*" passed on)
    // are unknown, so a level that supplies it only that way may not be the one: the
    // outer levels are candidates too (a correlated reference), and every candidate is
    // reported, marked ambiguous.
    const found: Origin[] = [];
    const seen = new Set<string>();
    let levels = 0;
    for (let l: Level | null = level; l; l = l.parent) {
      this.spend(l.items.length);
      const visible = l.items.filter((it) => !it.qualifiedOnly);
      if (visible.length === 0) continue;
      const cands = visible.length === 1 ? visible : visible.filter((it) => mayHave(it, col));
      if (cands.length === 0) continue;
      // Beside an item known to have the column (a function's, a subquery's), a table's
      // column of that name is only a candidate; so it is beside a function whose columns
      // are not known. (Never dropped: the scopes here over-approximate what PostgreSQL
      // lets a name see, so dropping one could hide the column it really binds to.)
      const merged = l.merged === 'all' || l.merged?.has(col);
      const openBeside =
        cands.length > 1 && !merged && cands.some((it) => it.open || knownColumn(it, col));
      const os: Origin[] = [];
      for (const it of cands) {
        for (const o of originsOf(it, col)) {
          // The same base column through two aliases is one candidate.
          const k = `${o.schema}\0${o.table}\0${o.column}`;
          if (!seen.has(k)) {
            seen.add(k);
            os.push(o);
          }
        }
      }
      const known = cands.some((it) => knownColumn(it, col));
      if (os.length === 0 && !known && cands.length === 1 && !cands[0].rel && l.parent) continue;
      levels++;
      for (const o of os) found.push(os.length > 1 || openBeside ? { ...o, ambiguous: true } : o);
      if (known) break;
    }
    // A name that is also a FROM item's is a column only if that item has one of the name;
    // else it is the whole row (reported above): the column is a candidate, not certain.
    const maybeWholeRow = out.length > 0;
    for (const o of found)
      out.push((levels > 1 || maybeWholeRow) && !o.ambiguous ? { ...o, ambiguous: true } : o);
    return out;
  }

  /**
   * A type named in a cast, a column definition or a PREPARE parameter: a reg* type is a
   * lookup (see typeLookup), a type of the database's own a relation of kind "type".
   */
  typeName(typ: string[]): void {
    const name = typ[typ.length - 1];
    if (!name) return;
    const schema = typ.length >= 2 ? typ[typ.length - 2] : undefined;
    if (schema === undefined || schema === 'pg_catalog') this.lookup(typeLookup(name));
    if (schema === 'pg_catalog' || (schema === undefined && CATALOG_TYPES.has(name))) {
      // A catalog's row type (NULL::pg_sequences, '(…)'::pg_class[]) holds reg* and aclitem
      // fields, which convert names and OIDs implicitly: reported as that catalog, kind "type".
      const rel = name.replace(/^_/, '');
      if (Object.hasOwn(PG_CATALOG_RELATIONS, rel))
        this.out.addRelation({ schema: 'pg_catalog', name: rel, kind: 'type', access: 'read' });
      return;
    }
    // A type of the database's own runs code the gateway cannot see (a domain's CHECK, a
    // cast function), and a table's row type shows the table's columns: reported as a
    // relation of kind "type", resolved as a relation name would be.
    const r = resolveRelation(
      schema === undefined ? { relname: name } : { schemaname: schema, relname: name },
      this.searchPath,
    );
    const fact: import('./types.js').RelationFact = {
      schema: r.schema,
      name: r.name,
      kind: 'type',
      access: 'read',
    };
    if (r.unqualified) fact.unqualified = true;
    this.out.addRelation(fact);
  }

  /** A catalog lookup (see typeLookup), reported as the function that does the same. */
  private lookup(fn: string | undefined): void {
    if (fn)
      this.out.addFunction({
        schema: 'pg_catalog',
        name: fn,
        effect: functionEffect('pg_catalog', fn),
      });
  }

  private funcCall(b: N, c: Ctx): void {
    this.callee(names(b.funcname), (b.args ?? []) as unknown[], b);
    const dc: Ctx = { ...c, derived: true };
    const tasks: Task[] = [
      { n: b.args, c: dc },
      { n: b.agg_order, c: dc },
      { n: b.agg_filter, c: { ...dc, clause: 'where' } },
      { n: b.over, c: dc },
    ];
    this.pushAll(tasks);
  }

  /**
   * `(x).f`: PostgreSQL calls f(x) when x is not a composite with a field f, whatever x's
   * type (`('/etc/passwd'::text).lo_import`, `(pid).pg_cancel_backend`, `(c).hstore`). Each
   * field is listed as the call it may be when pg_catalog has a function of that name, or
   * the catalog shows the search_path schema has one (field names that are neither are
   * fields). The expression itself is walked as usual.
   */
  private fieldCalls(b: N): void {
    const ind = (b.indirection ?? []) as N[];
    let args: unknown[] = [b.arg];
    for (const step of ind) {
      const f = nodeType(step) === 'String' ? (step.String as N).sval : undefined;
      if (typeof f === 'string') {
        const r = resolveFunction([f], this.searchPath);
        if (r.schema === 'pg_catalog' || this.catalog?.hasFunction(r.schema, f))
          this.callee([f], args, b);
      }
      // Later steps apply to a value the gateway does not see.
      args = [undefined];
    }
  }

  /** List the function `parts` resolves to, and a search_path one it may run in its place. */
  private addCall(parts: readonly string[]): { schema: string; name: string } {
    const r = resolveFunction(parts, this.searchPath);
    // A function named without its schema is found by search_path (pg_catalog's first).
    if (parts.length === 1 && r.schema !== 'pg_catalog') this.out.callsByPath = true;
    this.out.addFunction({
      schema: r.schema,
      name: r.name,
      effect: functionEffect(r.schema, r.name),
    });
    const shadow = this.shadowingSchema(parts, r.schema, 'function');
    if (shadow !== undefined)
      this.out.addFunction({ schema: shadow, name: r.name, effect: 'unknown' });
    return r;
  }

  /**
   * The facts of calling function `parts` with `args` (not walked here); `b`, the call's
   * node, when written as one (t.f, a function of t's value, is not).
   */
  private callee(parts: string[], args: unknown[], b?: N): void {
    const r = this.addCall(parts);
    if (r.schema === 'pg_catalog') {
      // query_to_xml('…'), cursor_to_xml('c', …), table_to_xml(t, …), ts_stat('…'): they run
      // a query given as text, or read a cursor or tables by name, where the gateway cannot
      // see what they read.
      if (READS_BY_NAME.has(r.name)) this.out.opaque = true;
      this.lookup(functionLookup(r.name));
      if (!b || !this.printed.has(b)) this.lookup(resultLookup(r.name));
    }
    if (r.schema === 'pg_catalog' && args.length >= (NAMED_BY_FIRST_ARG.get(r.name) ?? Infinity)) {
      // to_tsvector('s.cfg', …), ts_parse('s.prs', …): a text search configuration or
      // parser named by a string looks it up, and the error tells whether schema s exists.
      const n0 = untyped(unnamed(args[0]));
      const sval = bareString(n0);
      if (sval !== undefined) this.out.literalSensitive = true;
      if (sval !== undefined ? sval.includes('.') : nodeType(n0) === 'ParamRef')
        this.lookup('to_regnamespace');
    }
    if (r.schema === 'pg_catalog' && r.name === 'current_setting') {
      // current_setting('name'): which setting is read; facts now depend on the literal.
      const sval = bareString(untyped(unnamed(args[0])));
      if (sval !== undefined) this.out.literalSensitive = true;
      this.out.settingsRead.add(sval ?? null);
    }
    if (r.schema === 'pg_catalog' && r.name === 'set_config') {
      // set_config('name', …): which setting is set; facts now depend on the literal.
      const sval = bareString(untyped(unnamed(args[0])));
      if (sval !== undefined) this.out.literalSensitive = true;
      this.out.settingsSet.add(sval ?? null);
    }
    const seqAccess = r.schema === 'pg_catalog' ? SEQUENCE_FUNCS[r.name] : undefined;
    if (seqAccess) {
      // nextval('orders_id_seq'): the sequence is named by a literal; facts now depend on it.
      // The text as PostgreSQL reads it into the regclass: through casts that keep it whole.
      const sval = bareString(untyped(unnamed(args[0]), NAME_KEEPING_TYPES));
      if (sval !== undefined) this.out.literalSensitive = true;
      const named = sval === undefined ? undefined : regclassName(sval);
      // A sequence named at run time (or by OID) cannot be checked: any relation it names is
      // locked (or written), and its errors alone tell whether a relation exists.
      if (named === undefined && args.length) this.out.opaque = true;
      if (named !== undefined) {
        const rr = resolveRelation(
          named.schema === undefined
            ? { relname: named.name }
            : { schemaname: named.schema, relname: named.name },
          this.searchPath,
        );
        this.out.addRelation({
          schema: rr.schema,
          name: rr.name,
          kind: 'sequence',
          access: seqAccess,
          ...(rr.unqualified ? { unqualified: true } : {}),
        });
      }
    }
  }

  private windowDef(b: N, c: Ctx): void {
    this.pushAll([
      { n: b.partitionClause, c: { ...c, clause: 'group', derived: true } },
      { n: b.orderClause, c: { ...c, clause: 'order', derived: true } },
      { n: b.startOffset, c },
      { n: b.endOffset, c },
    ]);
  }

  /**
   * An operator runs a function. OPERATOR(schema.op) names that schema's; an unqualified
   * operator symbol that pg_catalog does not define can only be a user-defined operator
   * found on the search path (a built-in symbol may also be overloaded there for other
   * types, which the gateway cannot see without the catalog).
   */
  private operator(op: string[]): void {
    const name = op[op.length - 1];
    if (name === undefined) return;
    if (op.length >= 2) {
      const schema = op[op.length - 2];
      this.out.addFunction({ schema, name, effect: schema === 'pg_catalog' ? 'read' : 'unknown' });
    } else if (!BUILTIN_OPERATORS.has(name)) {
      const r = resolveFunction([name], this.searchPath);
      this.out.addFunction({ schema: r.schema, name, effect: 'unknown' });
    } else {
      const shadow = this.shadowingSchema(op, 'pg_catalog', 'operator');
      if (shadow !== undefined) this.out.addFunction({ schema: shadow, name, effect: 'unknown' });
    }
  }

  /**
   * The search_path schema whose function (or operator) of the same name PostgreSQL may
   * call in place of pg_catalog's, for an unqualified name taken as pg_catalog's: it runs
   * one of that schema's when its argument types match better (`lower(x::varchar)` and a
   * `public.lower(varchar)`). Known only from the catalog.
   */
  private shadowingSchema(
    parts: readonly string[],
    resolved: string,
    kind: 'function' | 'operator',
  ): string | undefined {
    const cat = this.catalog;
    if (!cat || parts.length !== 1 || resolved !== 'pg_catalog') return undefined;
    const schema = this.searchPath[0];
    if (schema === undefined || schema === 'pg_catalog') return undefined;
    const name = parts[0];
    return (kind === 'function' ? cat.hasFunction(schema, name) : cat.hasOperator(schema, name))
      ? schema
      : undefined;
  }

  /** The operator of ORDER BY … USING op. */
  private sortOperator(item: unknown): void {
    const useOp = nodeType(item) === 'SortBy' ? (item as N).SortBy.useOp : undefined;
    if (useOp) this.operator(names(useOp));
  }

  private subLink(b: N, c: Ctx): void {
    // x op ANY / ALL (SELECT …): the operator runs a function too; x IN (SELECT …) is = ANY.
    if (b.operName) this.operator(names(b.operName));
    else if (b.subLinkType === 'ANY_SUBLINK') this.operator(['=']);
    const dc: Ctx = { ...c, derived: true };
    this.pushAll([{ n: b.testexpr, c: dc }, () => this.query(b.subselect, dc, newShape(), true)]);
  }
}

/**
 * Union of two lineage lists without duplicates, capped: a long UNION chain would
 * otherwise copy ever-growing lists at every level. Each branch has already reported
 * its own columns, so a capped list only loses redundant pass-through facts.
 */
const LINEAGE_CAP = 256;
function mergeCapped<T>(a: readonly T[], b: readonly T[], key: (x: T) => string): T[] {
  const out: T[] = [];
  const seen = new Set<string>();
  for (const list of [a, b]) {
    for (const x of list) {
      if (out.length >= LINEAGE_CAP) return out;
      const k = key(x);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(x);
    }
  }
  return out;
}
const originKey = (o: Origin): string =>
  `${o.schema}\0${o.table}\0${o.column}\0${o.derived ? 1 : 0}`;
const relKey = (r: { schema: string; name: string }): string => `${r.schema}\0${r.name}`;

function plainDistinct(list: unknown): boolean {
  return (
    Array.isArray(list) &&
    list.length > 0 &&
    list.every((x) => !x || (typeof x === 'object' && Object.keys(x as object).length === 0))
  );
}

/**
 * WITH RECURSIVE items may name later ones; PostgreSQL analyses them in the order they
 * depend on each other, so their output shapes (lineage) are built in that order too.
 * (Mutual recursion is not allowed; a cycle keeps the written order.)
 */
function dependencyOrder(ctes: N[]): N[] {
  const names = new Set(ctes.map((c) => String(c.ctename ?? '')));
  const deps = ctes.map((c) => {
    const own = String(c.ctename ?? '');
    const out = new Set<string>();
    // A name an inner WITH defines is that CTE's, not a sibling's, in all the inner WITH
    // covers (a false dependency would walk a CTE before one it really reads).
    const todo: [unknown, ReadonlySet<string>][] = [[c.ctequery, new Set()]];
    while (todo.length) {
      const [n, hidden] = todo.pop()!;
      if (!n || typeof n !== 'object') continue;
      if (Array.isArray(n)) {
        for (const x of n) todo.push([x, hidden]);
        continue;
      }
      const o = n as N;
      let inner = hidden;
      const w = o.withClause ? body(o.withClause) : undefined;
      if (Array.isArray(w?.ctes)) {
        inner = new Set(hidden);
        for (const x of w.ctes as N[]) (inner as Set<string>).add(String(body(x)?.ctename ?? ''));
      }
      if (
        typeof o.relname === 'string' &&
        !o.schemaname &&
        o.relname !== own &&
        names.has(o.relname) &&
        !hidden.has(o.relname)
      )
        out.add(o.relname);
      for (const k in o) if (o[k] && typeof o[k] === 'object') todo.push([o[k], inner]);
    }
    return out;
  });
  const byName = new Map(ctes.map((c, i) => [String(c.ctename ?? ''), i]));
  const done = new Set<number>();
  const visiting = new Set<number>();
  const order: N[] = [];
  const visit = (i: number): void => {
    if (done.has(i) || visiting.has(i)) return;
    visiting.add(i);
    for (const d of deps[i]) visit(byName.get(d)!);
    visiting.delete(i);
    done.add(i);
    order.push(ctes[i]);
  };
  for (let i = 0; i < ctes.length; i++) visit(i);
  return order;
}

/**
 * The items of a GROUP BY / ORDER BY / DISTINCT ON list, with ROLLUP, CUBE, GROUPING SETS
 * and a parenthesised row unpacked: PostgreSQL resolves positions and output names
 * inside them as at the top level.
 */
function clauseItems(list: unknown): N[] {
  const out: N[] = [];
  if (!Array.isArray(list)) return out;
  const todo: N[] = [...(list as N[])];
  while (todo.length) {
    const x = todo.shift()!;
    const t = nodeType(x);
    if (t === 'GroupingSet') todo.unshift(...((x.GroupingSet.content ?? []) as N[]));
    else if (t === 'RowExpr') todo.unshift(...((x.RowExpr.args ?? []) as N[]));
    else out.push(x);
  }
  return out;
}

/** Set-returning functions of one scalar column, named for the alias (or the function). */
const SCALAR_SRF = new Set([
  'generate_series',
  'generate_subscripts',
  'regexp_split_to_table',
  'string_to_table',
]);
/** ... and those whose one column is named for their OUT parameter, alias or not. */
const SCALAR_SRF_OUT: Record<string, string> = {
  jsonb_array_elements: 'value',
  jsonb_array_elements_text: 'value',
  json_array_elements: 'value',
  json_array_elements_text: 'value',
};

/**
 * A function in FROM as a scope item: the output columns it is known to have (an alias
 * column list, a column definition list, the one column of a known scalar function), and
 * whether it may have others.
 */
/** Column names an XMLTABLE or JSON_TABLE declares (JSON_TABLE's NESTED ones too). */
function declaredColumns(cols: unknown): string[] {
  const out: string[] = [];
  for (const c of (cols ?? []) as N[]) {
    const x = body(c);
    const name = x?.colname ?? x?.name;
    if (typeof name === 'string') out.push(name);
    if (x?.columns) out.push(...declaredColumns(x.columns));
  }
  return out;
}

/** TABLESAMPLE methods of pg_catalog. */
const BUILTIN_SAMPLING = new Set(['system', 'bernoulli']);

function functionItem(b: N, alias: N | undefined, first: string): ScopeItem {
  const known: string[] = names(alias?.colnames);
  let open = true;
  for (const d of b.coldeflist ?? []) {
    const n = body(d)?.colname;
    if (typeof n === 'string' && !known.includes(n)) known.push(n);
    open = false;
  }
  const fns = (b.functions ?? []) as N[];
  const fc = fns.length === 1 ? body(fns[0])?.items?.[0] : undefined;
  if (!b.coldeflist && nodeType(fc) === 'FuncCall' && !b.ordinality) {
    const parts = names(fc.FuncCall.funcname);
    const name = parts[parts.length - 1];
    const schema = parts.length > 1 ? parts[parts.length - 2] : 'pg_catalog';
    if (schema === 'pg_catalog' && (SCALAR_SRF.has(name) || name in SCALAR_SRF_OUT)) {
      if (known.length === 0) known.push(SCALAR_SRF_OUT[name] ?? alias?.aliasname ?? name);
      open = false;
    }
  }
  return {
    alias: alias?.aliasname ?? first,
    shape: { cols: known.map((n) => ({ name: n, origins: [], derived: true })), stars: [] },
    open,
  };
}

/** The expression of an ORDER BY item (a SortBy), or the item itself. */
function unsort(x: N): N {
  return nodeType(x) === 'SortBy' ? x.SortBy.node : x;
}

/** `*` or `t.*` (not `(expr).*`, whose columns are the expression's). */
function isColumnStar(v: unknown): boolean {
  return nodeType(v) === 'ColumnRef' && isStar(v);
}

/** A select-list entry that expands to columns of unknown number: `*`, `t.*`, `(x).*`. */
function isStar(v: unknown): boolean {
  if (nodeType(v) === 'A_Indirection') {
    const ind = ((v as N).A_Indirection.indirection ?? []) as N[];
    return ind.length > 0 && nodeType(ind[ind.length - 1]) === 'A_Star';
  }
  if (nodeType(v) !== 'ColumnRef') return false;
  const f = names((v as N).ColumnRef.fields);
  return f[f.length - 1] === '*';
}

/**
 * A select-list entry's output name as PostgreSQL figures it (its alias, a column's or a
 * function's name, through casts), or undefined where this does not know it.
 */
function outputName(rt: N): string | undefined {
  if (typeof rt.name === 'string') return rt.name;
  let v = rt.val;
  while (nodeType(v) === 'TypeCast' || nodeType(v) === 'CollateClause') {
    const inner = nodeType(v) === 'TypeCast' ? (v as N).TypeCast.arg : (v as N).CollateClause.arg;
    // A cast of anything but a column or function is named for its type ('x'::text is
    // "text", (a + 0)::int "int4"): not worked out here.
    const k = nodeType(inner);
    if (nodeType(v) === 'TypeCast' && k !== 'ColumnRef' && k !== 'FuncCall' && k !== 'TypeCast')
      return undefined;
    v = inner;
  }
  switch (nodeType(v)) {
    case 'ColumnRef': {
      const f = names((v as N).ColumnRef.fields);
      return f[f.length - 1] === '*' ? undefined : f[f.length - 1];
    }
    case 'FuncCall': {
      const f = names((v as N).FuncCall.funcname);
      return f[f.length - 1];
    }
    case 'A_Expr':
      // NULLIF(a, b) is "nullif".
      return (v as N).A_Expr.kind === 'AEXPR_NULLIF' ? 'nullif' : '?column?';
    case 'A_Const':
    case 'BoolExpr':
    case 'NullTest':
    case 'BooleanTest':
    case 'ParamRef':
      return '?column?';
    case 'CaseExpr':
      // Named after its ELSE result when that has a name of its own: not worked out here.
      return undefined;
    case 'CoalesceExpr':
      return 'coalesce';
    case 'RowExpr':
      return 'row';
    case 'A_ArrayExpr':
      return 'array';
    case 'GroupingFunc':
      return 'grouping';
    default:
      return undefined;
  }
}

/**
 * The commands a data-modifying statement runs (INSERT … ON CONFLICT DO UPDATE is an
 * UPDATE too); none for another node.
 */
export function writesOf(n: unknown): string[] {
  const t = nodeType(n);
  if (!t || !DML.has(t)) return [];
  const b = (n as N)[t];
  const out = [t.replace(/Stmt$/, '').toUpperCase()];
  if (b.onConflictClause && body(b.onConflictClause)?.action === 'ONCONFLICT_UPDATE')
    out.push('UPDATE');
  return out;
}

/** An argument's value, past a name given to it (f(x => v)). */
function unnamed(n: unknown): unknown {
  return nodeType(n) === 'NamedArgExpr' ? (n as N).NamedArgExpr.arg : n;
}

const UNKNOWN_TYPE: ReadonlySet<string> = new Set(['unknown']);
/** Casts that give a regclass parameter the literal's text unchanged (not varchar(n), name). */
const NAME_KEEPING_TYPES: ReadonlySet<string> = new Set(['unknown', 'text', 'regclass']);

/**
 * What an argument is under casts to `unknown` (or `types`) and COLLATE clauses: PostgreSQL still reads
 * `'s.cfg'::unknown` or `'s.cfg' COLLATE "C"` as an untyped literal, which a function's
 * reg* parameter looks up by name as it does the bare literal.
 */
function untyped(n: unknown, types: ReadonlySet<string> = UNKNOWN_TYPE): unknown {
  for (;;) {
    const t = nodeType(n);
    if (t === 'CollateClause') n = (n as N).CollateClause.arg;
    else if (t === 'TypeCast') {
      const c = (n as N).TypeCast as N;
      const ty = c.typeName as N | undefined;
      const tn = ty ? names(ty.names) : [];
      if (
        (ty?.arrayBounds as unknown[] | undefined)?.length ||
        (ty?.typmods as unknown[] | undefined)?.length ||
        !types.has(tn[tn.length - 1]) ||
        !(tn.length === 1 || (tn.length === 2 && tn[0] === 'pg_catalog'))
      )
        return n;
      n = c.arg;
    } else return n;
  }
}

/**
 * The string a bare literal gives, else undefined. A cast is not bare: 'x'::varchar(3)
 * is not 'x'.
 */
function bareString(n: unknown): string | undefined {
  if (nodeType(n) !== 'A_Const') return undefined;
  const s = (n as N).A_Const.sval?.sval;
  return typeof s === 'string' ? s : undefined;
}

/** The innermost query level with FROM items: the one a bare name or `*` reads. */
function innermost(level: Level): Level | undefined {
  for (let l: Level | null = level; l; l = l.parent) if (l.items.length) return l;
  return undefined;
}
