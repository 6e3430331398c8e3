// Name resolution as PostgreSQL would do it under the gateway's pinned search_path.
import { INFORMATION_SCHEMA_RELATIONS, PG_CATALOG_RELATIONS } from './pg-catalog-data.js';
import { isCatalogFunction } from './functions.js';

const CATALOG_RELATIONS = new Map<string, string>(Object.entries(PG_CATALOG_RELATIONS));
const INFO_SCHEMA_RELATIONS = new Map<string, string>(Object.entries(INFORMATION_SCHEMA_RELATIONS));

const RELKIND: Record<string, string> = {
  r: 'table',
  p: 'table',
  v: 'view',
  m: 'matview',
  S: 'sequence',
  f: 'foreign_table',
};

/** Schema that receives unqualified names: the first real entry of the search_path. */
export function defaultSchema(searchPath: readonly string[]): string {
  for (const s of searchPath) {
    const t = s.trim().replace(/^"(.*)"$/, '$1');
    if (t && t !== '$user' && t !== 'pg_catalog') return t;
  }
  return 'public';
}

/**
 * Why a configured search_path cannot be pinned, or undefined when it can. The gateway reads
 * unqualified names without the catalog: an unqualified name is taken to be in the one
 * schema named (pg_catalog's own names in pg_catalog, which PostgreSQL searches first). With
 * two schemas PostgreSQL reads a name from the first that has it, which only the catalog
 * knows (`secrets` is app.secrets when public has none); "$user" is the upstream role's
 * schema where it exists; pg_catalog or pg_temp named in the path change which schema
 * PostgreSQL searches first.
 */
export function searchPathProblem(searchPath: readonly string[]): string | undefined {
  if (searchPath.length !== 1)
    return 'name exactly one schema: with more than one, PostgreSQL reads an unqualified name from the first schema that has it, which the gateway cannot tell without the catalog (qualify names in other schemas: other.t)';
  const s = searchPath[0];
  if (s === '') return 'the schema name is empty';
  if (s === '$user')
    return '"$user" is the upstream role\'s own schema where one exists, which the gateway cannot tell: name the schema';
  if (s.startsWith('pg_'))
    return `"${s}" is a system schema (pg_catalog, pg_temp): name the schema agents' tables are in`;
  return undefined;
}

export interface ResolvedRelation {
  schema: string;
  name: string;
  kind: string;
  catalog?: string;
  unqualified: boolean;
}

/**
 * Resolve a RangeVar-like name. pg_catalog is implicitly searched first, so an
 * unqualified catalog relation name (pg_authid, pg_stat_activity...) resolves there;
 * other unqualified names go to the first search_path schema. Temporary relations being
 * created (relpersistence "t") live in pg_temp.
 */
export function resolveRelation(
  rv: { catalogname?: string; schemaname?: string; relname?: string; relpersistence?: string },
  searchPath: readonly string[],
): ResolvedRelation {
  const name = rv.relname ?? '';
  if (rv.schemaname) {
    const known =
      rv.schemaname === 'pg_catalog'
        ? CATALOG_RELATIONS.get(name)
        : rv.schemaname === 'information_schema'
          ? INFO_SCHEMA_RELATIONS.get(name)
          : undefined;
    const kind = RELKIND[known ?? 'r'] ?? 'table';
    const out: ResolvedRelation = { schema: rv.schemaname, name, kind, unqualified: false };
    if (rv.catalogname) out.catalog = rv.catalogname;
    return out;
  }
  if (rv.relpersistence === 't')
    return { schema: 'pg_temp', name, kind: 'table', unqualified: true };
  const k = CATALOG_RELATIONS.get(name);
  if (k !== undefined)
    return { schema: 'pg_catalog', name, kind: RELKIND[k] ?? 'table', unqualified: true };
  return { schema: defaultSchema(searchPath), name, kind: 'table', unqualified: true };
}

/** Resolve a function name list ([name] or [schema, name] or [db, schema, name]). */
export function resolveFunction(
  parts: readonly string[],
  searchPath: readonly string[],
): { schema: string; name: string; catalog?: string } {
  const name = parts[parts.length - 1] ?? '';
  if (parts.length >= 2) {
    const out: { schema: string; name: string; catalog?: string } = {
      schema: parts[parts.length - 2],
      name,
    };
    if (parts.length >= 3) out.catalog = parts[parts.length - 3];
    return out;
  }
  if (isCatalogFunction(name)) return { schema: 'pg_catalog', name };
  return { schema: defaultSchema(searchPath), name };
}

/** NAMEDATALEN - 1: PostgreSQL keeps the first 63 bytes of an identifier. */
const IDENT_BYTES = 63;
const SPACE = /[ \t\n\r\v\f]/;

/** An identifier cut to what PostgreSQL keeps of it, never inside a character. */
function truncateIdentifier(s: string): string {
  if (Buffer.byteLength(s, 'utf8') <= IDENT_BYTES) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > IDENT_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * The relation a string names where PostgreSQL reads it as a regclass (nextval('s.seq')):
 * its SplitIdentifierString rules (double quotes, unquoted names folded to lower case,
 * spaces around the dots, 63 bytes kept). Undefined where the text names no relation the
 * gateway can tell: a number is an OID, a malformed name is an error, and three parts name
 * a database too.
 */
export function regclassName(text: string): { schema?: string; name: string } | undefined {
  if (/^[0-9]+$/.test(text)) return undefined;
  const parts: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && SPACE.test(text[i])) i++;
  };
  skipSpace();
  for (;;) {
    let part = '';
    if (text[i] === '"') {
      for (i++; ; i++) {
        if (i >= text.length) return undefined;
        if (text[i] === '"') {
          if (text[i + 1] !== '"') break;
          i++;
        }
        part += text[i];
      }
      i++;
    } else {
      const start = i;
      while (i < text.length && text[i] !== '.' && !SPACE.test(text[i])) i++;
      part = text.slice(start, i).replace(/[A-Z]+/g, (m) => m.toLowerCase());
    }
    if (part === '') return undefined;
    parts.push(truncateIdentifier(part));
    skipSpace();
    if (i >= text.length) break;
    if (text[i] !== '.') return undefined;
    i++;
    skipSpace();
  }
  if (parts.length === 1) return { name: parts[0] };
  if (parts.length === 2) return { schema: parts[0], name: parts[1] };
  return undefined;
}
