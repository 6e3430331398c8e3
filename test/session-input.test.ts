// What the session does with what a client sends around the edges: messages before a
// Terminate or a bad message in the same write run (as in PostgreSQL, and as recorded), and
// nothing a client sends while the session holds piles up in the gateway.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, fields, msg, parse, query, sync } from './helpers/raw.js';
import { gatewayDir, startGatewayProcess } from './helpers/gateway-process.js';
import { readFileSync } from 'node:fs';

const DB = 'dp_session_input';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE t (id int);
`,
  );
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

/** Wait until row `id` is in t (PostgreSQL runs what it read before the connection ends). */
async function inserted(id: number): Promise<boolean> {
  const a = await adminClient(DB);
  try {
    for (let i = 0; i < 50; i++) {
      if ((await a.query('SELECT 1 FROM t WHERE id = $1', [id])).rowCount === 1) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  } finally {
    await a.end();
  }
}

const terminate = () => msg('X');

describe('messages read before the session ends', () => {
  it('a Query sent with Terminate in one write runs', async () => {
    const c = await rawLogin(g, DB);
    await c.write(Buffer.concat([query('INSERT INTO t VALUES (1)'), terminate()]));
    await c.closed;
    expect(await inserted(1)).toBe(true);
  });

  it('an extended group sent with Terminate in one write runs', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([
        parse('', 'INSERT INTO t VALUES (2)'),
        bind('', ''),
        execute(),
        sync(),
        terminate(),
      ]),
    );
    await c.closed;
    expect(await inserted(2)).toBe(true);
  });

  it('a Query before a malformed message in the same write runs, then the session ends', async () => {
    const c = await rawLogin(g, DB);
    await c.write(
      Buffer.concat([query('INSERT INTO t VALUES (3)'), Buffer.from([0x7a, 0, 0, 0, 4])]),
    );
    const ms = await c.rest();
    const errors = ms.filter((m) => m.type === 'E').map((m) => fields(m));
    expect(errors.at(-1)).toMatchObject({ S: 'FATAL', C: '08P01' });
    expect(await inserted(3)).toBe(true);
  });
});

describe('what one session may keep in the gateway', () => {
  it('forgets its oldest prepared statements past 64 MiB of their text and facts', async () => {
    const c = await rawLogin(g, DB);
    const pad = '/*' + 'x'.repeat(900_000) + '*/';
    for (let i = 0; i < 40; i++) {
      await c.write(Buffer.concat([parse(`s${i}`, `SELECT ${i} AS n ${pad}`), sync()]));
      expect((await c.until('Z')).filter((m) => m.type === 'E')).toEqual([]);
    }
    // The newest still runs; the oldest is no longer known to the gateway, which refuses it.
    await c.write(Buffer.concat([bind('', 's39'), execute(), sync()]));
    expect((await c.until('Z')).filter((m) => m.type === 'E')).toEqual([]);
    await c.write(Buffer.concat([bind('', 's0'), execute(), sync()]));
    const ms = await c.until('Z');
    expect(fields(ms.find((m) => m.type === 'E')!).C).toBe('26000');
    c.destroy();
  });
});

describe('an extended group without a Sync', () => {
  it('is decided and sent in parts past four messages of bytes, not held whole', async () => {
    const small = await startTestGateway(DB, { session: { maxMessageBytes: 64 << 10 } });
    const a = await adminClient(DB);
    try {
      const c = await rawLogin(small, DB);
      const p = parse('', `SELECT 2 AS held_group_marker /*${'x'.repeat(60_000)}*/`);
      for (let i = 0; i < 20; i++) await c.write(p);
      // PostgreSQL has the first parts before the Sync (its activity shows their text).
      let seen = false;
      for (let i = 0; i < 50 && !seen; i++) {
        const r = await a.query(
          "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT 2 AS held_group_marker%'",
        );
        seen = r.rowCount! > 0;
        if (!seen) await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen).toBe(true);
      await c.write(sync());
      const ms = await c.until('Z');
      expect(ms.filter((m) => m.type === 'E')).toEqual([]);
      expect(ms.filter((m) => m.type === '1')).toHaveLength(20);
      c.destroy();
    } finally {
      await a.end();
      await small.stop();
    }
  });
});

describe('a session that holds reads nothing more', () => {
  it('leaves what a client streams while it waits in the client, and serves others', async () => {
    // A gateway process of its own, whose memory is its own.
    const gp = await startGatewayProcess(gatewayDir(DB, { policy: { allowAll: true } }));
    try {
      const rss = () => {
        const m = /VmRSS:\s+(\d+) kB/.exec(
          readFileSync(`/proc/${gp.running.child.pid}/status`, 'utf8'),
        );
        return Number(m![1]) * 1024;
      };
      const c = await rawLogin({ port: gp.port, token: () => gp.token() } as TestGateway, DB);
      // A Query behind a BEGIN waits for its answer, which takes a while.
      c.sock.write(query('BEGIN; SELECT pg_sleep(30)'));
      c.sock.write(query('SELECT 1'));
      await new Promise((r) => setTimeout(r, 500));
      const before = rss();
      const piece = Buffer.alloc(64 << 10, 0x51);
      for (let i = 0; i < 1024; i++) c.sock.write(piece);
      await new Promise((r) => setTimeout(r, 3000));
      // The gateway holds no more than socket buffers do, not the 64 MiB.
      expect(rss() - before).toBeLessThan(16 << 20);
      const other = await gp.client(DB);
      expect((await other.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      await other.end();
      c.destroy();
    } finally {
      await gp.terminate();
    }
  });
});
