// `portcullis check`: what start would refuse is an error (exit 1); a secret or certificate
// this machine cannot read is a warning (CI seldom holds production secrets), an error with
// --strict.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { allowedAlgorithms, createApiKeyVerifier, resolveKeys } from '../../auth/index.js';
import { ConfigError, loadConfig } from '../../config/load.js';
import { readSecret } from '../../config/secrets.js';
import { signingKeyOf } from '../../runtime/recording.js';
import type { GatewayConfig, SecretRef } from '../../config/types.js';
import { loadPolicy } from '../../runtime/policy.js';
import { devKeyWarning, jwksSource, listenSecureContext } from '../../runtime/snapshot.js';

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

/** What start's JWT verifier refuses in the algorithm list, with the code start runs. */
export function jwtProblems(config: GatewayConfig): string[] {
  const jwt = config.auth?.jwt;
  if (!jwt?.algorithms) return [];
  try {
    // Keys from config are public keys (a url, a file, inline): never a shared secret.
    allowedAlgorithms({ jwks: { kind: 'inline', keys: { keys: [] } }, algorithms: jwt.algorithms });
    return [];
  } catch (err) {
    return [`auth.jwt: ${(err as Error).message}`];
  }
}

/**
 * The JWT key source as start reads it (no fetch): a url start refuses, an inline set or a
 * readable file holding private or symmetric keys. A file that cannot be read here is a
 * warning (see jwksFileWarnings): it may be mounted only where the gateway runs.
 */
export function jwksProblems(config: GatewayConfig, baseDir: string): string[] {
  const j = config.auth?.jwt?.jwks;
  if (!j || 'dev' in j) return [];
  const source = jwksSource(j, baseDir);
  if (source.kind === 'file' && !readable(source.path)) return [];
  try {
    resolveKeys(source);
    return [];
  } catch (err) {
    return [`auth.jwt.jwks: ${(err as Error).message}`];
  }
}

/** A JWKS file that cannot be read here. */
function jwksFileWarnings(config: GatewayConfig, baseDir: string): string[] {
  const j = config.auth?.jwt?.jwks;
  if (!j || !('file' in j) || readable(resolve(baseDir, j.file))) return [];
  return [`auth.jwt.jwks: cannot read jwks file ${j.file}`];
}

function readable(path: string): boolean {
  try {
    readFileSync(path);
    return true;
  } catch {
    return false;
  }
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

/** A signing key that can be read but is no key: start refuses it, and so does check. */
function signingKeyProblems(config: GatewayConfig, baseDir: string): string[] {
  const ref = config.recording?.enabled === false ? undefined : config.recording?.signingKey;
  let secret: string | undefined;
  try {
    secret = readSecret(ref, 'recording.signingKey', baseDir);
  } catch {
    return []; // unreadable here: a warning (secretProblems)
  }
  if (!secret) return [];
  try {
    signingKeyOf(secret);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
}

/** The certificate files start loads, loaded as start loads them; the failures, as messages. */
export function tlsProblems(config: GatewayConfig, baseDir: string): string[] {
  const problems: string[] = [];
  try {
    listenSecureContext(config, baseDir);
  } catch (err) {
    problems.push((err as Error).message);
  }
  for (const [name, t] of Object.entries(config.upstream?.targets ?? {})) {
    if (!t.ca) continue;
    try {
      readFileSync(resolve(baseDir, t.ca));
    } catch (err) {
      problems.push(`upstream.targets.${name}.ca: ${(err as Error).message}`);
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
  const errors = [
    ...apiKeyProblems(config),
    ...jwtProblems(config),
    ...jwksProblems(config, baseDir),
    ...signingKeyProblems(config, baseDir),
  ];
  if (errors.length) throw new ConfigError(`invalid configuration in ${where}`, errors);
  const engine = await loadPolicy(config.policy, baseDir);
  // Secrets and certificates are often mounted only where the gateway runs.
  const devKey = devKeyWarning(config);
  const warnings = [
    ...secretProblems(config, baseDir),
    ...tlsProblems(config, baseDir),
    ...jwksFileWarnings(config, baseDir),
    ...(devKey ? [devKey] : []),
  ];
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
