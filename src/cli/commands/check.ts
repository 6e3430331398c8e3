// `portcullis check`: what start would refuse is an error (exit 1); a secret this machine
// cannot read is a warning (CI seldom holds production secrets), an error with --strict.
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { createApiKeyVerifier } from '../../auth/index.js';
import { ConfigError, loadConfig } from '../../config/load.js';
import { readSecret } from '../../config/secrets.js';
import type { GatewayConfig, SecretRef } from '../../config/types.js';
import { loadPolicy } from '../../runtime/policy.js';

/** What start's authenticator refuses in the api keys, with the code start runs. */
export function apiKeyProblems(config: GatewayConfig): string[] {
  const keys = config.auth?.apiKeys ?? [];
  const problems: string[] = [];
  keys.forEach((k, i) => {
    try {
      createApiKeyVerifier([k]);
    } catch (err) {
      problems.push(`auth.apiKeys[${i}]: ${(err as Error).message}`);
    }
  });
  if (problems.length === 0 && keys.length) {
    try {
      createApiKeyVerifier(keys); // ids listed twice
    } catch (err) {
      problems.push(`auth: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** The secrets start reads, each read as start reads it; the ones that fail, as messages. */
export function secretProblems(config: GatewayConfig, baseDir: string): string[] {
  const refs: [SecretRef | undefined, string][] = [
    ...Object.entries(config.upstream?.targets ?? {}).map(
      ([name, t]): [SecretRef | undefined, string] => [
        t.password,
        `upstream.targets.${name}.password`,
      ],
    ),
    [config.admin?.token, 'admin.token'],
    [
      config.recording?.enabled === false ? undefined : config.recording?.signingKey,
      'recording.signingKey',
    ],
  ];
  const problems: string[] = [];
  for (const [ref, what] of refs) {
    try {
      readSecret(ref, what, baseDir);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(err.message);
    }
  }
  return problems;
}

export async function checkCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { config: { type: 'string' }, strict: { type: 'boolean' } },
  });
  const { config, filepath } = await loadConfig(values.config);
  const baseDir = filepath ? dirname(filepath) : process.cwd();
  const where = filepath ?? '(defaults)';
  const errors = apiKeyProblems(config);
  if (errors.length) throw new ConfigError(`invalid configuration in ${where}`, errors);
  const engine = await loadPolicy(config.policy, baseDir);
  const warnings = secretProblems(config, baseDir);
  const n = `${warnings.length} warning${warnings.length === 1 ? '' : 's'}`;
  for (const w of warnings) process.stderr.write(`portcullis: warning: ${w}\n`);
  if (warnings.length && values.strict) {
    process.stderr.write(`portcullis: ${where}: ${n}, errors with --strict\n`);
    return 1;
  }
  process.stdout.write(
    `${where}: configuration valid; policy ${engine.version}${warnings.length ? ` (${n})` : ''}\n`,
  );
  return 0;
}
