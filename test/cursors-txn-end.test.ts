// WITH HOLD cursors live on only past a transaction that committed: one whose COMMIT
// failed (the held query's own error, a deferred constraint), a COMMIT of a failed block, a
// failed implicit transaction, a ROLLBACK in one, or a PREPARE TRANSACTION (refused with a
// held cursor) drops them, here as upstream. A portal updated in place (its SQL EXECUTE run)
// keeps its place before a savepoint.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  rawLogin,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { bind, execute, fields, parse, rows, sync, type Message } from './helpers/raw.js';

const DB = 'rt_sp_findings';
let g: TestGateway;
const codes = (ms: Message[]) => ms.filter((m) => m.type === 'E').map((m) => fields(m).C);

// Everything is allowed; results that read `big` are limited to 5 rows.
const POLICY = `package portcullis
import rego.v1
default allow := true
limits := {"max_rows": 5} if {
	some r in input.statement.relations
	r.name == "big"
}
`;

beforeAll(async () => {
  await freshDatabase(
    DB,
    'CREATE TABLE big AS SELECT g FROM generate_series(1, 100) g; CREATE TABLE par (id int PRIMARY KEY); CREATE TABLE dc (v int REFERENCES par DEFERRABLE INITIALLY DEFERRED)',
  );
  const a = await adminClient(DB);
  // The common refcursor pattern: the caller names the cursor the function opens.
  await a.query(`CREATE FUNCTION opencur(c refcursor) RETURNS refcursor LANGUAGE plpgsql AS $$
      BEGIN OPEN c FOR SELECT g FROM big; RETURN c; END $$`);
  await a.end();
  const dir = mkdtempSync(join(tmpdir(), 'rt-txn-policy-'));
  writeFileSync(join(dir, 'p.rego'), POLICY);
  g = await startTestGateway(DB, { policy: { files: [join(dir, 'p.rego')] } });
});
afterAll(async () => g?.stop());

const names = async (c: Awaited<ReturnType<typeof rawLogin>>) =>
  rows(await c.simple('SELECT name FROM pg_cursors ORDER BY 1')).map((r) => r[0]);

/** PostgreSQL has no cursor x (pg_cursors): a function opens one; the gateway must not read it unlimited. */
async function expectNotReadUnlimited(c: Awaited<ReturnType<typeof rawLogin>>, x: string) {
  expect(codes(await c.simple('BEGIN'))).toEqual([]);
  expect(await names(c)).not.toContain(x);
  expect(codes(await c.simple(`SELECT opencur('${x}')`))).toEqual([]);
  const ms = await c.simple(`FETCH ALL FROM ${x}`);
  const n = rows(ms).length;
  await c.simple('ROLLBACK');
  expect(n, `rows read from function cursor ${x}`).toBeLessThanOrEqual(5);
}

describe('savepoint/transaction-end tracking disagrees with PostgreSQL', () => {
  it('F1: COMMIT that fails while persisting a WITH HOLD cursor rolls back; the cursor stays in the table', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(codes(await c.simple('BEGIN'))).toEqual([]);
      expect(
        codes(
          await c.simple(
            'DECLARE h CURSOR WITH HOLD FOR SELECT 1/g AS v FROM generate_series(0,0) g',
          ),
        ),
      ).toEqual([]);
      expect(codes(await c.simple('COMMIT'))).toEqual(['22012']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('F1b: COMMIT failing on a deferred constraint', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(codes(await c.simple('BEGIN'))).toEqual([]);
      expect(codes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'))).toEqual([]);
      expect(codes(await c.simple('INSERT INTO dc VALUES (1)'))).toEqual([]);
      expect(codes(await c.simple('COMMIT'))).toEqual(['23503']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('F2: PREPARE TRANSACTION refused (WITH HOLD) rolls back; the cursor stays', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(codes(await c.simple('BEGIN'))).toEqual([]);
      expect(codes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'))).toEqual([]);
      expect(codes(await c.simple("PREPARE TRANSACTION 'gx'"))).not.toEqual([]);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('F3: ROLLBACK in an implicit transaction (Query string) drops its WITH HOLD cursor', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(
        codes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one; ROLLBACK')),
      ).toEqual([]);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('F3b: ROLLBACK in an extended implicit transaction drops its WITH HOLD cursor', async () => {
    const c = await rawLogin(g, DB);
    try {
      await c.write(
        Buffer.concat([
          parse('', 'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one'),
          bind('', ''),
          execute('', 0),
          parse('', 'ROLLBACK'),
          bind('', ''),
          execute('', 0),
          sync(),
        ]),
      );
      expect(codes(await c.until('Z'))).toEqual([]);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('F4: a SQL-EXECUTE portal bound before a savepoint, first run inside it, survives ROLLBACK TO', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const sql of ['BEGIN', 'PREPARE ps AS SELECT g FROM generate_series(1,10) g'])
        expect(codes(await c.simple(sql)), sql).toEqual([]);
      await c.write(Buffer.concat([parse('', 'EXECUTE ps'), bind('p', ''), sync()]));
      expect(codes(await c.until('Z'))).toEqual([]);
      expect(codes(await c.simple('SAVEPOINT s'))).toEqual([]);
      await c.write(Buffer.concat([execute('p', 2), sync()]));
      let ms = await c.until('Z');
      expect(codes(ms)).toEqual([]);
      expect(rows(ms).length).toBe(2);
      expect(codes(await c.simple('ROLLBACK TO SAVEPOINT s'))).toEqual([]);
      expect(await names(c)).toContain('p');
      await c.write(Buffer.concat([execute('p', 2), sync()]));
      ms = await c.until('Z');
      expect(ms.filter((m) => m.type === 'E').map((m) => fields(m).M)).toEqual([]);
      expect(rows(ms).length).toBe(2);
      await c.simple('ROLLBACK');
    } finally {
      c.destroy();
    }
  });
  it('D1 (documented): WITH HOLD declared in an implicit transaction that then fails', async () => {
    const c = await rawLogin(g, DB);
    try {
      expect(
        codes(await c.simple('DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one; SELECT 1/0')),
      ).toEqual(['22012']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('D2 (documented): COMMIT of a failed block', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const s of [
        'BEGIN',
        'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one',
        'SELECT 1/0',
        'COMMIT',
      ])
        await c.simple(s);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });

  it('F6: WITH HOLD declared in a released savepoint; COMMIT AND CHAIN fails on a deferred constraint', async () => {
    const c = await rawLogin(g, DB);
    try {
      for (const s of [
        'BEGIN',
        'SAVEPOINT s',
        'DECLARE h CURSOR WITH HOLD FOR SELECT 1 AS one',
        'RELEASE s',
        'INSERT INTO dc VALUES (1)',
      ])
        expect(codes(await c.simple(s)), s).toEqual([]);
      expect(codes(await c.simple('COMMIT AND CHAIN'))).toEqual(['23503']);
      await expectNotReadUnlimited(c, 'h');
    } finally {
      c.destroy();
    }
  });
});
