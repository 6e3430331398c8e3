// Micro-benchmark: p50/p99 microseconds of evalRef('data.portcullis', input) on a least-privilege policy.
import { compileModules } from '../src/policy/rego/index.js';

const POLICY = `package portcullis

import rego.v1

allowed_schemas := {"public", "reporting"}

default allow := false

allow if {
	input.statement.class == "read"
	every r in input.statement.relations {
		r.schema in allowed_schemas
	}
	not side_effects
}

side_effects if {
	some f in input.statement.functions
	f.effect == "side_effect"
}

deny contains msg if {
	input.statement.class in {"ddl", "dcl", "session"}
	msg := sprintf("%s statements are not allowed for agents", [input.statement.class])
}

deny contains msg if {
	some f in input.statement.functions
	f.effect == "side_effect"
	msg := sprintf("function %s.%s has side effects", [f.schema, f.name])
}

approval := {"reason": "write without WHERE", "approvers": ["group:dba"], "quorum": 1, "ttl_seconds": 900} if {
	input.statement.class == "write"
	not input.statement.has_where
}

hint := "add a WHERE clause or ask for approval" if input.statement.class == "write"

limits := {"max_rows": 1000, "timeout_ms": 5000}
`;

const input = {
  identity: {
    sub: 'agent-42',
    iss: 'https://idp.example.com',
    email: 'agent42@example.com',
    groups: ['analysts', 'agents'],
    agent: 'report-bot',
    on_behalf_of: 'alice',
    method: 'jwt',
    claims: { scope: 'db:read', aud: 'portcullis' },
  },
  session: {
    id: 's-1',
    database: 'app',
    target: 'primary',
    application_name: 'psql',
    client_addr: '10.0.0.7',
    tls: true,
    in_transaction: false,
  },
  statement: {
    text: 'SELECT o.id, c.name FROM public.orders o JOIN public.customers c ON c.id = o.customer_id WHERE o.id = $1',
    fingerprint: 'a1b2c3',
    command: 'SELECT',
    class: 'read',
    relations: [
      { schema: 'public', name: 'orders', kind: 'table', access: 'read' },
      { schema: 'public', name: 'customers', kind: 'table', access: 'read' },
    ],
    columns: [
      { schema: 'public', table: 'orders', column: 'id', clause: 'select' },
      { schema: 'public', table: 'customers', column: 'name', clause: 'select' },
    ],
    functions: [{ schema: 'pg_catalog', name: 'now', effect: 'read' }],
    has_where: true,
    opaque: false,
    protocol: 'extended',
    params: ['42'],
    index: 0,
    count: 1,
  },
  now_ns: 1763780000000000000,
};

const policy = compileModules([{ path: 'policies.rego', source: POLICY }]);
const first = policy.evalRef('data.portcullis', input);
console.log('decision:', JSON.stringify(first));

const N = 20000;
const RULES = ['deny', 'hint', 'approval', 'allow', 'mask', 'limits'];

function measure(label: string, fn: () => void): void {
  for (let i = 0; i < 5000; i++) fn();
  const samples = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  samples.sort();
  const pct = (p: number) => samples[Math.min(N - 1, Math.floor(p * N))].toFixed(2);
  console.log(`${label} over ${N} runs: p50 ${pct(0.5)} us, p99 ${pct(0.99)} us`);
}

measure("evalRef('data.portcullis')", () => policy.evalRef('data.portcullis', input));
measure('evalRef per rule (6 calls)', () => {
  for (const r of RULES) policy.evalRef(`data.portcullis.${r}`, input);
});
