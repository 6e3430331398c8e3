// net.cidr_* builtins for IPv4 and IPv6.
import { BuiltinError } from '../errors.js';
import { def, str } from './registry.js';

interface Net {
  bits: number;
  addr: bigint;
  prefix: number;
}

function parseIP(s: string): { bits: number; addr: bigint } | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(s)) {
    const p = s.split('.').map(Number);
    if (p.some((x) => x > 255)) return undefined;
    return { bits: 32, addr: BigInt(((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3]) };
  }
  if (!s.includes(':')) return undefined;
  let head = s;
  let tail4: bigint | undefined;
  const m = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (m) {
    const v4 = parseIP(m[2]);
    if (!v4) return undefined;
    tail4 = v4.addr;
    head = m[1] + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const a = halves[0] ? halves[0].split(':') : [];
  const b = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = 8 - a.length - b.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const groups = [...a, ...Array(halves.length === 2 ? fill : 0).fill('0'), ...b];
  let addr = 0n;
  for (const g of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    addr = (addr << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== undefined) addr = (addr & ~0xffffffffn) | tail4;
  return { bits: 128, addr };
}

function parseNet(s: string, name: string): Net {
  const i = s.indexOf('/');
  const ip = parseIP(i < 0 ? s : s.slice(0, i));
  const prefix = i < 0 ? undefined : Number(s.slice(i + 1));
  if (!ip || (prefix !== undefined && (!/^\d+$/.test(s.slice(i + 1)) || prefix > ip.bits)))
    throw new BuiltinError('eval_builtin_error', `${name}: invalid CIDR address: ${s}`);
  // A bare address keeps its host bits: it is compared whole.
  if (prefix === undefined && ip.bits === 128 && ip.addr >> 32n === 0xffffn)
    return { bits: 32, addr: ip.addr & 0xffffffffn, prefix: 32 };
  return unmapped({ ...ip, prefix: prefix ?? ip.bits });
}

/**
 * An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) or address (`::ffff:10.1.2.3`, as
 * Node reports an IPv4 client of a listener on `::`) as the IPv4 one it stands for, as Go's
 * net package compares them (IP.To4): OPA's cidr builtins find 10.1.2.3 and
 * ::ffff:10.1.2.3 in 10.0.0.0/8 alike.
 */
function unmapped(n: Net): Net {
  if (n.bits !== 128 || n.prefix < 96) return n;
  const addr = n.addr & mask(n);
  if (addr >> 32n !== 0xffffn) return n;
  return { bits: 32, addr: addr & 0xffffffffn, prefix: n.prefix - 96 };
}

function mask(n: Net): bigint {
  const host = BigInt(n.bits - n.prefix);
  return ((1n << BigInt(n.bits)) - 1n) ^ ((1n << host) - 1n);
}

def('net.cidr_contains', 2, (a) => {
  const outer = parseNet(str('net.cidr_contains', a, 0), 'net.cidr_contains');
  const inner = parseNet(str('net.cidr_contains', a, 1), 'net.cidr_contains');
  if (outer.bits !== inner.bits) return false;
  if (inner.prefix < outer.prefix) return false;
  const m = mask(outer);
  return (outer.addr & m) === (inner.addr & m);
});
def('net.cidr_intersects', 2, (a) => {
  const x = parseNet(str('net.cidr_intersects', a, 0), 'net.cidr_intersects');
  const y = parseNet(str('net.cidr_intersects', a, 1), 'net.cidr_intersects');
  if (x.bits !== y.bits) return false;
  const m = mask(x.prefix < y.prefix ? x : y);
  return (x.addr & m) === (y.addr & m);
});
def('net.cidr_is_valid', 1, (a) => {
  if (typeof a[0] !== 'string' || !a[0].includes('/')) return false;
  try {
    parseNet(a[0], 'net.cidr_is_valid');
    return true;
  } catch {
    return false;
  }
});
