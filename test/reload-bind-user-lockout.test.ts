// A reload that changes auth.jwt.bindUser. The login limiter is one for every config: a
// reload that turns bindUser on (a hardening step) keeps every address's lockout. Before,
// limiters were kept per bindUser setting, so the change swapped in a fresh one: an address
// locked out for guessing API keys was let in again at once with a fresh budget of 20
// guesses (the README: "a reload keeps the lockout"). And an API-key session opened under
// a startup user the reloaded setting refuses ends, as a JWT session does; before, only the
// key's config entry was compared, so it ran on under a name the running config refuses.
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

  /** A gateway on the config as written with bindUser off. */
  async function start(): Promise<Gateway> {
    write({ jwks: { dev: true } });
    const file = join(dir, 'gateway.config.json');
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
    });
    await gw.start();
    return gw;
  }

  it('keeps the per-address lockout', async () => {
    const gw = await start();
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

  it('ends an API-key session whose startup user is no longer accepted', async () => {
    const gw = await start();
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
