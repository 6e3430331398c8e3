// A gateway.config.json on disk, for tests that load, reload or `check` a config file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { testPg } from '../pg-env.js';

/**
 * Write `dir`/gateway.config.json: loopback listeners on free ports, the test PostgreSQL as
 * target `main` for `database` (its password read from `dir`/pgpass, written here too),
 * `policies.rego` of `dir`, recording off; `extra` (auth, dataDir, …) is merged over that.
 * Returns the file's path.
 */
export function writeGatewayConfig(
  dir: string,
  database: string,
  extra: Record<string, unknown> = {},
): string {
  const t = testPg();
  writeFileSync(join(dir, 'pgpass'), t.password + '\n');
  const file = join(dir, 'gateway.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      upstream: {
        targets: {
          main: {
            host: t.host,
            port: t.port,
            database,
            user: t.user,
            // Relative to the config's folder (the test runs elsewhere).
            password: { file: 'pgpass' },
          },
        },
      },
      policy: { files: ['policies.rego'] },
      recording: { enabled: false },
      ...extra,
    }),
  );
  return file;
}
