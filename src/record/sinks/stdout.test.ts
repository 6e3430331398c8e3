// Stdout sink: contract suite against a captured stream.
import { Writable } from 'node:stream';
import { stdoutSink } from './stdout.js';
import { sinkContract } from './sink.contract.js';

sinkContract('stdoutSink', async () => {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  });
  return { sink: stdoutSink({ stream }), captured: () => Buffer.concat(chunks) };
});
