// The policy's `redact` set keeps secrets out of the recording: a statement's bound
// parameters and the literals of its text, whether it ran or was refused. What is left
// still verifies and replays.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirSource, verifyRecording, type Recorder } from '../src/record/index.js';
import { buildRecorder } from '../src/runtime/recording.js';
import {
  adminClient,
  freshDatabase,
  gatewayClient,
  startTestGateway,
  type TestGateway,
} from './helpers/gateway.js';
import { RawClient, parse, sync } from './helpers/raw.js';

const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};

const DB = 'recording_redact';
const CARD = '4111111111111111';
const CARD2 = '5500000000000004';
const PASSWORD = 'hunter2-correct-horse';
const SETTING = 'sekrit-api-key';
const CARD3 = '340000000000009';
const WORD = 'bareWordToken42';
const base = mkdtempSync(join(tmpdir(), 'rec-redact-'));
const spool = join(base, 'spool');
let g: TestGateway;
let recorder: Recorder;

beforeAll(async () => {
  await freshDatabase(
    DB,
    `CREATE TABLE customers (id int, card text);
     CREATE TABLE orders (id int, note text);`,
  );
  const recording = { enabled: true, spoolDir: spool, durability: 'write' as const, sinks: [] };
  recorder = (await buildRecorder(recording as never, base, '.data'))!;
  g = await startTestGateway(
    DB,
    { recording, policy: { files: ['test/policies/redact.rego'] } } as never,
    { recorder },
  );
});
afterAll(async () => {
  await g?.stop();
  await recorder?.close().catch(() => undefined);
});

function rawText(): string {
  return raw();
}

function raw(): string {
  return readdirSync(spool)
    .filter((n) => n.endsWith('.jsonl'))
    .map((f) => readFileSync(join(spool, f), 'utf8'))
    .join('\n');
}

function statements(): Record<string, unknown>[] {
  return raw()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => e.type === 'statement');
}

describe('a policy that redacts, and statements it never decided', () => {
  it('records a parse error, text that is not UTF-8 and an oversized statement without their literals', async () => {
    const secrets = [
      '4111-PARSE-CARD',
      '4111-TOKEN-CARD',
      '4111-EXT-CARD',
      '4111-UTF8-CARD',
      '4111-BIG-CARD',
      '4111-QUOTE-CARD',
      'bareWordSecret77',
    ];
    const raw = await RawClient.connect(g.port);
    await raw.login(DB, await g.token('app', ['agents']));
    // One typo refuses the whole string, and the parser quotes the token it failed at.
    await raw.simple(`INSERT INTO customers VALUES (1, '${secrets[0]}'); SELEC 1`);
    await raw.simple(`SELECT 'x' '${secrets[1]}'`);
    await raw.write(Buffer.concat([parse('', `SELECT 'x' '${secrets[2]}'`), sync()]));
    await raw.until('Z');
    const body = Buffer.concat([
      Buffer.from(`SELECT '${secrets[3]}' -- caf`),
      Buffer.from([0xe9, 0]),
    ]);
    await raw.write(Buffer.concat([Buffer.from('Q'), int32(4 + body.length), body]));
    await raw.until('Z');
    await raw.simple(`SELECT '${secrets[4]}', '${'x'.repeat(1024 * 1024 + 10)}'`);
    // An extended Parse whose text is not UTF-8: recorded with its text (redacted).
    const q = Buffer.concat([Buffer.from(`SELECT 'ext-utf8' -- caf`), Buffer.from([0xe9])]);
    const pbody = Buffer.concat([Buffer.from([0]), q, Buffer.from([0, 0, 0])]);
    await raw.write(Buffer.concat([Buffer.from('P'), int32(4 + pbody.length), pbody, sync()]));
    await raw.until('Z');
    // The parser quotes the rest of the input raw, a double quote included.
    await raw.simple(`SELECT card FROM customers WHERE card = 'x"${secrets[5]}`);
    // A bare-word setting value in a string that never parsed.
    await raw.simple(`SET app.k TO ${secrets[6]}; SELEC 1`);
    // A lexer error quoting a megabyte of input is not recorded whole.
    await raw.simple(`SELECT '"${'F'.repeat(1024 * 1024)}`);
    raw.destroy();
    await new Promise((r) => setTimeout(r, 300));
    const text = rawText();
    for (const secret of secrets) expect(text, secret).not.toContain(secret);
    const ev = statements();
    expect(ev.find((e) => /SELEC \?/.test(String(e.sql)))).toMatchObject({
      sql: 'INSERT INTO customers VALUES (?, ?); SELEC ?',
      decision: 'deny',
      redact: ['literals', 'params'],
      parse_error: 'syntax error at or near "?"',
    });
    expect(
      ev.filter((e) => /refused text cut: \d+ bytes in all\]$/.test(String(e.sql))),
    ).toHaveLength(2);
    // Both texts that are not UTF-8, the Query's and the Parse's, are recorded.
    expect(ev.filter((e) => e.sql === 'SELECT ? --').map((e) => e.protocol)).toEqual([
      'simple',
      'extended',
    ]);
    // No line of the recording is near the megabyte the client sent.
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThan(16 * 1024);
  });
});

