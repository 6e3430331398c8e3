// A reload that withdraws trust in an issuer ends that issuer's sessions even when the new
// key URL cannot be reached: issuer and audience are checked before the keys are looked up.
// Before, the re-check of the old token failed as "keys unavailable", which ends nothing,
// and the session ran on until its token expired (the README: a session "whose issuer or
// audience is no longer trusted ends").
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { writeGatewayConfig } from './helpers/config-file.js';
import { freshDatabase } from './helpers/gateway.js';
import { RawClient, fields } from './helpers/raw.js';

const DB = 'reload_jwt_unavail';
const OLD_ISSUER = 'https://compromised-idp.example.test';
const NEW_ISSUER = 'https://new-idp.example.test';
const AUDIENCE = 'portcullis';
const POLICY =
  'package portcullis\nimport rego.v1\ndefault allow := false\nallow if input.statement.class == "read"\n';

/** A loopback port nothing listens on (the new IdP is not reachable yet). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('a reload that withdraws an issuer while the new JWKS is unreachable', () => {
  let dir: string;
  let priv: CryptoKey;
  let pub: JWK;

  const write = (jwt: Record<string, unknown>) => writeGatewayConfig(dir, DB, { auth: { jwt } });

  beforeAll(async () => {
    await freshDatabase(DB, 'CREATE TABLE items (id int); INSERT INTO items VALUES (1);');
    dir = mkdtempSync(join(tmpdir(), 'portcullis-reload-unavail-'));
    writeFileSync(join(dir, 'policies.rego'), POLICY);
    const kp = await generateKeyPair('ES256');
    priv = kp.privateKey;
    pub = { ...(await exportJWK(kp.publicKey)), kid: 'old', alg: 'ES256' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [pub] }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('ends the sessions of the issuer no longer trusted', async () => {
    write({ jwks: { file: 'jwks.json' }, issuer: OLD_ISSUER, audience: AUDIENCE });
    const file = join(dir, 'gateway.config.json');
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
    });
    await gw.start();
    const c = await RawClient.connect(gw.port);
    try {
      const token = await new SignJWT({ groups: ['agents'] })
        .setProtectedHeader({ alg: 'ES256', kid: 'old' })
        .setSubject('agent-old')
        .setIssuer(OLD_ISSUER)
        .setAudience(AUDIENCE)
        .setExpirationTime('1h')
        .sign(priv);
      await c.login(DB, token);

      // Incident response: stop trusting the old IdP, trust the new one (not reachable yet).
      const port = await closedPort();
      write({
        jwks: { url: `http://127.0.0.1:${port}/jwks` },
        issuer: NEW_ISSUER,
        audience: AUDIENCE,
      });
      expect(await gw.reload()).toBe(true);

      // The old issuer's session must end (28000). It keeps running instead.
      const ms = await c.simple('SELECT 1');
      const err = ms.find((m) => m.type === 'E');
      expect(err, 'the old issuer session still runs statements after the reload').toBeDefined();
      expect(fields(err!)).toMatchObject({ C: '28000' });
    } finally {
      c.destroy();
      await gw.stop(1000);
    }
  });
});
