// Crash test: `portcullis start` with fsync recording is killed with SIGKILL while several
// clients insert; every row PostgreSQL received must have its statement recorded, verify
// must name the torn tail (never drop it silently), and a restart on the same spool keeps
// recording consistently.
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { dataEnd } from '../src/record/segment.js';
import { adminClient, freshDatabase } from './helpers/gateway.js';
import {
  gatewayDir,
  startGatewayProcess,
  verifyGatewayDir,
  type GatewayProcess,
} from './helpers/gateway-process.js';

const DB = 'recording_crash';
const CLIENTS = 6;
const KILL_AFTER = 400;

const POLICY = `package portcullis
import rego.v1
default allow := false
allow if input.statement.class in {"read", "transaction"}
allow if {
\tinput.statement.class == "write"
\t"writers" in input.identity.groups
\tevery r in input.statement.relations { r.name == "crash_t" }
}
test_writer_inserts if allow with input as {"identity": {"groups": ["writers"]}, "statement": {"class": "write", "relations": [{"name": "crash_t"}]}}
test_agent_may_not if not allow with input as {"identity": {"groups": ["agents"]}, "statement": {"class": "write", "relations": [{"name": "crash_t"}]}}
`;

beforeAll(async () => {
  await freshDatabase(DB, 'CREATE TABLE crash_t (id bigint PRIMARY KEY);');
});

/** Statement params recorded in every complete line of every segment under the dirs. */
function recordedParams(dirs: string[]): Set<string> {
  const out = new Set<string>();
  for (const d of dirs) {
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d).filter((n) => n.endsWith('.jsonl')))
      for (const line of readFileSync(join(d, name), 'utf8').split('\n')) {
        let ev: { type?: string; params?: unknown };
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          continue; // a torn tail
        }
        if (ev.type === 'statement' && Array.isArray(ev.params))
          for (const p of ev.params) out.add(String(p));
      }
  }
  return out;
}

async function tableIds(): Promise<string[]> {
  const a = await adminClient(DB);
  const r = await a.query('SELECT id::text AS id FROM crash_t ORDER BY id');
  await a.end();
  return r.rows.map((x: { id: string }) => x.id);
}

/** Clients inserting unique ids until they fail; resolves with the acknowledged ids. */
function load(p: GatewayProcess, base: number, onAck: (n: number) => void) {
  return Array.from({ length: CLIENTS }, async (_, k) => {
    const acked: string[] = [];
    let c: pg.Client | undefined;
    try {
      c = await p.client(DB, ['writers']);
      for (let n = 0; ; n++) {
        const id = String(base + k * 100_000 + n);
        await c.query('INSERT INTO crash_t VALUES ($1)', [id]);
        acked.push(id);
        onAck(1);
      }
    } catch {
      // the gateway went away
    } finally {
      await c?.end().catch(() => undefined);
    }
    return acked;
  });
}

describe('kill -9 of portcullis start during load', () => {
  it('loses no statement that reached PostgreSQL, and verify names the torn tail', async () => {
    const dir = gatewayDir(DB, {
      policy: { files: ['policies.rego'] },
      recording: { enabled: true, durability: 'fsync', spoolDir: 'spool' },
    });
    writeFileSync(join(dir, 'policies.rego'), POLICY);
    const dirs = [join(dir, 'spool'), join(dir, '.data', 'recordings')];
    try {
      // Run 1: killed mid-load.
      const p = await startGatewayProcess(dir);
      let total = 0;
      const workers = load(p, 1_000_000, (n) => {
        total += n;
        if (total === KILL_AFTER) p.running.child.kill('SIGKILL');
      });
      const acked = (await Promise.all(workers)).flat();
      const r1 = await p.running.done;
      expect(r1.signal).toBe('SIGKILL');

      const inTable = await tableIds();
      const recorded = recordedParams(dirs);
      const unrecorded = inTable.filter((id) => !recorded.has(id));
      console.log(
        `crash test: ${acked.length} inserts acknowledged, ${inTable.length} rows reached PostgreSQL, ` +
          `${inTable.filter((id) => recorded.has(id)).length} of them recorded, ${recorded.size} statements recorded in all`,
      );
      expect(acked.length).toBeGreaterThanOrEqual(KILL_AFTER);
      expect(acked.filter((id) => !inTable.includes(id))).toEqual([]);
      expect(unrecorded).toEqual([]);

      // SIGKILL between two fsynced writes leaves whole lines; a crash inside write() can
      // leave part of one. Write such a partial line at the data's end of the spool's last
      // segment (over the zero fill ahead of it, as the writer does): verify must name it
      // with its exact offset and size.
      const spool = join(dir, 'spool');
      const last = readdirSync(spool)
        .filter((n) => n.endsWith('.jsonl'))
        .sort()
        .pop()!;
      const offset = dataEnd(readFileSync(join(spool, last)));
      const partial = '{"v":1,"type":"statement","session_id":"torn-by-test","seq":';
      const fd = openSync(join(spool, last), 'r+');
      writeSync(fd, partial, offset);
      closeSync(fd);

      const v1 = await verifyGatewayDir(dir);
      console.log(`verify after the crash (exit ${v1.code}):\n${v1.stdout}${v1.stderr}`);
      expect(v1.stdout).not.toMatch(/BROKEN/);
      // The crashed run left sessions without an end and a torn line: intact, not sealed.
      expect(v1.code).toBe(2);
      expect(v1.stdout).toMatch(/INTACT, NOT SEALED/);
      expect(v1.stdout).toMatch(/UNSEALED: /);
      const torn1 = v1.stdout.split('\n').filter((l) => /^(TORN|recovered): /.test(l));
      expect(torn1).toHaveLength(1);
      expect(torn1[0]).toMatch(
        new RegExp(
          `^TORN: torn tail .* in segment ${last}: ${partial.length} bytes at offset ${offset}$`,
        ),
      );
      const events = (out: string) => Number(/(\d+) events/.exec(out)?.[1]);

      // Run 2: same spool; keeps recording, then a graceful stop.
      const p2 = await startGatewayProcess(dir);
      const c = await p2.client(DB, ['writers']);
      const more: string[] = [];
      for (let n = 0; n < 20; n++) {
        const id = String(9_000_000 + n);
        await c.query('INSERT INTO crash_t VALUES ($1)', [id]);
        more.push(id);
      }
      await c.end();
      const r2 = await p2.terminate(60_000);
      expect(r2.code).toBe(0);
      const recorded2 = recordedParams(dirs);
      expect(more.filter((id) => !recorded2.has(id))).toEqual([]);
      expect((await tableIds()).filter((id) => !recorded2.has(id))).toEqual([]);

      const v2 = await verifyGatewayDir(dir);
      console.log(`verify after the restart (exit ${v2.code}):\n${v2.stdout}${v2.stderr}`);
      expect(v2.stdout).not.toMatch(/BROKEN/);
      // Run 2 recovered run 1: intact and nothing dropped; what run 1 wrote after its last
      // checkpoint is listed as recovered, never signed (exit 3).
      // (exit 0 when the kill came right after a checkpoint: nothing was left unsigned).
      expect([0, 3]).toContain(v2.code);
      expect(/RECOVERED UNSIGNED: /.test(v2.stdout)).toBe(v2.code === 3);
      expect(events(v2.stdout)).toBeGreaterThanOrEqual(events(v1.stdout) + 2 * more.length);
      // The torn tail of run 1 is still reported, now acknowledged by run 2's recovery.
      const reason = torn1[0].replace(/^TORN: /, '');
      expect(v2.stdout.split('\n')).toContain(`recovered: ${reason}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
