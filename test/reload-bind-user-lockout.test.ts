// The login limiter is one for every config: a reload that changes auth.jwt.bindUser (say,
// turning it on as a hardening step) keeps every address's lockout. Before, limiters were
// kept per bindUser setting, so the change swapped in a fresh one: an address locked out for
// guessing API keys was let in again at once with a fresh budget of 20 guesses (the README:
// "a reload keeps the lockout").
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/auth/index.js';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { writeGatewayConfig } from './helpers/config-file.js';
import { freshDatabase } from './helpers/gateway.js';
import { RawClient } from './helpers/raw.js';

const DB = 'reload_binduser';
const POLICY =
  'package portcullis\nimport rego.v1\ndefault allow := false\nallow if input.statement.class == "read"\n';
const ETL = generateApiKey('etl');

describe('a reload that changes bindUser', () => {
  let dir: string;
  const write = (jwt: Record<string, unknown>) =>
    writeGatewayConfig(dir, DB, {
      auth: { jwt, apiKeys: [{ id: 'etl', hash: ETL.hash, sub: 'svc-etl' }] },
    });

  beforeAll(async () => {
    await freshDatabase(DB, 'CREATE TABLE items (id int);');
    dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-binduser-'));
    writeFileSync(join(dir, 'policies.rego'), POLICY);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the per-address lockout', async () => {
    write({ jwks: { dev: true } });
    const file = join(dir, 'gateway.config.json');
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
    });
    await gw.start();
    const login = async (key: string) => {
      const c = await RawClient.connect(gw.port, '127.0.0.1', '127.0.0.23');
      try {
        await c.login(DB, key, { user: 'svc-etl' });
        return 'ok';
      } catch {
        return 'refused';
      } finally {
        c.destroy();
      }
    };
    try {
      // An address guessing API keys is locked out: even the right key is refused.
      for (let i = 0; i < 20; i++) expect(await login(ETL.key + 'x')).toBe('refused');
      expect(await login(ETL.key)).toBe('refused');

      // The operator hardens the config: the startup user must now be the key's sub.
      write({ jwks: { dev: true }, bindUser: 'sub' });
      expect(await gw.reload()).toBe(true);

      // Still locked out (the 5 minutes have not passed).
      expect(await login(ETL.key), 'the lockout was dropped by the reload').toBe('refused');
    } finally {
      await gw.stop(1000);
    }
  });
});
