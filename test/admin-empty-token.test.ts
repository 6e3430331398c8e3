// A configured admin.token that reads as empty (`{ env }` set to '', a `{ file }` holding
// only a newline) is refused when the gateway starts. Before, it was taken for "no token":
// the routes that show recorded statements and run the policy (/sessions, /explain) then
// answered without any Authorization on a loopback admin host, and nothing was said.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { mountRoutes } from '../src/runtime/admin-routes.js';
import { testPg } from './pg-env.js';

const POLICY = 'package portcullis\nimport rego.v1\ndefault allow := false\n';

describe('an admin.token that reads empty', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portcullis-admin-empty-'));
    writeFileSync(join(dir, 'pgpass'), testPg().password + '\n');
    writeFileSync(join(dir, 'policies.rego'), POLICY);
    writeFileSync(join(dir, 'admin-token'), '\n'); // a mounted secret file that came up empty
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, token] of [
    ['{ env } set to the empty string', { env: 'PCL_TEST_EMPTY_ADMIN_TOKEN' }],
    ['{ file } holding only a newline', { file: 'admin-token' }],
  ] as const) {
    it(`${name}: the gateway refuses to start, naming it`, async () => {
      process.env.PCL_TEST_EMPTY_ADMIN_TOKEN = '';
      const file = join(dir, 'gateway.config.json');
      writeFileSync(
        file,
        JSON.stringify({
          listen: { host: '127.0.0.1', port: 0 },
          admin: { host: '127.0.0.1', port: 0, token },
          upstream: {
            targets: {
              main: {
                host: testPg().host,
                port: testPg().port,
                database: 'postgres',
                user: testPg().user,
                password: { file: 'pgpass' },
              },
            },
          },
          auth: { apiKeys: [{ id: 'k', hash: 'sha256:' + '0'.repeat(64), sub: 'k' }] },
          policy: { files: ['policies.rego'] },
          recording: { enabled: false },
        }),
      );
      const config = (await loadConfig(file)).config;
      const gw = new Gateway({
        config,
        baseDir: dir,
        configFile: file,
        mountAdmin: (app, g) => mountRoutes(app, g, config, dir),
      });
      try {
        await expect(gw.start()).rejects.toThrow(/admin\.token: the secret is empty/);
      } finally {
        await gw.stop(1000).catch(() => undefined);
      }
    });
  }
});
