// Reads what the gateway's analysis needs from the upstream database's catalog: every
// relation's column names (system columns too), and the names of functions and operators
// in schemas other than pg_catalog. Run on a connection of the gateway's own.
import type { Socket } from 'node:net';
import type { CatalogRows } from '../sql/catalog.js';
import { runSql } from './sql.js';

const CATALOG_SQL = `
SELECT 'r', n.nspname, c.relname, pg_catalog.json_agg(a.attname ORDER BY a.attnum)::text
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'v', 'm', 'f', 'p')
   AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
 GROUP BY n.nspname, c.relname
UNION ALL
SELECT DISTINCT 'f', n.nspname, p.proname, NULL
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname <> 'pg_catalog'
UNION ALL
SELECT DISTINCT 'o', n.nspname, o.oprname, NULL
  FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
 WHERE n.nspname <> 'pg_catalog'
 ORDER BY 1, 2, 3`;

/** Read the listing on an idle upstream session (at ReadyForQuery). */
export async function readCatalog(socket: Socket): Promise<CatalogRows> {
  const { rows } = await runSql(socket, CATALOG_SQL);
  const out: CatalogRows = { relations: [], functions: [], operators: [] };
  for (const [kind, schema, name, cols] of rows) {
    if (schema === null || name === null) continue;
    if (kind === 'r') out.relations.push([schema, name, JSON.parse(cols ?? '[]') as string[]]);
    else if (kind === 'f') out.functions.push([schema, name]);
    else if (kind === 'o') out.operators.push([schema, name]);
  }
  return out;
}
