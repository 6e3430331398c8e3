// A reload that turns auth.jwt.bindUser on (the startup user must now be the credential's
// sub) verifies the open JWT sessions again under it and ends those whose startup user does
// not match; an API-key session opened under another user name ends the same way (a new
// login with it is refused). Before, only the key's config entry was compared
// (revokeChangedKeys), so the API-key session ran on under a name the running config refuses.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/auth/index.js';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { writeGatewayConfig } from './helpers/config-file.js';
import { freshDatabase } from './helpers/gateway.js';
import { RawClient, fields } from './helpers/raw.js';

const DB = 'reload_binduser_apikey';
const POLICY =
  'package portcullis\nimport rego.v1\ndefault allow := false\nallow if input.statement.class == "read"\n';
const ETL = generateApiKey('etl');

describe('a reload that turns bindUser on', () => {
  let dir: string;
  const write = (jwt: Record<string, unknown>) =>
    writeGatewayConfig(dir, DB, {
      auth: { jwt, apiKeys: [{ id: 'etl', hash: ETL.hash, sub: 'svc-etl' }] },
    });

  beforeAll(async () => {
    await freshDatabase(DB, 'CREATE TABLE items (id int);');
    dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-binduser-key-'));
    writeFileSync(join(dir, 'policies.rego'), POLICY);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ends an API-key session whose startup user is no longer accepted', async () => {
    write({ jwks: { dev: true } });
    const file = join(dir, 'gateway.config.json');
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
    });
    await gw.start();
    const clients: RawClient[] = [];
    try {
      // Unbound: the startup user is a label; the key logs in under any name.
      const s = await RawClient.connect(gw.port);
      clients.push(s);
      await s.login(DB, ETL.key, { user: 'someone-else' });
      expect((await s.simple('SELECT 1')).some((m) => m.type === 'E')).toBe(false);

      write({ jwks: { dev: true }, bindUser: 'sub' });
      expect(await gw.reload()).toBe(true);

      // The running config refuses that login now.
      const again = await RawClient.connect(gw.port);
      clients.push(again);
      await expect(again.login(DB, ETL.key, { user: 'someone-else' })).rejects.toThrow(
        /login failed/,
      );

      // So the open session must end too (as a JWT session would: FATAL 28000).
      const ms = await s.simple('SELECT 1').catch(() => [] as never[]);
      const err = ms.find((m) => m.type === 'E');
      expect(err, 'the API-key session kept running under a refused user name').toBeDefined();
      expect(fields(err!)).toMatchObject({ C: '28000' });
    } finally {
      for (const c of clients) c.destroy();
      await gw.stop(1000);
    }
  });
});
