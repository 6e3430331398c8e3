// ResponseScanner: pass-through of untouched bytes, watched messages, row limits across chunk splits.
import { describe, expect, it } from 'vitest';
import { ResponseScanner } from './responses.js';

function msg(type: string, body: string): Buffer {
  const b = Buffer.from(body);
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeInt32BE(b.length + 4, 1);
  return Buffer.concat([h, b]);
}

function run(chunks: Buffer[], limit?: number) {
  const out: Buffer[] = [];
  const seen: string[] = [];
  const s = new ResponseScanner({
    onMessage: (t) => {
      seen.push(String.fromCharCode(t));
      return undefined;
    },
    emit: (c) => out.push(...c.map((b) => Buffer.from(b))),
    onViolation: (r) => {
      throw new Error(r);
    },
  });
  s.limitRows(limit);
  for (const c of chunks) s.push(c);
  return { bytes: Buffer.concat(out), seen, over: s.rowsOver };
}

const rowDesc = msg('T', 'rowdesc');
const rowsOf = (n: number) => Array.from({ length: n }, (_, i) => msg('D', `row-${i + 1}`));
const done = msg('C', 'SELECT 9\0');
const ready = msg('Z', 'I');

/** Every way of cutting `b` into chunks of size `n`. */
const split = (b: Buffer, n: number) =>
  Array.from({ length: Math.ceil(b.length / n) }, (_, i) => b.subarray(i * n, (i + 1) * n));

describe('ResponseScanner', () => {
  const stream = Buffer.concat([rowDesc, ...rowsOf(9), done, ready]);

  it('forwards everything untouched without a limit, whatever the chunking', () => {
    for (const n of [1, 2, 3, 7, 64, stream.length]) {
      const r = run(split(stream, n));
      expect(r.bytes.equals(stream)).toBe(true);
      expect(r.seen).toEqual(['C', 'Z']);
      expect(r.over).toBe(false);
    }
  });

  it('drops the rows past the limit, whatever the chunking', () => {
    const want = Buffer.concat([rowDesc, ...rowsOf(3), done, ready]);
    for (const n of [1, 2, 3, 5, 7, 64, stream.length]) {
      const r = run(split(stream, n), 3);
      expect(r.bytes.toString('latin1')).toBe(want.toString('latin1'));
      expect(r.over).toBe(true);
    }
  });

  it('a result of exactly the limit is not over it', () => {
    const exact = Buffer.concat([rowDesc, ...rowsOf(3), done]);
    const r = run([exact], 3);
    expect(r.bytes.equals(exact)).toBe(true);
    expect(r.over).toBe(false);
  });

  it('counts CopyData of COPY TO STDOUT as rows', () => {
    const copy = Buffer.concat([
      msg('H', 'x'),
      msg('d', 'a\n'),
      msg('d', 'b\n'),
      msg('c', ''),
      done,
    ]);
    const r = run(split(copy, 2), 1);
    expect(r.bytes.includes(Buffer.from('b\n'))).toBe(false);
    expect(r.bytes.includes(Buffer.from('a\n'))).toBe(true);
    expect(r.over).toBe(true);
  });
});
