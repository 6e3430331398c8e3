// CancelRequests: a known key is forwarded, and nobody else's requests (guesses from the
// same address) can use up what a session's own cancel may spend.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, startTestGateway, type TestGateway } from './helpers/gateway.js';
import { RawClient, cancelRequest, errorsOf, query } from './helpers/raw.js';

const DB = 'dp_cancel';
let g: TestGateway;

beforeAll(async () => {
  await freshDatabase(DB);
  g = await startTestGateway(DB);
});
afterAll(async () => g?.stop());

/** Send one CancelRequest on its own connection; resolves when the gateway closes it. */
function sendCancel(pid: number, secret: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ port: g.port, host: '127.0.0.1' });
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    s.on('connect', () => s.write(cancelRequest(pid, secret)));
  });
}

describe('CancelRequest', () => {
  it('is honoured after a flood of wrong keys from the same address', async () => {
    const a = await RawClient.connect(g.port);
    const key = (await a.login(DB, await g.token())).find((m) => m.type === 'K')!;
    const pid = key.body.readInt32BE(0);
    const secret = key.body.readInt32BE(4);
    await a.write(query('SELECT pg_sleep(30)'));
    await new Promise((r) => setTimeout(r, 200));
    // Wrong secrets for the right pid, and made-up pids: none may cancel anything, nor use
    // up what the right key may spend.
    const wrong = [];
    for (let i = 0; i < 40; i++) wrong.push(sendCancel(i % 2 ? pid : 1000 + i, secret ^ (i + 1)));
    await Promise.all(wrong);
    const started = Date.now();
    await sendCancel(pid, secret);
    const ms = await a.until('Z', 20_000);
    expect(errorsOf(ms)).toEqual([['ERROR', '57014']]);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The wrong keys cancelled nothing: the next statement runs.
    expect(errorsOf(await a.simple('SELECT pg_sleep(0.3)'))).toEqual([]);
    a.destroy();
  });
});
