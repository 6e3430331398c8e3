// pgbench through the gateway: initialisation (COPY in), then the select-only workload with
// the simple, extended and prepared protocols on several connections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gatewayClient,
  adminClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const DB = 'dp_pgbench';
let g: TestGateway;

async function pgbench(args: string[]) {
  const r = await run('/usr/bin/pgbench', [...args, g.conninfo(DB)], {
    env: { PGPASSWORD: await g.token() },
    timeoutMs: 180_000,
  });
  return { ...r, out: r.stdout + r.stderr };
}

function processed(out: string): number {
  const m = /number of transactions actually processed: (\d+)/.exec(out);
  return m ? Number(m[1]) : -1;
}

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

describe('pgbench through the gateway', () => {
  it('pgbench -i -s 1 creates and loads the tables (COPY in)', async () => {
    const r = await pgbench(['-i', '-s', '1']);
    expect(r.out).toContain('done in');
    expect(r.code).toBe(0);
    const a = await adminClient(DB);
    const n = await a.query('SELECT count(*)::int AS n FROM pgbench_accounts');
    expect(n.rows[0].n).toBe(100_000);
    const b = await a.query('SELECT count(*)::int AS n FROM pgbench_branches');
    expect(b.rows[0].n).toBe(1);
    await a.end();
  }, 240_000);

  for (const mode of ['simple', 'extended', 'prepared']) {
    it(`pgbench -S -M ${mode} -c 4 -j 2 -T 3 runs without failures`, async () => {
      const r = await pgbench(['-S', '-M', mode, '-c', '4', '-j', '2', '-T', '3', '-n']);
      expect(r.out).toContain(`query mode: ${mode}`);
      expect(r.out).toContain('number of failed transactions: 0');
      expect(processed(r.out)).toBeGreaterThan(0);
      expect(r.code).toBe(0);
    }, 120_000);
  }

  it('the default TPC-B-like script (writes in transactions) runs without failures', async () => {
    const before = await adminClient(DB);
    const h0 = await before.query('SELECT count(*)::int AS n FROM pgbench_history');
    const r = await pgbench(['-M', 'extended', '-c', '2', '-j', '2', '-t', '20', '-n']);
    expect(r.out).toContain('number of failed transactions: 0');
    expect(processed(r.out)).toBe(40);
    expect(r.code).toBe(0);
    const h1 = await before.query('SELECT count(*)::int AS n FROM pgbench_history');
    expect(h1.rows[0].n - h0.rows[0].n).toBe(40);
    await before.end();
  }, 120_000);

  it('the gateway is still usable afterwards', async () => {
    const c = await gatewayClient(g, DB);
    const r = await c.query('SELECT count(*)::int AS n FROM pgbench_tellers');
    expect(r.rows[0].n).toBe(10);
    await c.end();
  });
});
