// A reload verifies again the tokens of the JWT sessions it finds: a key withdrawn from the
// JWKS (or an issuer no longer trusted) ends the sessions its tokens opened, a running
// statement cancelled; sessions whose tokens still verify go on.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { writeGatewayConfig } from './helpers/config-file.js';
import { adminClient, freshDatabase } from './helpers/gateway.js';
import { untilNotRunning } from './helpers/gateway-process.js';
import { RawClient, fields, password, query, startup } from './helpers/raw.js';

const DB = 'reload_jwt';
const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'portcullis';
const POLICY =
  'package portcullis\nimport rego.v1\ndefault allow := false\nallow if input.statement.class == "read"\n';

interface Key {
  kid: string;
  pub: JWK;
  priv: CryptoKey;
}

async function key(kid: string): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  return { kid, pub: { ...(await exportJWK(publicKey)), kid, alg: 'ES256' }, priv: privateKey };
}

function token(k: Key, sub: string, issuer = ISSUER): Promise<string> {
  return new SignJWT({ groups: ['agents'] })
    .setProtectedHeader({ alg: 'ES256', kid: k.kid })
    .setSubject(sub)
    .setIssuer(issuer)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(k.priv);
}

describe('a reload and the JWT sessions it finds', () => {
  let dir: string;
  let a: Key;
  let b: Key;
  const jwks = (...keys: Key[]) =>
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: keys.map((k) => k.pub) }));
  const config = (issuer: string | string[] = ISSUER) =>
    writeGatewayConfig(dir, DB, {
      auth: { jwt: { jwks: { file: 'jwks.json' }, issuer, audience: AUDIENCE } },
    });
  const gateway = async (opts: { recorder?: unknown } = {}) => {
    const file = join(dir, 'gateway.config.json');
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
      ...(opts.recorder ? { recorder: opts.recorder as never } : {}),
    });
    await gw.start();
    return gw;
  };
  const login = async (gw: Gateway, t: string) => {
    const c = await RawClient.connect(gw.port);
    await c.login(DB, t);
    return c;
  };
  const ok = async (c: RawClient) => !(await c.simple('SELECT 1')).some((m) => m.type === 'E');

  beforeAll(async () => {
    await freshDatabase(DB, 'CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2);');
    dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-jwt-'));
    writeFileSync(join(dir, 'policies.rego'), POLICY);
    [a, b] = await Promise.all([key('a'), key('b')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ends the sessions of a key withdrawn from the JWKS file, a running statement cancelled, and no others', async () => {
    jwks(a, b);
    config();
    const gw = await gateway();
    const clients: RawClient[] = [];
    try {
      const idle = await login(gw, await token(a, 'agent-a'));
      const busy = await login(gw, await token(a, 'agent-a2'));
      const other = await login(gw, await token(b, 'agent-b'));
      clients.push(idle, busy, other);
      await busy.write(query('SELECT pg_sleep(20)'));
      await new Promise((r) => setTimeout(r, 200));

      // A reload that leaves the keys alone ends nothing.
      expect(await gw.reload()).toBe(true);
      expect(await ok(idle)).toBe(true);

      jwks(b);
      expect(await gw.reload()).toBe(true);
      for (const c of [idle, busy]) {
        const ms = await c.until('E', 5000);
        expect(fields(ms.at(-1)!)).toMatchObject({
          C: '28000',
          M: expect.stringMatching(/revoked: its token does not verify/),
        });
      }
      // The sleep was cancelled upstream, not left running.
      await untilNotRunning(DB, 'SELECT pg_sleep(20)');
      expect(await ok(other)).toBe(true);
      const again = await RawClient.connect(gw.port);
      clients.push(again);
      await expect(again.login(DB, await token(a, 'agent-a'))).rejects.toThrow(/login failed: E/);
    } finally {
      for (const c of clients) c.destroy();
      await gw.stop(1000);
    }
  });

  it('ends the sessions of an issuer no longer trusted', async () => {
    jwks(a);
    config([ISSUER, 'https://old-idp.example.test']);
    const gw = await gateway();
    const clients: RawClient[] = [];
    try {
      const old = await login(gw, await token(a, 'agent-old', 'https://old-idp.example.test'));
      const kept = await login(gw, await token(a, 'agent-new'));
      clients.push(old, kept);
      config();
      expect(await gw.reload()).toBe(true);
      const ms = await old.until('E', 5000);
      expect(fields(ms.at(-1)!)).toMatchObject({ C: '28000' });
      expect(await ok(kept)).toBe(true);
    } finally {
      for (const c of clients) c.destroy();
      await gw.stop(1000);
    }
  });

  it('ends a session whose key a reload withdrew while it was still logging in; nothing it sent runs', async () => {
    jwks(a, b);
    config();
    // A recorder whose openSession waits for the test: the login is past its password check
    // and not yet a session when the reload runs.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const gw = await gateway({
      recorder: {
        openSession: async () => {
          await gate;
          return {
            statements: () => [],
            refused: () => undefined,
            result: () => undefined,
            end: async () => undefined,
          };
        },
      },
    });
    const c = await RawClient.connect(gw.port);
    try {
      await c.write(startup({ user: 'agent-1', database: DB }));
      await c.next();
      await c.write(
        Buffer.concat([password(await token(a, 'agent-a')), query('DELETE FROM items')]),
      );
      await new Promise((r) => setTimeout(r, 300));
      jwks(b);
      expect(await gw.reload()).toBe(true);
      release();
      const ms = await c.rest(5000);
      expect(ms.some((m) => m.type === 'Z')).toBe(false);
      expect(fields(ms.find((m) => m.type === 'E')!)).toMatchObject({ C: '28000' });
      const admin = await adminClient(DB);
      expect((await admin.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(2);
      await admin.end();
    } finally {
      c.destroy();
      await gw.stop(1000);
    }
  });
});
