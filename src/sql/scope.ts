// Query scopes: FROM items, CTE names and the output shape of subqueries, for column lineage.

/** A base relation as resolved. */
export interface RelRef {
  schema: string;
  name: string;
}

/** Where an output column comes from. */
export interface Origin {
  schema: string;
  table: string;
  column: string;
  derived?: boolean;
  ambiguous?: boolean;
}

/** One output column of a subquery/CTE: pass-through origins, or derived (no origin kept). */
export interface ShapeCol {
  name: string | null;
  origins: Origin[];
  derived: boolean;
  /**
   * The name may have been renamed away (an alias column list over a "*" of unknown
   * width): the column is a candidate for the name, never known to hold it.
   */
  maybe?: boolean;
}

/** Output of a subquery: named columns plus relations whose "*" it passes through. */
export interface Shape {
  cols: ShapeCol[];
  stars: RelRef[];
  /**
   * `cols` is not the output exactly. 'order': the names and their origins are right, but
   * not the count or order (a USING or NATURAL join merges its join columns into one, in
   * front), so positions (alias lists, set operations) cannot be trusted. 'names': columns
   * may be missing or extra too (`(x).*`, `*` over a function whose columns are unknown,
   * j.* of `JOIN … USING (…) AS j`): no name is known, and any name may be any column.
   */
  inexact?: Inexact;
}

export type Inexact = 'order' | 'names';

/** The less exact of two. */
export function worse(a: Inexact | undefined, b: Inexact | undefined): Inexact | undefined {
  return a === 'names' || b === 'names' ? 'names' : (a ?? b);
}

export interface ScopeItem {
  alias: string;
  rel?: RelRef;
  shape?: Shape;
  /** A function in FROM whose other output columns are not known: it may have any. */
  open?: boolean;
  /** Column aliases on a base relation (customers AS c(a, b)): names no longer map. */
  renamed?: boolean;
  /** Those aliases (the names of its first columns). */
  aliasCols?: string[];
  /** A base relation under an alias: a schema-qualified name no longer reaches it. */
  aliased?: boolean;
  /**
   * Reached only through its name (x.col, x.*, x): a JOIN … USING (…) AS x, which names
   * the join's merged columns beside its two sides; unqualified names never bind to it.
   */
  qualifiedOnly?: boolean;
  /** A side of a USING or NATURAL join with no alias: that join merged columns of it. */
  inMergedJoin?: boolean;
}

export interface Level {
  parent: Level | null;
  items: ScopeItem[];
  /**
   * Column names merged by a join's USING (every name, for a NATURAL join): such a name
   * is each side's column at once, never one item's alone.
   */
  merged?: Set<string> | 'all';
}

export interface CteScope {
  parent: CteScope | null;
  map: Map<string, Shape>;
}

export function newShape(): Shape {
  return { cols: [], stars: [] };
}

export function findCte(scope: CteScope | null, name: string): Shape | undefined {
  for (let s = scope; s; s = s.parent) {
    const hit = s.map.get(name);
    if (hit) return hit;
  }
  return undefined;
}

/** Columns named `col` ("*" for all) of one FROM item. */
export function originsOf(item: ScopeItem, col: string): Origin[] {
  if (item.rel) {
    if (item.renamed && col !== '*') {
      return [
        {
          schema: item.rel.schema,
          table: item.rel.name,
          column: '*',
          derived: true,
          ambiguous: true,
        },
      ];
    }
    return [{ schema: item.rel.schema, table: item.rel.name, column: col }];
  }
  const shape = item.shape;
  if (!shape) return [];
  const out: Origin[] = [];
  if (col === '*') {
    for (const c of shape.cols) {
      for (const o of c.origins) out.push(c.derived && !o.derived ? { ...o, derived: true } : o);
    }
    for (const r of shape.stars) out.push({ schema: r.schema, table: r.name, column: '*' });
    return out;
  }
  if (shape.inexact === 'names') {
    // Which column the name is cannot be told: it may be any of them.
    for (const c of shape.cols)
      for (const o of c.origins)
        out.push({ ...o, ambiguous: true, derived: c.derived || o.derived });
    for (const r of shape.stars)
      out.push({ schema: r.schema, table: r.name, column: col, ambiguous: true });
    return out;
  }
  let named = false;
  for (const c of shape.cols) {
    if (c.name !== col) continue;
    named = true;
    for (const o of c.origins) out.push(c.derived && !o.derived ? { ...o, derived: true } : o);
  }
  if (!named)
    for (const r of shape.stars) out.push({ schema: r.schema, table: r.name, column: col });
  return out;
}

/** Whether an item can supply a column named `col` (base relations always might). */
export function mayHave(item: ScopeItem, col: string): boolean {
  if (item.rel || item.open) return true;
  const s = item.shape;
  if (!s) return false;
  return s.stars.length > 0 || s.inexact === 'names' || s.cols.some((c) => c.name === col);
}

/** Whether an item is known to have a column named `col` (a subquery that names it). */
export function knownColumn(item: ScopeItem, col: string): boolean {
  const s = item.shape;
  return s !== undefined && s.inexact !== 'names' && s.cols.some((c) => c.name === col && !c.maybe);
}

/** Rename a shape's columns positionally (alias column lists). */
export function renameShape(shape: Shape, names: string[]): Shape {
  if (names.length === 0) return shape;
  if (shape.stars.length === 0 && !shape.inexact)
    return {
      cols: shape.cols.map((c, i) => ({ ...c, name: names[i] ?? c.name })),
      stars: shape.stars,
    };
  // A "*" of unknown width is among the columns (or the columns are inexact): which column
  // each new name renames is unknown, so each may be any of them (and the old names may
  // still pass through).
  const any: Origin[] = [];
  for (const c of shape.cols) for (const o of c.origins) any.push({ ...o, ambiguous: true });
  for (const r of shape.stars)
    any.push({ schema: r.schema, table: r.name, column: '*', ambiguous: true });
  const derived = shape.cols.some((c) => c.derived);
  return {
    cols: [
      ...names.map((name) => ({ name, origins: any, derived })),
      ...shape.cols.map((c) => ({ ...c, maybe: true })),
    ],
    stars: shape.stars,
    ...(shape.inexact ? { inexact: shape.inexact } : {}),
  };
}
