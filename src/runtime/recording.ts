// Builds the recorder from config.recording: spool, sinks (files by default), checkpoint
// signing key (the configured one, else the local development key).
import { resolve } from 'node:path';
import { loadOrCreateDevKey } from '../auth/index.js';
import { ConfigError, readSecret, type RecordingConfig } from '../config/index.js';
import { createRecorder, fileSink, type Recorder, type Sink } from '../record/index.js';
import { createSigner } from '../record/sign.js';

/**
 * The checkpoint signing key as read from its secret (a PEM private key, or a private
 * JWK), checked by building a signer with it; a problem names the setting, never the key
 * (a JSON or crypto error quotes the text it failed at).
 */
export function signingKeyOf(secret: string): string | Record<string, unknown> {
  let key: string | Record<string, unknown>;
  try {
    key = secret.trim().startsWith('{') ? (JSON.parse(secret) as Record<string, unknown>) : secret;
    createSigner(key as never);
  } catch {
    throw new ConfigError(
      'recording.signingKey: not a usable private key (expected a PEM private key or a private JWK)',
    );
  }
  return key;
}

export async function buildRecorder(
  cfg: RecordingConfig | undefined,
  baseDir: string,
  dataDir = '.data',
): Promise<Recorder | undefined> {
  if (cfg?.enabled === false) return undefined;
  const data = resolve(baseDir, dataDir);
  const sinks = (cfg?.sinks as Sink[] | undefined) ?? [
    fileSink({ dir: resolve(data, 'recordings') }),
  ];
  let signingKey: string | Record<string, unknown> | undefined;
  let kid: string | undefined;
  const secret = readSecret(cfg?.signingKey, 'recording.signingKey', baseDir);
  if (secret) signingKey = signingKeyOf(secret);
  else {
    const dev = await loadOrCreateDevKey(data);
    signingKey = dev.privateJwk as Record<string, unknown>;
    kid = dev.kid;
  }
  return createRecorder({
    spoolDir: resolve(baseDir, cfg?.spoolDir ?? resolve(data, 'spool')),
    sinks,
    durability: cfg?.durability ?? 'fsync',
    failOpen: cfg?.failOpen ?? false,
    checkpoint: { signingKey, kid },
  });
}
