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
  if (t === 'A_Expr' && b.kind === 'AEXPR_OP' && b.name?.length === 1) {
    const op = body(b.name[0])?.sval;
    const l = integer(b.lexpr);
    const r = integer(b.rexpr);
    const compare = op === undefined ? undefined : COMPARE[op];
    if (l === undefined || r === undefined || !compare) return undefined;
    read.literals = true;
    return compare(l, r);
  }
  return undefined;
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
