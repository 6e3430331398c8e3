// A condition whose value its constants decide, read as PostgreSQL reads it: query builders
// write `WHERE 1 = 0` (or `0 = 1`, `false`) for an empty IN list, a write that touches no
// row; `WHERE id = 1 OR true` names a column yet touches every row.
import { body, nodeType } from './walk.js';

type N = Record<string, any>;

/**
 * The value of a condition of boolean and integer constants (comparisons, NOT, AND, OR),
 * whatever the rest is: `x OR true` is true and `x AND false` false, as PostgreSQL's
 * three-valued logic has them; `undefined` when the value depends on anything else (a
 * column, a function, a string, a cast, NULL).
 * `read.literals` is set when the value depends on a literal's value (`1 = 0` and `1 = 1`
 * are one text to a cache that ignores literals).
 * @example constantTruth(whereOf('DELETE FROM t WHERE 1 = 0'), {}) // false
 */
export function constantTruth(n: unknown, read: { literals?: boolean }): boolean | undefined {
  const t = nodeType(n);
  const b = body(n) as N | undefined;
  if (!b) return undefined;
  if (t === 'A_Const') return b.boolval ? b.boolval.boolval === true : undefined;
  if (t === 'BoolExpr') {
    const args = ((b.args ?? []) as unknown[]).map((a) => constantTruth(a, read));
    if (b.boolop === 'NOT_EXPR')
      return args.length === 1 && args[0] !== undefined ? !args[0] : undefined;
    if (b.boolop === 'AND_EXPR') {
      if (args.includes(false)) return false;
      return args.every((a) => a === true) ? true : undefined;
    }
    if (b.boolop === 'OR_EXPR') {
      if (args.includes(true)) return true;
      return args.every((a) => a === false) ? false : undefined;
    }
    return undefined;
  }
  if (t === 'BooleanTest') {
    // (1 = 1) IS TRUE, IS NOT FALSE: as its argument (a constant is never null here);
    // IS FALSE, IS NOT TRUE: its negation.
    const v = constantTruth(b.arg, read);
    const bt = b.booltesttype as string;
    if (v === undefined) return undefined;
    if (bt === 'IS_TRUE' || bt === 'IS_NOT_FALSE') return v;
    if (bt === 'IS_FALSE' || bt === 'IS_NOT_TRUE') return !v;
    return undefined;
  }
  if (t === 'A_Expr' && b.kind === 'AEXPR_OP' && b.name?.length === 1) {
    // Whether the value depends on literals must not depend on their values: texts that
    // differ only in literals share cached facts (1 > 0 and 0 > 10000000000 are one text).
    if (comparesConstants(n)) read.literals = true;
    const op = body(b.name[0])?.sval;
    const l = integer(b.lexpr);
    const r = integer(b.rexpr);
    const compare = op === undefined ? undefined : COMPARE[op];
    if (l === undefined || r === undefined || !compare) return undefined;
    return compare(l, r);
  }
  return undefined;
}

/**
 * Whether a condition may hold for every row whatever its columns hold: an OR arm that
 * names no column (`id = 1 OR 'a' = 'a'`, `OR now() > $1`, `OR $2`) unless its constants
 * make it false (`1 = 0`, as query builders write an empty IN list). Depends on the text's
 * shape only, not on its literals' values.
 * @example openCondition(whereOf("DELETE FROM t WHERE id = 1 OR 'a' = 'a'")) // true
 */
export function openCondition(n: unknown, read: { literals?: boolean }): boolean {
  // Which parts are visited depends on values (OR stops at its first open arm): any
  // comparison of constants anywhere makes the answer depend on literals.
  if (anyComparesConstants(n)) read.literals = true;
  return may(n, true);
}

/** A comparison of two constants (`1 = 0`): its value is its literals'. */
function comparesConstants(n: unknown): boolean {
  const b = body(n) as N | undefined;
  return (
    nodeType(n) === 'A_Expr' &&
    b?.kind === 'AEXPR_OP' &&
    nodeType(b.lexpr) === 'A_Const' &&
    nodeType(b.rexpr) === 'A_Const'
  );
}

function anyComparesConstants(n: unknown): boolean {
  if (!n || typeof n !== 'object') return false;
  if (Array.isArray(n)) return n.some(anyComparesConstants);
  if (comparesConstants(n)) return true;
  for (const k in n) if (anyComparesConstants((n as N)[k])) return true;
  return false;
}

/**
 * Whether a condition may be `value` for every row: a part that names no column may be
 * anything its constants do not rule out; a part that names one is taken to depend on it.
 * NOT swaps the two (NOT (id = 1 AND 'a' = 'b') may be true for every row).
 */
function may(n: unknown, value: boolean): boolean {
  const b = body(n) as N | undefined;
  if (nodeType(n) === 'BoolExpr' && b) {
    const args = (b.args ?? []) as unknown[];
    if (b.boolop === 'NOT_EXPR') return args.length === 1 && may(args[0], !value);
    const any = (b.boolop === 'OR_EXPR') === value;
    if (b.boolop === 'OR_EXPR' || b.boolop === 'AND_EXPR')
      return any ? args.some((a) => may(a, value)) : args.every((a) => may(a, value));
  }
  // (x) IS TRUE, IS NOT FALSE: as x (null read as false); IS FALSE, IS NOT TRUE: as NOT x.
  if (nodeType(n) === 'BooleanTest' && b) {
    const t = b.booltesttype as string;
    if (t === 'IS_TRUE' || t === 'IS_NOT_FALSE') return may(b.arg, value);
    if (t === 'IS_FALSE' || t === 'IS_NOT_TRUE') return may(b.arg, !value);
  }
  return !namesColumn(n) && constantTruth(n, {}) !== !value;
}

/** Whether a parse tree names a column anywhere in it (subqueries included). */
function namesColumn(n: unknown): boolean {
  if (!n || typeof n !== 'object') return false;
  if (Array.isArray(n)) return n.some(namesColumn);
  for (const k in n) {
    if (k === 'ColumnRef') return true;
    if (namesColumn((n as N)[k])) return true;
  }
  return false;
}

const COMPARE: Record<string, (l: number, r: number) => boolean> = {
  '=': (l, r) => l === r,
  '<>': (l, r) => l !== r,
  '!=': (l, r) => l !== r,
  '<': (l, r) => l < r,
  '>': (l, r) => l > r,
  '<=': (l, r) => l <= r,
  '>=': (l, r) => l >= r,
};

/** An integer constant (`0` has an empty ival); `undefined` for anything else. */
function integer(n: unknown): number | undefined {
  if (nodeType(n) !== 'A_Const') return undefined;
  const iv = (body(n) as N).ival;
  if (!iv) return undefined;
  return typeof iv.ival === 'number' ? iv.ival : 0;
}
