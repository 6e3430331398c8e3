// A reload that would leave the gateway trusting the local development signing key (auth.jwt
// removed) is refused, keeping the running configuration; an empty auth.apiKeys list (its
// last key revoked) means no API key logs in, not the development key. Before, either
// reload silently switched the running gateway to the development key: anyone who can read
// <dataDir>/dev-signing-key.json could mint a token of any identity and groups.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateApiKey,
  loadOrCreateDevKey,
  mintToken,
  DEV_AUDIENCE,
  DEV_ISSUER,
} from '../src/auth/index.js';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { setLogSink } from '../src/util/logger.js';
import { writeGatewayConfig } from './helpers/config-file.js';
import { freshDatabase } from './helpers/gateway.js';
import { RawClient } from './helpers/raw.js';

const DB = 'reload_devkey';
const POLICY =
  'package portcullis\nimport rego.v1\ndefault allow := false\nallow if input.statement.class == "read"\n';

describe('a reload that leaves only the development key trusted', () => {
  let dir: string;
  const write = (auth: Record<string, unknown>) =>
    writeGatewayConfig(dir, DB, { auth, dataDir: 'data' });

  beforeAll(async () => {
    await freshDatabase(DB, 'CREATE TABLE items (id int);');
    dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-devkey-'));
    writeFileSync(join(dir, 'policies.rego'), POLICY);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const forged = async () => {
    const dev = await loadOrCreateDevKey(join(dir, 'data'));
    return mintToken(dev, {
      sub: 'anyone',
      groups: ['writers'],
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
    });
  };

  /** The login's outcome: 'ok', or the SQLSTATE it was refused with. */
  async function login(port: number, token: string): Promise<string> {
    const c = await RawClient.connect(port);
    try {
      await c.login(DB, token);
      return 'ok';
    } catch {
      return 'refused';
    } finally {
      c.destroy();
    }
  }

  it('revoking the last API key: nobody logs in with the development key, nor the revoked key', async () => {
    const { key, hash } = generateApiKey('etl');
    write({ apiKeys: [{ id: 'etl', hash, sub: 'svc-etl' }] });
    const file = join(dir, 'gateway.config.json');
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
    });
    try {
      await gw.start();
      expect(await login(gw.port, key)).toBe('ok');
      write({ apiKeys: [] });
      expect(await gw.reload()).toBe(true);
      expect(await login(gw.port, key)).toBe('refused');
      expect(await login(gw.port, await forged())).toBe('refused');
    } finally {
      await gw.stop(1000);
    }
  });

  it('removing auth altogether: the reload is refused, saying why, and the keys stay as they were', async () => {
    const { key, hash } = generateApiKey('etl');
    write({ apiKeys: [{ id: 'etl', hash, sub: 'svc-etl' }] });
    const file = join(dir, 'gateway.config.json');
    const lines: string[] = [];
    setLogSink((l) => lines.push(l));
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
    });
    try {
      await gw.start();
      write({});
      expect(await gw.reload()).toBe(false);
      expect(
        lines.some((l) => /reload failed/.test(l) && /would trust the development key/.test(l)),
      ).toBe(true);
      expect(await login(gw.port, await forged())).toBe('refused');
      expect(await login(gw.port, key)).toBe('ok');
    } finally {
      setLogSink((l) => process.stderr.write(l + '\n'));
      await gw.stop(1000);
    }
  });
});
