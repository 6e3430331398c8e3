// The upstream catalog in the analysis: `t.f` on a relation without a column f calls the
// function f on t's whole row (`c.text` is the row as text, hstore's `c.hstore` a map of it),
// and an unqualified call can resolve to a search_path function named like a built-in. With
// the catalog the policy sees both; without it, it could not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  freshDatabase,
  gatewayClient,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { testPg } from './pg-env.js';

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

const cardRefused = { code: '42501', message: expect.stringMatching(/customers\.card/) };

describe('with the upstream catalog', () => {
  it('sees c.text and c.hstore read the whole row, and refuses them', async () => {
    const c = await gatewayClient(g, DB);
    try {
      await expect(c.query('SELECT c.text FROM customers c')).rejects.toMatchObject(cardRefused);
      await expect(c.query('SELECT c.hstore FROM customers c')).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/function public\.hstore is not allowed/),
      });
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
      ).rejects.toMatchObject({
        code: '42501',
        message: expect.stringMatching(/function public\.lower is not allowed/),
      });
      // Qualified to pg_catalog it is the built-in, and allowed.
      expect((await c.query('SELECT pg_catalog.lower(name) AS l FROM customers')).rows).toEqual([
        { l: 'ada' },
      ]);
    } finally {
      await c.end();
    }
  });

  it('reads the catalog again after a session changes the schema', async () => {
    const owner = await gatewayClient(g, DB, { sub: 'owner-1', groups: ['owners'] });
    try {
      // customers gains a column named text: `c.text` is now that column, not the whole row.
      await owner.query('ALTER TABLE customers ADD COLUMN text text');
      await owner.query(`UPDATE customers SET text = 'column'`);
    } finally {
      await owner.end();
    }
    const c = await gatewayClient(g, DB);
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
    const t = testPg();
    off = await startTestGateway(DB, {
      policy: { files: ['test/policies/card-column.rego'] },
      upstream: {
        targets: {
          main: {
            host: t.host,
            port: t.port,
            database: DB,
            user: t.user,
            password: { value: t.password },
          },
        },
        routes: { '*': 'main' },
        catalog: { enabled: false },
      },
    });
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
