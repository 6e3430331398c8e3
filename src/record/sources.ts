// Where the CLI reads recordings from: --dir / --s3-* flags, else the config's sinks and spool.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { dirSource } from './sinks/file.js';
import { s3Sink } from './sinks/s3.js';
import type { SegmentSource, SigningKeyInput } from './types.js';

/** What the recording commands accept from their caller (config loading happens elsewhere). */
export interface RecordingCommandContext {
  config?: {
    recording?: { spoolDir?: string; sinks?: unknown[] };
    dataDir?: string;
  };
  /** Directory relative paths in the config are resolved against. */
  baseDir?: string;
  /** Output (default process.stdout). */
  out?: (text: string) => void;
  /** Public key for checkpoint signatures, when not given with --key. */
  publicKey?: SigningKeyInput;
}

export const SOURCE_OPTIONS = {
  dir: { type: 'string', multiple: true },
  'data-dir': { type: 'string' },
  's3-bucket': { type: 'string' },
  's3-prefix': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  's3-force-path-style': { type: 'boolean' },
} as const;

export interface SourceFlags {
  dir?: string[];
  'data-dir'?: string;
  's3-bucket'?: string;
  's3-prefix'?: string;
  's3-endpoint'?: string;
  's3-region'?: string;
  's3-force-path-style'?: boolean;
}

function isSource(v: unknown): v is SegmentSource {
  const s = v as SegmentSource;
  return (
    !!s &&
    typeof s.list === 'function' &&
    typeof s.read === 'function' &&
    typeof s.name === 'string'
  );
}

/**
 * Flags win; otherwise every readable sink in the config plus the spool; otherwise the
 * defaults of `portcullis start` (.data/recordings and .data/spool).
 */
export function resolveSources(f: SourceFlags, ctx: RecordingCommandContext): SegmentSource[] {
  const base = ctx.baseDir ?? process.cwd();
  const out: SegmentSource[] = [];
  for (const d of f.dir ?? []) out.push(dirSource(resolve(base, d)));
  if (f['s3-bucket'])
    out.push(
      s3Sink({
        bucket: f['s3-bucket'],
        prefix: f['s3-prefix'],
        endpoint: f['s3-endpoint'],
        region: f['s3-region'] ?? process.env.AWS_REGION,
        forcePathStyle: f['s3-force-path-style'],
      }),
    );
  if (out.length) return out;
  const data = resolve(base, f['data-dir'] ?? ctx.config?.dataDir ?? '.data');
  const rec = ctx.config?.recording;
  const sinks = (rec?.sinks ?? []).filter(isSource);
  if (sinks.length) out.push(...sinks);
  else out.push(dirSource(resolve(data, 'recordings')));
  out.push(dirSource(resolve(base, rec?.spoolDir ?? resolve(data, 'spool'))));
  return out;
}

/** A key file: JWK, JWKS (first key), PEM, or the development key file (its public key). */
export async function readKeyFile(path: string): Promise<SigningKeyInput> {
  const text = await readFile(path, 'utf8');
  if (!text.trim().startsWith('{')) return text;
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Its message would quote the text around the fault: key material.
    throw new Error(`${path} is not valid JSON`);
  }
  if (Array.isArray(v.keys)) return v.keys[0] as Record<string, unknown>;
  if (v.publicJwk && typeof v.publicJwk === 'object') return v.publicJwk as Record<string, unknown>;
  return v;
}
