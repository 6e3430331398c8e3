// Two `portcullis start` processes on one recording spool: the second must not start (it
// would recover, truncate and ship the first one's live segment, breaking the chains).
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './helpers/gateway.js';
import { gatewayDir, startGatewayProcess, verifyGatewayDir } from './helpers/gateway-process.js';

const DB = 'spool_gateway';

const POLICY = `package portcullis
import rego.v1
default allow := false
allow if input.statement.class == "read"
test_reads if allow with input as {"statement": {"class": "read"}}
`;

beforeAll(async () => {
  await freshDatabase(DB);
});

describe('two gateways on one spool', () => {
  it('the second refuses to start, naming the spool and the first one', async () => {
    const dir = gatewayDir(DB, {
      policy: { files: ['policies.rego'] },
      recording: { enabled: true, durability: 'fsync', spoolDir: 'spool' },
    });
    writeFileSync(join(dir, 'policies.rego'), POLICY);
    try {
      const first = await startGatewayProcess(dir);
      const c = await first.client(DB);
      await c.query('SELECT 1');

      const second = await startGatewayProcess(dir).then(
        () => new Error('the second gateway started'),
        (e: Error) => e,
      );
      expect(second.message).toMatch(/^gateway exited with 1:/);
      expect(second.message).toContain(
        `recording spool ${join(dir, 'spool')} is in use by process ${first.running.child.pid}`,
      );

      await c.query('SELECT 2');
      await c.end();
      expect((await first.terminate()).code).toBe(0);
      const v = await verifyGatewayDir(dir, 120_000);
      expect(v.stdout).not.toMatch(/BROKEN/);
      expect(v.code).toBe(0);

      // The first stopped cleanly: the next start on the spool is a plain one.
      const again = await startGatewayProcess(dir);
      expect((await again.terminate()).code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
