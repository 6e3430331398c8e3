// Client certificates: with a CA configured on the listener, a certificate the client presents
// must be issued by that CA and name the connecting user (CN); without one the token alone
// authenticates. Certificates are made with openssl for the run.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { RawClient, fields, password, rows, startup } from './helpers/raw.js';

const DB = 'client_cert_db';
let dir: string;
let g: TestGateway;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/**
 * A key and a certificate for `cn`, signed by the test CA, or self-signed. `cn` is the
 * subject's CN, or a whole subject when it starts with '/'.
 */
function clientCert(name: string, cn: string, byCa: boolean): { key: string; cert: string } {
  const subj = cn.startsWith('/') ? cn : `/CN=${cn}`;
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  if (!byCa) {
    openssl(
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', subj,
    ); // prettier-ignore
    return { key, cert };
  }
  const csr = join(dir, `${name}.csr`);
  openssl(
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', csr, '-subj', subj, '-multivalue-rdn',
  ); // prettier-ignore
  openssl(
    'x509', '-req', '-in', csr, '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'),
    '-CAcreateserial', '-out', cert, '-days', '2',
  ); // prettier-ignore
  return { key, cert };
}

beforeAll(async () => {
  await freshDatabase(DB, 'SELECT 1');
  dir = mkdtempSync(join(tmpdir(), 'portcullis-client-cert-'));
  openssl(
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-days', '2', '-subj', '/CN=test-ca',
  ); // prettier-ignore
  openssl(
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.pem'), '-days', '2', '-subj', '/CN=localhost',
  ); // prettier-ignore
  g = await startTestGateway(DB, {
    listen: {
      host: '127.0.0.1',
      port: 0,
      tls: {
        cert: join(dir, 'server.pem'),
        key: join(dir, 'server.key'),
        ca: join(dir, 'ca.pem'),
      },
    },
  });
});
afterAll(async () => {
  await g?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** SSLRequest, then a TLS handshake presenting `cert` (or none). */
function tlsClient(cert?: { key: string; cert: string }): Promise<RawClient> {
  return RawClient.tls(g.port, {
    cert: cert && { key: readFileSync(cert.key), cert: readFileSync(cert.cert) },
  });
}

/** Log in as `user`; the answer to the startup and to a query. */
async function attempt(c: RawClient, user: string): Promise<{ ok: boolean; error?: string }> {
  try {
    await c.write(startup({ user, database: DB }));
    const first = await c.next();
    if (first?.type === 'E') return { ok: false, error: fields(first).M };
    await c.write(password(await g.token()));
    const rest = await c.until('Z');
    const err = rest.find((m) => m.type === 'E');
    if (err) return { ok: false, error: fields(err).M };
    const res = await c.simple('SELECT 41 + 1 AS n');
    return { ok: rows(res)[0]?.[0] === '42' };
  } finally {
    c.destroy();
  }
}

describe('client certificates with a CA on the listener', () => {
  it('a certificate from the CA naming the user logs in', async () => {
    const r = await attempt(await tlsClient(clientCert('good', 'agent-1', true)), 'agent-1');
    expect(r).toEqual({ ok: true });
  });

  it('a certificate from the CA naming another user is refused', async () => {
    const r = await attempt(await tlsClient(clientCert('other', 'agent-2', true)), 'agent-1');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/does not match the user/);
  });

  it('a certificate the CA did not issue is refused, whatever its CN says', async () => {
    const r = await attempt(await tlsClient(clientCert('forged', 'agent-1', false)), 'agent-1');
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/not trusted/);
  });

  it('a certificate from the CA naming no CN, or two, is refused', async () => {
    for (const [name, subj] of [
      ['no-cn', '/O=agents/OU=none'],
      ['two-cn', '/CN=someone-else/CN=agent-1'],
      ['two-cn-b', '/CN=agent-1/CN=someone-else'],
    ]) {
      const r = await attempt(await tlsClient(clientCert(name, subj, true)), 'agent-1');
      expect(r.ok, name).toBe(false);
      expect(r.error).toMatch(/does not match the user/);
    }
  });

  it('without a certificate the token alone authenticates', async () => {
    expect(await attempt(await tlsClient(), 'agent-1')).toEqual({ ok: true });
  });
});
