// Test helper: a real s3rver process on a free loopback port, stoppable and restartable.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';

const bin = join(process.cwd(), 'node_modules', 's3rver', 'bin', 's3rver.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`s3rver did not listen on ${port}`);
}

export interface S3rverProcess {
  endpoint: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** s3rver storing in `dir`, with `bucket` created at every start. */
export async function s3rverProcess(dir: string, bucket: string): Promise<S3rverProcess> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      process.execPath,
      [
        bin,
        '-d',
        dir,
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        '--silent',
        '--configure-bucket',
        bucket,
      ],
      { stdio: 'ignore' },
    );
    await waitForPort(port, 15_000);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((r) => {
      c.on('exit', () => r());
      c.kill('SIGKILL');
    });
  };
  await start();
  return { endpoint: `http://127.0.0.1:${port}`, start, stop };
}
