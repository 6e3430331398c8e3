// Secrets named in config ({env}, {file}, {value}) are read when the gateway starts and
// registered with the logger so they never appear in a log line.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { registerSecret } from '../util/logger.js';
import type { SecretRef } from './types.js';
import { ConfigError } from './load.js';

/** `{file}` paths are relative to `baseDir` (the config's folder), like every other path. */
export function readSecret(
  ref: SecretRef | undefined,
  what: string,
  baseDir = process.cwd(),
): string | undefined {
  if (!ref) return undefined;
  let v: string | undefined;
  if ('env' in ref) {
    v = process.env[ref.env];
    if (v === undefined)
      throw new ConfigError(`${what}: environment variable ${ref.env} is not set`);
  } else if ('file' in ref) {
    try {
      v = readFileSync(resolve(baseDir, ref.file), 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw new ConfigError(`${what}: cannot read secret file ${ref.file}`);
    }
  } else v = ref.value;
  // A secret that is configured but empty (a variable exported empty, a mounted file that
  // came up empty) is an error, never "no secret": an empty admin.token would mean no
  // authentication at all.
  if (v === '')
    throw new ConfigError(
      `${what}: the secret is empty (${'env' in ref ? `environment variable ${ref.env}` : 'file' in ref ? `file ${ref.file}` : 'value'})`,
    );
  registerSecret(v);
  return v;
}
