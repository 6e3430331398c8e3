// Test fixtures for the recording stage: identities, statement inputs, temp dirs, keys.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, renameSync } from 'node:fs';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Identity } from '../policy/types.js';
import { LOCK_FILE } from './lock.js';
import { splitLines } from './segment.js';
import { nodeSpoolFs } from './spool.js';
import type { SessionStartInfo, SessionTotals, SpoolFs, StatementEventInput } from './types.js';

export const alice: Identity = {
  sub: 'alice',
  iss: 'https://idp.example',
  groups: ['analysts'],
  agent: 'report-bot',
  on_behalf_of: 'bob',
  method: 'jwt',
  claims: {},
};

export function startInfo(over: Partial<SessionStartInfo> = {}): SessionStartInfo {
  return {
    identity: alice,
    client_addr: '127.0.0.1:50000',
    application_name: 'psql',
    database: 'app',
    target: 'primary',
    tls: true,
    ...over,
  };
}

/** A session's end totals: none of anything, ended by the client, unless given. */
export function totals(over: Partial<SessionTotals> = {}): SessionTotals {
  return {
    statements: 0,
    allowed: 0,
    denied: 0,
    held: 0,
    errors: 0,
    rows: 0,
    duration_ms: 1,
    reason: 'client_terminate',
    ...over,
  };
}

export function stmt(
  sql = 'SELECT * FROM orders WHERE id = $1',
  over: Partial<StatementEventInput> = {},
): StatementEventInput {
  return {
    sql,
    fingerprint: 'fp-' + sql.length,
    command: 'SELECT',
    class: 'read',
    relations: [{ schema: 'public', name: 'orders', kind: 'table', access: 'read' }],
    columns: [],
    functions: [],
    has_where: true,
    opaque: false,
    protocol: 'extended',
    params: ['42'],
    index: 0,
    count: 1,
    in_transaction: false,
    decision: { kind: 'allow', mask: {}, limits: {}, reasons: ['analysts may read orders'] },
    decision_id: 'd-1',
    policy_version: 'p1',
    ...over,
  };
}

/** The pid of a process that has exited. */
export function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid!;
}

/**
 * What kill -9 leaves of a recorder that never closed: its spool lock, naming a process
 * that is gone. A test that abandons a recorder to stand for a crash calls this.
 */
export function leaveDeadLock(spoolDir: string): void {
  const pid = deadPid();
  for (const n of readdirSync(spoolDir)) {
    const m = LOCK_FILE.exec(n);
    if (m) renameSync(join(spoolDir, n), join(spoolDir, `lock.${pid}.${m[2]}`));
  }
}

export async function tempDir(tag = 'rec'): Promise<string> {
  return mkdtemp(join(tmpdir(), `portcullis-${tag}-`));
}

/** An Ed25519 key pair as JWKs (private for the recorder, public for verify). */
export function edKeys(): {
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
} {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateJwk: privateKey.export({ format: 'jwk' }) as Record<string, unknown>,
    publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
  };
}

/** Every event line of the segments in `dir`, in segment order. */
export async function lines(dir: string) {
  const out = [];
  for (const n of (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort())
    for (const { text } of splitLines(await readFile(join(dir, n))).lines)
      out.push(JSON.parse(text));
  return out;
}

/** node fs with counters, and a switch that makes writes fail (or only the zero fills). */
export function countingFs() {
  const c = { writes: 0, syncWrites: 0, syncs: 0, fills: 0, failWrites: false, failFills: false };
  const fs: SpoolFs = {
    ...nodeSpoolFs,
    async open(p, flags) {
      if (c.failWrites) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
      const f = await nodeSpoolFs.open(p, flags);
      return {
        write: async (d) => {
          if (c.failWrites) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
          c.writes++;
          return f.write(d);
        },
        writeAt: async (d, pos) => {
          if (c.failWrites) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
          // A line is never all NULs: those are the spool's zero fill ahead of the data.
          if (d.every((b) => b === 0)) {
            if (c.failFills) throw Object.assign(new Error('ENOSPC: injected'), { code: 'ENOSPC' });
            c.fills++;
          } else c.writes++;
          return f.writeAt!(d, pos);
        },
        writeSync: (d) => {
          if (c.failWrites) throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
          c.writes++;
          c.syncWrites++;
          return f.writeSync!(d);
        },
        datasync: async () => {
          c.syncs++;
          return f.datasync();
        },
        truncate: (n) => f.truncate(n),
        close: () => f.close(),
      };
    },
  };
  return { c, fs };
}
