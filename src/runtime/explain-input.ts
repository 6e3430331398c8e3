// Builds a policy input for a SQL text and an identity, as the session would (for explain).
import { analyze } from '../sql/index.js';
import type { Identity, PolicyInput, SessionFacts } from '../policy/types.js';

export function explainInputs(
  sql: string,
  identity: Partial<Identity>,
  opts: { searchPath: string[]; database?: string; session?: Partial<SessionFacts> },
): { inputs: PolicyInput[]; error?: string } {
  const a = analyze(sql, {
    searchPath: opts.searchPath,
    database: opts.database,
    maxBytes: 1024 * 1024,
  });
  if (a.error) return { inputs: [], error: a.error.message };
  const id: Identity = { sub: 'anonymous', groups: [], method: 'jwt', claims: {}, ...identity };
  const session: SessionFacts = {
    id: 'explain',
    database: opts.database ?? 'postgres',
    target: 'default',
    application_name: '',
    client_addr: '127.0.0.1',
    tls: false,
    in_transaction: false,
    ...opts.session,
  };
  const n = a.statements.length;
  return {
    inputs: a.statements.map((st, i) => ({
      identity: id,
      session,
      statement: { ...st, protocol: 'simple', params: null, index: i, count: n },
      now_ns: Date.now() * 1e6,
    })),
  };
}
