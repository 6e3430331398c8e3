// A TypeScript config (gateway.config.ts) with a syntax error next to an inline secret
// (`{ value: ... }`, which the schema accepts): esbuild quotes the token it stopped at
// ("Expected \"}\" but found \"'<secret>'\""); the gateway leaves that token out of what
// `portcullis check` and `start` print and of what a failed hot reload writes to the log and
// to the recording's config_reload event (where it would stay for ever). Before, it was
// printed and recorded verbatim. (JSON configs: see test/config-edges.test.ts.)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { Gateway } from '../src/runtime/gateway.js';
import { setLogSink } from '../src/util/logger.js';
import { CLI } from './helpers/gateway-process.js';
import { run } from './helpers/spawn.js';
import { testPg } from './pg-env.js';

const ROOT = process.cwd();
const SECRET = 'N3w-Adm1n-T0ken-very-secret-77';

function configTs(token: string): string {
  const t = testPg();
  return `export default {
  listen: { host: '127.0.0.1', port: 0 },
  admin: { host: '127.0.0.1', port: 0, token: ${token} },
  upstream: { targets: { main: { host: '${t.host}', port: ${t.port}, database: 'postgres', user: '${t.user}', password: { env: 'PCL_TEST_PG_PW' } } } },
  auth: { jwt: { jwks: { dev: true } } },
  policy: { files: ['policies.rego'] },
  recording: { enabled: false },
};
`;
}
/** The operator pastes a new token and drops the colon. */
const BROKEN = `{ value '${SECRET}' }`;

describe('an inline secret beside a TypeScript syntax error', () => {
  let dir: string;
  beforeAll(() => {
    process.env.PCL_TEST_PG_PW = testPg().password;
    dir = mkdtempSync(join(tmpdir(), 'portcullis-ts-secret-'));
    writeFileSync(
      join(dir, 'policies.rego'),
      'package portcullis\nimport rego.v1\ndefault allow := false\n',
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('portcullis check does not print it, in any quotes, and still says where', async () => {
    const file = join(dir, 'check.config.ts');
    for (const broken of [BROKEN, `{ value "${SECRET}" }`, `{ value \`${SECRET}\` }`]) {
      writeFileSync(file, configTs(broken));
      const r = await run(CLI[0], [...CLI.slice(1), 'check', '--config', file], {
        cwd: ROOT,
        timeoutMs: 60_000,
      });
      expect(r.code).toBe(1);
      expect(r.stderr + r.stdout).not.toContain(SECRET);
      expect(r.stderr + r.stdout).toMatch(
        /check\.config\.ts:3:\d+: ERROR: Expected "}" but found a string/,
      );
    }
  });

  it('a failed reload writes it neither to the log nor to the recording', async () => {
    const file = join(dir, 'gateway.config.ts');
    writeFileSync(file, configTs(`{ value: 'the-old-admin-token-1234' }`));
    const events: Record<string, unknown>[] = [];
    const gw = new Gateway({
      config: (await loadConfig(file)).config,
      baseDir: dir,
      configFile: file,
      recorder: {
        gatewayEvent: async (type: string, f: Record<string, unknown>) =>
          void events.push({ type, ...f }),
      } as never,
    });
    const lines: string[] = [];
    await gw.start();
    setLogSink((l) => lines.push(l));
    try {
      writeFileSync(file, configTs(BROKEN));
      expect(await gw.reload()).toBe(false);
    } finally {
      setLogSink((l) => process.stderr.write(l + '\n'));
      await gw.stop(1000);
    }
    expect(events.some((e) => e.type === 'config_reload')).toBe(true);
    expect(JSON.stringify(events), 'recording').not.toContain(SECRET);
    expect(lines.join('\n'), 'log').not.toContain(SECRET);
  });
});
