// A JWKS file that holds private key material is refused (checkJwks), and a file that does
// not parse must be refused without quoting it: V8's JSON.parse message quotes the text
// around the error (`Unexpected token 'n', ..."d": nWGxne_9W"... is not valid JSON`). Before,
// `check` and `start` printed that message as is: a private JWKS pointed at by mistake,
// hand-edited with a quote missing, had its private key printed.
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI } from './helpers/gateway-process.js';
import { testUpstream } from './helpers/gateway.js';
import { run } from './helpers/spawn.js';

const ROOT = process.cwd();
const cli = (args: string[]) =>
  run(CLI[0], [...CLI.slice(1), ...args], { cwd: ROOT, timeoutMs: 60_000 });

describe('a JWKS file that does not parse', () => {
  it('check and start do not print the private key it holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-jwks-leak-'));
    copyFileSync(join(ROOT, 'policies.rego'), join(dir, 'policies.rego'));
    writeFileSync(
      join(dir, 'gateway.config.json'),
      JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        upstream: testUpstream('jwks_leak_none', {
          password: { env: 'PORTCULLIS_TEST_PG_PASSWORD' },
        }),
        auth: {
          jwt: {
            jwks: { file: 'jwks.json' },
            issuer: 'https://idp.example',
            audience: 'portcullis',
          },
        },
        recording: { enabled: false },
      }),
    );
    // A hand-edited private JWKS with the quotes missing around "d".
    const d = 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A';
    writeFileSync(
      join(dir, 'jwks.json'),
      `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d": ${d}}]}`,
    );
    const check = await cli(['check', '--config', join(dir, 'gateway.config.json')]);
    expect(check.code).toBe(1);
    expect(check.stdout + check.stderr).toMatch(/jwks/);
    expect(check.stdout + check.stderr).not.toContain(d.slice(0, 8));
    const start = await cli(['start', '--config', join(dir, 'gateway.config.json')]);
    expect(start.code).toBe(1);
    expect(start.stdout + start.stderr).not.toContain(d.slice(0, 8));
  });
});
