// S3 sink: contract suite against a real s3rver process, stopped and restarted mid-run.
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
