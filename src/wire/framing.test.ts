import { describe, expect, it } from 'vitest';
import { FrameReader } from './framing.js';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

describe('FrameReader', () => {
  it('yields a message that arrives in pieces once, whole, and what follows it', () => {
    const big = message('Q', Buffer.alloc(1 << 20, 0x61));
    const next = message('S', Buffer.alloc(0));
    const all = Buffer.concat([big, next]);
    const r = new FrameReader(1 << 21);
    for (let i = 0; i < all.length - 5; i += 4096) {
      r.push(all.subarray(i, Math.min(i + 4096, all.length - 5)));
      if (i + 4096 < big.length) expect(r.next()).toBeUndefined();
    }
    r.push(all.subarray(all.length - 5));
    expect(r.pending).toBe(all.length);
    const f = r.next()!;
    expect(f.raw.equals(big)).toBe(true);
    expect(r.next()!.type).toBe(0x53);
    expect(r.pending).toBe(0);
  });

  it('judges a length over the cap as soon as it is read, pieces or not', () => {
    const r = new FrameReader(1024);
    r.push(Buffer.from([0x51, 0, 0]));
    r.push(Buffer.from([0x10, 0]));
    r.push(Buffer.alloc(100));
    expect(() => r.next()).toThrow(/exceeds the limit/);
  });

  it('drops a message over the cap of a type it may skip, as it arrives, and reads on after it', () => {
    const r = new FrameReader(1024, true, new Set([0x42]));
    const big = message('B', Buffer.alloc(5000, 0x62));
    const next = message('S', Buffer.alloc(0));
    r.push(big.subarray(0, 100));
    const f = r.next()!;
    expect(f).toMatchObject({ type: 0x42, oversized: 5004 });
    expect(f.raw.length).toBe(0);
    // Nothing of it is held while the rest comes.
    expect(r.pending).toBe(0);
    expect(r.midMessage).toBe(true);
    for (let i = 100; i < big.length; i += 700)
      r.push(big.subarray(i, Math.min(i + 700, big.length)));
    expect(r.midMessage).toBe(false);
    expect(r.next()).toBeUndefined();
    r.push(Buffer.concat([next, next]));
    expect(r.next()!.raw.equals(next)).toBe(true);
    // The rest of a message and the next one in the same chunk.
    const r2 = new FrameReader(1024, true, new Set([0x42]));
    r2.push(Buffer.concat([big, next]));
    expect(r2.next()!.oversized).toBe(5004);
    expect(r2.next()!.type).toBe(0x53);
  });

  it('ends the stream at a message over the cap of another type, or over 1 GiB', () => {
    const r = new FrameReader(1024, true, new Set([0x42]));
    r.push(message('D', Buffer.alloc(2000)));
    expect(() => r.next()).toThrow(/exceeds the limit/);
    const r2 = new FrameReader(1024, true, new Set([0x42]));
    r2.push(Buffer.from([0x42, 0x40, 0, 0, 0]));
    expect(() => r2.next()).toThrow(/exceeds the limit/);
  });

  it('hands over everything held, pieces included', () => {
    const r = new FrameReader(1 << 20);
    r.push(Buffer.from([0x51, 0, 0, 1, 0]));
    r.push(Buffer.from('abc'));
    r.push(Buffer.from('def'));
    expect(r.hasFrame()).toBe(false);
    expect(r.drain().toString('latin1', 5)).toBe('abcdef');
    expect(r.pending).toBe(0);
  });
});
