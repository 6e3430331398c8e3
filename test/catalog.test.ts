// The upstream catalog in the analysis: `t.f` on a relation without a column f calls the
// function f on t's whole row (hstore's `c.hstore` is a map of it, card included),
// and an unqualified call can resolve to a search_path function named like a built-in. With
// the catalog the policy sees both; without it, it could not.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminClient,
  freshDatabase,
  gatewayClient,
  startTestGateway,
  testUpstream,
  type TestGateway,
} from './helpers/gateway.js';

const DB = 'dp_catalog';
const CARD = '4111111111111111';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE EXTENSION hstore;
     CREATE TABLE customers (id int PRIMARY KEY, name text, card text);
     INSERT INTO customers VALUES (1, 'Ada', '${CARD}');
     CREATE FUNCTION public.lower(varchar) RETURNS text LANGUAGE sql
       AS $$ SELECT 'shadowed:' || $1 $$;`,
  );
  g = await startTestGateway(DB, { policy: { files: ['test/policies/card-column.rego'] } });
});
afterAll(async () => g?.stop());

/** A gateway on DB with the card-column policy and these catalog settings. */
function gatewayWithCatalog(catalog: { enabled?: boolean; refreshMs?: number }) {
  return startTestGateway(DB, {
    policy: { files: ['test/policies/card-column.rego'] },
    upstream: testUpstream(DB, {}, { catalog }),
  });
}

const cardRefused = { code: '42501', message: expect.stringMatching(/customers\.card/) };
/** The refusal of card-column.rego's function rule for `schema.name`. */
const functionRefused = (fn: string) => ({
  code: '42501',
  message: expect.stringContaining(`function ${fn} is not allowed`),
});

describe('with the upstream catalog', () => {
  it('sees c.text and c.hstore read the whole row, and refuses them', async () => {
    const c = await gatewayClient(g, DB);
    try {
      // Not a column of customers: taken as the call text(c) (PostgreSQL 18 refuses the cast
      // in this notation; the gateway refuses it before it gets there).
      await expect(c.query('SELECT c.text FROM customers c')).rejects.toMatchObject(cardRefused);
      await expect(c.query('SELECT c.hstore FROM customers c')).rejects.toMatchObject(
        functionRefused('public.hstore'),
      );
      await expect(c.query('SELECT x.text FROM (SELECT * FROM customers) x')).rejects.toMatchObject(
        cardRefused,
      );
      // A real column by the same kind of reference is a column, and reads as before.
      expect((await c.query('SELECT c.name FROM customers c')).rows).toEqual([{ name: 'Ada' }]);
      expect((await c.query('SELECT upper(name) AS u FROM customers')).rows).toEqual([
        { u: 'ADA' },
      ]);
    } finally {
      await c.end();
    }
  });

  it('sees an unqualified call reach a search_path function named like a built-in', async () => {
    const c = await gatewayClient(g, DB);
    try {
      await expect(
        c.query('SELECT lower(name::varchar) AS l FROM customers'),
      ).rejects.toMatchObject(functionRefused('public.lower'));
      // Qualified to pg_catalog it is the built-in, and allowed.
      expect((await c.query('SELECT pg_catalog.lower(name) AS l FROM customers')).rows).toEqual([
        { l: 'ada' },
      ]);
    } finally {
      await c.end();
    }
  });

  it('reads the catalog again after a session changes the schema, for open sessions too', async () => {
    const c = await gatewayClient(g, DB);
    const owner = await gatewayClient(g, DB, { sub: 'owner-1', groups: ['owners'] });
    try {
      // customers gains a column named text: `c.text` is now that column, not the whole row.
      await owner.query('ALTER TABLE customers ADD COLUMN text text');
      await owner.query(`UPDATE customers SET text = 'column'`);
    } finally {
      await owner.end();
    }
    try {
      await expect
        .poll(async () => c.query('SELECT c.text FROM customers c').then((r) => r.rows, String))
        .toEqual([{ text: 'column' }]);
    } finally {
      await c.end();
    }
  });
});

describe('with the catalog turned off', () => {
  let off: TestGateway;
  beforeAll(async () => {
    off = await gatewayWithCatalog({ enabled: false });
  });
  afterAll(async () => off?.stop());

  it('cannot tell c.hstore from a column, and the card comes back', async () => {
    const c = await gatewayClient(off, DB);
    try {
      const r = await c.query('SELECT c.hstore FROM customers c');
      expect(r.rows[0].hstore).toContain(CARD);
      expect((await c.query('SELECT lower(name::varchar) AS l FROM customers')).rows).toEqual([
        { l: 'shadowed:Ada' },
      ]);
    } finally {
      await c.end();
    }
  });
});

describe('a change made in the database directly', () => {
  let quick: TestGateway;
  beforeAll(async () => {
    quick = await gatewayWithCatalog({ refreshMs: 1000 });
  });
  afterAll(async () => quick?.stop());

  it('is seen by an open session within refreshMs', async () => {
    const c = await gatewayClient(quick, DB);
    try {
      const upper = () =>
        c.query('SELECT upper(name::varchar) AS u FROM customers').then(
          (r) => r.rows[0].u as string,
          (e: Error) => e.message,
        );
      expect(await upper()).toBe('ADA');
      const a = await adminClient(DB);
      try {
        await a.query(`CREATE FUNCTION public.upper(varchar) RETURNS text LANGUAGE sql
                         AS $$ SELECT 'shadowed:' || $1 $$`);
      } finally {
        await a.end();
      }
      await expect
        .poll(upper, { timeout: 10_000 })
        .toMatch(/function public\.upper is not allowed/);
    } finally {
      await c.end();
    }
  });
});

describe('the first login to a target', () => {
  it('reads the catalog beside its own connect: an upstream that never answers costs one connect timeout', async () => {
    // Accepts connections and never says a word.
    const held = new Set<Socket>();
    const silent = createServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    const timeoutMs = 1500;
    const gs = await startTestGateway(DB, {
      upstream: testUpstream(DB, { host: '127.0.0.1', port }, { connectTimeoutMs: timeoutMs }),
    });
    try {
      const t0 = Date.now();
      await expect(gatewayClient(gs, DB, { ignoreErrors: true })).rejects.toMatchObject({
        code: '08006',
      });
      // Read, then connect, one after the other took two timeouts (3 s and more).
      expect(Date.now() - t0).toBeLessThan(2 * timeoutMs - 200);
      expect(held.size).toBe(2);
    } finally {
      await gs.stop();
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('with one upstream slot, waits for the catalog read to give it back', async () => {
    const one = await startTestGateway(DB, {
      upstream: testUpstream(DB, { maxConnections: 1 }),
    });
    try {
      const c = await gatewayClient(one, DB);
      try {
        expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      } finally {
        await c.end();
      }
    } finally {
      await one.stop();
    }
  });
});

describe('operators looked up by name without being written', () => {
  const OPS = 'dp_catalog_ops';
  let go: TestGateway;
  beforeAll(async () => {
    await freshDatabase(
      OPS,
      `CREATE TABLE customers (id int PRIMARY KEY, name text);
       INSERT INTO customers VALUES (1, 'Ada');
       CREATE FUNCTION public.vc_eq(varchar, varchar) RETURNS bool LANGUAGE sql
         AS $$ SELECT $1::text = $2::text $$;
       CREATE OPERATOR public.= (leftarg = varchar, rightarg = varchar, function = public.vc_eq);`,
    );
    go = await startTestGateway(OPS, { policy: { files: ['test/policies/card-column.rego'] } });
  });
  afterAll(async () => go?.stop());

  it('sees IN, CASE, NULLIF and IS DISTINCT FROM reach a search_path =', async () => {
    const c = await gatewayClient(go, OPS);
    try {
      for (const sql of [
        "SELECT id FROM customers WHERE name::varchar IN ('Ada'::varchar)",
        "SELECT CASE name::varchar WHEN 'Ada'::varchar THEN 1 END AS x FROM customers",
        "SELECT NULLIF(name::varchar, 'Ada'::varchar) AS x FROM customers",
        "SELECT id FROM customers WHERE name::varchar IS DISTINCT FROM 'Bo'::varchar",
        "SELECT id FROM customers WHERE name::varchar IN (SELECT 'Ada'::varchar)",
      ])
        await expect(c.query(sql), sql).rejects.toMatchObject(functionRefused('public.='));
    } finally {
      await c.end();
    }
  });
});
