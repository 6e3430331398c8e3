// S3 sink: sealed segments as objects under a prefix, through @aws-sdk/client-s3.
import type { S3Client } from '@aws-sdk/client-s3';
import type { SegmentSource, Sink } from '../types.js';

// The SDK is large (~25 MB resident): load it only when an S3 sink is used.
let sdk: Promise<typeof import('@aws-sdk/client-s3')> | undefined;
const loadSdk = () => (sdk ??= import('@aws-sdk/client-s3'));

export interface S3SinkOptions {
  bucket: string;
  /** Key prefix, e.g. "recordings/" (a trailing slash is added when missing). */
  prefix?: string;
  endpoint?: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  forcePathStyle?: boolean;
  /** Per-request timeout; the spool's shipper retries with backoff (default 10 s). */
  requestTimeoutMs?: number;
  rotateBytes?: number;
  rotateMs?: number;
  name?: string;
}

/**
 * The client is created on first use, so the factory has no side effects.
 * @example
 * sinks: [s3Sink({ bucket: 'audit', prefix: 'portcullis/', region: 'eu-west-1' })]
 */
export function s3Sink(o: S3SinkOptions) {
  const prefix = o.prefix ? (o.prefix.endsWith('/') ? o.prefix : o.prefix + '/') : '';
  let client: S3Client | undefined;
  const c = async () => {
    const { S3Client } = await loadSdk();
    return (client ??= new S3Client({
      region: o.region ?? 'us-east-1',
      endpoint: o.endpoint,
      credentials: o.credentials,
      forcePathStyle: o.forcePathStyle,
      maxAttempts: 2,
      requestHandler: { requestTimeout: o.requestTimeoutMs ?? 10_000, connectionTimeout: 3_000 },
    }));
  };
  return {
    name: o.name ?? 's3:' + o.bucket,
    rotation: { maxBytes: o.rotateBytes, maxMs: o.rotateMs },
    async put(segment: string, bytes: Uint8Array): Promise<void> {
      const { PutObjectCommand } = await loadSdk();
      await (
        await c()
      ).send(
        new PutObjectCommand({
          Bucket: o.bucket,
          Key: prefix + segment,
          Body: bytes,
          ContentType: 'application/x-ndjson',
        }),
      );
    },
    async list(): Promise<string[]> {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const { ListObjectsV2Command } = await loadSdk();
        const r = await (
          await c()
        ).send(
          new ListObjectsV2Command({ Bucket: o.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const obj of r.Contents ?? []) {
          const name = obj.Key?.slice(prefix.length);
          if (name && !name.includes('/') && name.endsWith('.jsonl')) out.push(name);
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
      return out.sort();
    },
    async read(segment: string): Promise<Uint8Array> {
      const { GetObjectCommand } = await loadSdk();
      const r = await (
        await c()
      ).send(new GetObjectCommand({ Bucket: o.bucket, Key: prefix + segment }));
      if (!r.Body) throw new Error(`empty object ${prefix + segment}`);
      return await r.Body.transformToByteArray();
    },
    async close(): Promise<void> {
      client?.destroy();
      client = undefined;
    },
  } satisfies Sink & SegmentSource;
}
