// Static SQL inside PL/pgSQL and SQL-language bodies (DO, CREATE FUNCTION), for audit facts.
import { parsePlPgSQLSync } from 'libpg-query';
import { parseText } from './parse.js';

export interface BodyFacts {
  /** The body parsed (an unparsable body stays fully opaque). */
  parsed: boolean;
  /** EXECUTE of a string built at run time (dynamic SQL): never visible to the gateway. */
  dynamic: boolean;
  /** Static statements found (their facts are added through `visit`). */
  statements: number;
}

const DYNAMIC = new Set(['PLpgSQL_stmt_dynexecute', 'PLpgSQL_stmt_dynfors']);

/**
 * Find the static SQL of a body and hand each parsed statement node to `visit`.
 * `source` is the body text; `language` "plpgsql" or "sql" (others are not parsed).
 */
export function bodyFacts(
  source: string,
  language: string,
  visit: (node: Record<string, any>) => void,
): BodyFacts {
  const out: BodyFacts = { parsed: false, dynamic: false, statements: 0 };
  const lang = language.toLowerCase();
  const queries: string[] = [];
  if (lang === 'sql') {
    queries.push(source);
  } else if (lang === 'plpgsql') {
    let tag = '$pgw$';
    for (let i = 0; source.includes(tag); i++) tag = `$pgw${i}$`;
    let tree: unknown;
    try {
      tree = parsePlPgSQLSync(`DO ${tag}${source}${tag}`);
    } catch {
      return out;
    }
    // Iterative walk: collect every embedded SQL text, note dynamic SQL.
    const stack: unknown[] = [tree];
    while (stack.length > 0) {
      const n = stack.pop();
      if (!n || typeof n !== 'object') continue;
      if (Array.isArray(n)) {
        for (const x of n) stack.push(x);
        continue;
      }
      for (const [k, v] of Object.entries(n as Record<string, unknown>)) {
        if (DYNAMIC.has(k)) out.dynamic = true;
        if (k === 'dynquery' || (k === 'PLpgSQL_stmt_return_query' && (v as any)?.dynquery))
          out.dynamic = true;
        if (k === 'PLpgSQL_expr' && v && typeof (v as any).query === 'string') {
          const q = (v as any).query as string;
          // parseMode 0 is a whole statement; the others are expressions.
          queries.push((v as any).parseMode ? `SELECT ${q}` : q);
          continue;
        }
        if (v && typeof v === 'object') stack.push(v);
      }
    }
  } else return out;
  out.parsed = true;
  for (const q of queries) {
    const p = parseText(q);
    if (p.kind !== 'ok') continue;
    for (const s of p.stmts) {
      out.statements++;
      visit(s.node);
    }
  }
  return out;
}
