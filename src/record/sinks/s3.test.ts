// S3 sink: contract suite against a real s3rver process, stopped and restarted mid-run.
import { describe, expect, it } from 'vitest';
import { replayCommand } from '../../cli/commands/replay.js';
import { verifyCommand } from '../../cli/commands/verify.js';
import { createRecorder } from '../recorder.js';
import { edKeys, startInfo, stmt } from '../testkit.js';
import { s3Sink } from './s3.js';
import { s3rverProcess } from './s3rver-process.js';
import { sinkContract } from './sink.contract.js';
import { tempDir } from '../testkit.js';
import { rm } from 'node:fs/promises';

sinkContract('s3Sink (s3rver)', async () => {
  const dir = await tempDir('s3rver');
  const server = await s3rverProcess(dir, 'recordings');
  const sink = s3Sink({
    bucket: 'recordings',
    prefix: 'portcullis/',
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    forcePathStyle: true,
    requestTimeoutMs: 2000,
  });
  return {
    sink,
    outage: { stop: server.stop, start: server.start },
    cleanup: async () => {
      await sink.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe('replay and verify read from S3', () => {
  it('prints and verifies a recording stored in s3rver', async () => {
    const dir = await tempDir('s3rver-cli');
    const server = await s3rverProcess(dir, 'audit');
    const env = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    try {
      const keys = edKeys();
      const sink = s3Sink({
        bucket: 'audit',
        prefix: 'gw1',
        endpoint: server.endpoint,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
        forcePathStyle: true,
      });
      const rec = createRecorder({
        spoolDir: await tempDir('s3-cli-spool'),
        sinks: [sink],
        checkpoint: { signingKey: keys.privateJwk },
      });
      const s = await rec.openSession(startInfo({ sessionId: 's3-session' }));
      const seq = await s.statement(stmt('SELECT 42'));
      s.result(seq, { outcome: 'ok', duration_ms: 0.5, rows: 1, command_tag: 'SELECT 1' });
      await s.end({
        statements: 1,
        allowed: 1,
        denied: 0,
        held: 0,
        errors: 0,
        rows: 1,
        duration_ms: 1,
        reason: 'x',
      });
      await rec.close();
      const flags = [
        '--s3-bucket',
        'audit',
        '--s3-prefix',
        'gw1/',
        '--s3-endpoint',
        server.endpoint,
        '--s3-force-path-style',
      ];
      let text = '';
      const out = (t: string) => void (text += t);
      expect(await replayCommand(['s3-session', ...flags], { out })).toBe(0);
      expect(text).toMatch(/ALLOW +1 +0\.50 ms {2}SELECT 42/);
      text = '';
      expect(await verifyCommand(flags, { out, publicKey: keys.publicJwk })).toBe(0);
      expect(text).toMatch(/OK: every chain is intact and sealed/);
    } finally {
      process.env.AWS_ACCESS_KEY_ID = env.id;
      process.env.AWS_SECRET_ACCESS_KEY = env.secret;
      if (env.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      if (env.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      await server.stop();
    }
  }, 60_000);
});
