import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { testPg } from './pg-env.js';

describe('test PostgreSQL', () => {
  it('answers a query directly', async () => {
    const t = testPg();
    const c = new pg.Client({
      host: t.host,
      port: t.port,
      user: t.user,
      password: t.password,
      database: 'postgres',
    });
    await c.connect();
    const r = await c.query('select 1 as one');
    expect(r.rows).toEqual([{ one: 1 }]);
    await c.end();
  });
});
