// TLS to the upstream: `require` encrypts, `verify-full` also checks the server's
// certificate against the configured CA and its name (an IP address or a host name), and a
// certificate the CA did not issue fails the login. A PostgreSQL of its own, with ssl on.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type EmbeddedHandle } from '../src/upstream/embedded.js';
import { gatewayClient, startTestGateway, type TestGateway } from './helpers/gateway.js';

let dir: string;
let pg: EmbeddedHandle;
const password = 'tls-test-password';

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA and a server certificate it signs for 127.0.0.1 and localhost; another CA. */
function certificates(): void {
  for (const ca of ['ca', 'other-ca'])
    openssl(
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, `${ca}.key`), '-out', join(dir, `${ca}.pem`), '-days', '2', '-subj', `/CN=${ca}`,
    ); // prettier-ignore
  openssl(
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr'), '-subj', '/CN=pg-test',
  ); // prettier-ignore
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    'x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'),
    '-CAcreateserial', '-out', join(dir, 'server.pem'), '-days', '2', '-extfile', join(dir, 'san.ext'),
  ); // prettier-ignore
  // PostgreSQL reads its key as its own user (the embedded server runs as postgres under root).
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'server.key'), 0o600);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(join(dir, 'server.key'), uid, gid);
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-upstream-tls-'));
  certificates();
  pg = await startEmbedded({
    dataDir: join(dir, 'pg'),
    password,
    ephemeral: true,
    flags: [
      '-c', 'ssl=on',
      '-c', `ssl_cert_file=${join(dir, 'server.pem')}`,
      '-c', `ssl_key_file=${join(dir, 'server.key')}`,
    ], // prettier-ignore
  });
}, 60_000);
afterAll(async () => {
  await pg?.stop().catch(() => undefined);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A gateway whose one target is this PostgreSQL, reached as `host` with `tls` and `ca`. */
function gateway(host: string, tls: 'require' | 'verify-full', ca?: string): Promise<TestGateway> {
  return startTestGateway('postgres', {
    upstream: {
      targets: {
        main: {
          host,
          port: pg.port,
          database: 'postgres',
          user: pg.user,
          password: { value: password },
          tls,
          ...(ca ? { ca: join(dir, ca) } : {}),
        },
      },
      routes: { '*': 'main' },
    },
  } as never);
}

/** Whether a query through the gateway runs over an encrypted upstream connection. */
async function encrypted(g: TestGateway): Promise<boolean> {
  const c = await gatewayClient(g, 'postgres');
  try {
    const r = await c.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return r.rows[0].ssl === true;
  } finally {
    await c.end();
  }
}

describe('TLS to the upstream', () => {
  it('verify-full accepts the CA-issued certificate by IP address and by name, without warnings', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const g = await gateway(host, 'verify-full', 'ca.pem');
        try {
          expect(await encrypted(g), host).toBe(true);
        } finally {
          await g.stop();
        }
      }
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings.filter((w) => /ServerName|servername/i.test(w))).toEqual([]);
  });

  it('verify-full refuses a certificate its CA did not issue', async () => {
    const g = await gateway('127.0.0.1', 'verify-full', 'other-ca.pem');
    try {
      await expect(gatewayClient(g, 'postgres')).rejects.toThrow(
        /upstream database is unavailable/,
      );
    } finally {
      await g.stop();
    }
  });

  it('require encrypts without checking the certificate', async () => {
    const g = await gateway('127.0.0.1', 'require');
    try {
      expect(await encrypted(g)).toBe(true);
    } finally {
      await g.stop();
    }
  });
});
