import { describe, expect, it } from 'vitest';
import { adminClient } from './helpers/gateway.js';

describe('test PostgreSQL', () => {
  it('answers a query directly', async () => {
    const c = await adminClient();
    const r = await c.query('select 1 as one');
    expect(r.rows).toEqual([{ one: 1 }]);
    await c.end();
  });
});