describe('a policy that redacts', () => {
  it('keeps parameters, literals and refused secrets out of the recording, and only those', async () => {
    const c = await gatewayClient(g, DB, { sub: 'app', groups: ['agents'] });
    await c.query('INSERT INTO customers VALUES ($1, $2)', [1, CARD]);
    await c.query(`INSERT INTO customers VALUES (2, '${CARD2}') /* card ${CARD2} */`);
    await c.query(`INSERT INTO orders VALUES ($1, $2)`, [7, 'kept-param']);
    await c.query(`INSERT INTO orders VALUES (8, 'kept-literal')`);
    await c.query(`SET app.key = '${SETTING}'`);
    await expect(c.query(`ALTER ROLE CURRENT_USER PASSWORD '${PASSWORD}'`)).rejects.toMatchObject({
      message: expect.stringMatching(/roles are managed elsewhere/),
    });
    await expect(c.query(`ALTER ROLE CURRENT_USER SET app.token = ${WORD}`)).rejects.toThrow(
      /roles are managed elsewhere/,
    );
    await expect(c.query('DELETE FROM customers WHERE card = $1', [CARD3])).rejects.toMatchObject({
      message: expect.stringMatching(/never deleted/),
    });
    await c.end();
    // What ran reached PostgreSQL as sent.
    const a = await adminClient(DB);
    const cards = (await a.query('SELECT card FROM customers ORDER BY id')).rows;
    await a.end();
    expect(cards).toEqual([{ card: CARD }, { card: CARD2 }]);
    await new Promise((r) => setTimeout(r, 200));

    const text = raw();
    for (const secret of [CARD, CARD2, CARD3, PASSWORD, SETTING, WORD])
      expect(text).not.toContain(secret);
    const ev = statements();
    const bySql = (re: RegExp) => ev.find((e) => re.test(String(e.sql)));
    expect(bySql(/INSERT INTO customers VALUES \(\$1, \$2\)/)).toMatchObject({
      params: 'redacted',
      redact: ['literals', 'params'],
      decision: 'allow',
    });
    expect(bySql(/INSERT INTO customers VALUES \(\?, \?\) \/\*\*\//)).toMatchObject({
      redact: ['literals', 'params'],
    });
    expect(bySql(/SET app\.key = \?/)).toMatchObject({ redact: ['literals'] });
    expect(bySql(/SET app\.key/)!.extra).toMatchObject({ set: { name: 'app.key', value: '?' } });
    expect(bySql(/ALTER ROLE CURRENT_USER PASSWORD \?/)).toMatchObject({
      decision: 'deny',
      redact: ['literals'],
    });
    expect(bySql(/ALTER ROLE CURRENT_USER SET app\.token = \?$/)).toBeDefined();
    expect(bySql(/DELETE FROM customers WHERE card = \$1/)).toMatchObject({
      decision: 'deny',
      redact: ['literals', 'params'],
    });
    // Statements the policy does not redact are recorded whole.
    const kept = bySql(/INSERT INTO orders VALUES \(\$1, \$2\)/)!;
    expect(kept.params).toEqual(['7', 'kept-param']);
    expect(kept.redact).toBeUndefined();
    expect(bySql(/'kept-literal'/)).toBeDefined();

    const v = await verifyRecording(dirSource(spool));
    expect(v.ok, JSON.stringify(v.breaks)).toBe(true);
    expect(v.events).toBeGreaterThan(6);
  });
});
