// Policy limits: timeout_ms cancels the upstream statement (57014); the session stays usable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  gatewayClient,
  freshDatabase,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';

const DB = 'limits_db';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB, { policy: { files: ['test/policies/limits.rego'] } });
});
afterAll(async () => g?.stop());

describe('policy limits', () => {
  it('cancels a statement that runs past timeout_ms', async () => {
    const c = await gatewayClient(g, DB, { user: 'a' });
    await expect(c.query('SELECT pg_catalog.pg_sleep(30)')).rejects.toMatchObject({
      code: '57014',
    });
    expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await c.end();
  });
});
