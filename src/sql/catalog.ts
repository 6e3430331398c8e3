// What the upstream database's catalog says about names the parser alone cannot tell
// apart: a relation's columns, and the functions and operators of schemas other than
// pg_catalog. Used only to add facts (never to drop one), so a snapshot that is out of
// date can make the gateway stricter than PostgreSQL, not looser than without it.

export interface CatalogRows {
  /** [schema, relation, column names (system columns too)] */
  relations: [string, string, string[]][];
  /** [schema, name] of functions, procedures and aggregates outside pg_catalog */
  functions: [string, string][];
  /** [schema, symbol] of operators outside pg_catalog */
  operators: [string, string][];
}

let nextId = 1;

export class Catalog {
  /** Distinct per snapshot: analysis results are cached per catalog. */
  readonly id = nextId++;
  private readonly rels = new Map<string, ReadonlySet<string>>();
  private readonly funcs = new Set<string>();
  private readonly ops = new Set<string>();
  readonly size: number;

  constructor(rows: CatalogRows) {
    let size = 0;
    for (const [schema, name, cols] of rows.relations) {
      this.rels.set(`${schema}\0${name}`, new Set(cols));
      size += cols.length;
    }
    for (const [schema, name] of rows.functions) this.funcs.add(`${schema}\0${name}`);
    for (const [schema, name] of rows.operators) this.ops.add(`${schema}\0${name}`);
    this.size = size + this.funcs.size + this.ops.size;
  }

  /** A relation's column names; undefined when the catalog has no such relation. */
  columns(schema: string, name: string): ReadonlySet<string> | undefined {
    return this.rels.get(`${schema}\0${name}`);
  }

  /** Whether the relation is in the catalog and has no column of this name. */
  lacksColumn(schema: string, name: string, column: string): boolean {
    const cols = this.rels.get(`${schema}\0${name}`);
    return cols !== undefined && !cols.has(column);
  }

  /** Whether `schema` (not pg_catalog) has a function, procedure or aggregate `name`. */
  hasFunction(schema: string, name: string): boolean {
    return this.funcs.has(`${schema}\0${name}`);
  }

  /** Whether `schema` (not pg_catalog) has an operator `symbol`. */
  hasOperator(schema: string, symbol: string): boolean {
    return this.ops.has(`${schema}\0${symbol}`);
  }
}
