// `portcullis check` exits 1 for the JWT key sources `start` refuses (the README: "check
// exits 1 for what start refuses in the config"): an inline JWKS holding private key
// material (`d`), which would put the signing key in committed config, and a JWKS url over
// plain http to a non-loopback host without allowHttp. Before, check said "configuration
// valid" for both.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../test/helpers/spawn.js';
import { buildSnapshot } from '../runtime/snapshot.js';
import { loadConfig } from './load.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-check-jwks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const REGO = `package portcullis
import rego.v1
default allow := false
allow if input.statement.class == "read"
test_reads_allowed if allow with input as {"statement": {"class": "read"}}
`;

function check(file: string) {
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'check', '--config', file], {
    cwd: process.cwd(),
    timeoutMs: 120_000,
  });
}

async function cases(): Promise<[string, Record<string, unknown>][]> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const priv = { ...(await exportJWK(privateKey)), kid: 'k', alg: 'ES256' };
  return [
    ['inline JWKS with a private key', { jwks: { keys: { keys: [priv] } } }],
    [
      'JWKS url over plain http to a remote host',
      { jwks: { url: 'http://idp.example/jwks.json' } },
    ],
  ];
}

describe('portcullis check and JWT key sources start refuses', () => {
  it('exits 1 for each', async () => {
    writeFileSync(join(dir, 'p.rego'), REGO);
    for (const [name, jwt] of await cases()) {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          upstream: {
            targets: {
              main: { host: 'db', database: 'app', user: 'gw', password: { value: 'pw' } },
            },
          },
          auth: { jwt: { ...jwt, issuer: 'https://idp.example/', audience: 'pc' } },
          policy: { files: ['p.rego'] },
          recording: { enabled: false },
        }),
      );
      // start refuses it:
      const { config } = await loadConfig(file);
      await expect(buildSnapshot(config, { baseDir: dir }), name).rejects.toThrow(/auth/);
      // check must too:
      const r = await check(file);
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stdout + r.stderr, name).toMatch(/auth\.jwt\.jwks: /);
    }
  });
});
