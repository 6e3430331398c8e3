// Event lines: hand-tuned JSONL serialization and the SHA-256 hash chain over raw bytes.
import * as crypto from 'node:crypto';
import type { Identity } from '../policy/types.js';

/** Schema version written as `v` on every line. */
export const SCHEMA_VERSION = 1;
/** prev_hash of the first event of a chain. */
export const GENESIS = '0'.repeat(64);
/** Every line ends with `,"hash":"<64 hex>"}`; the hash covers the bytes before it. */
const HASH_SUFFIX_LEN = ',"hash":"'.length + 64 + '"}'.length;

/** Keys every event carries, in this order; custom fields may not reuse them. */
export const RESERVED = new Set([
  'v',
  'type',
  'session_id',
  'seq',
  'ts',
  'prev_hash',
  'sub',
  'iss',
  'auth_method',
  'groups',
  'agent',
  'on_behalf_of',
  'hash',
  'sig',
]);

const IDENTITY_KEYS = ['sub', 'iss', 'auth_method', 'groups', 'agent', 'on_behalf_of'] as const;

/** One-shot `crypto.hash` (Node >= 20.12) is about twice as fast as a Hash object. */
const oneShot = (
  crypto as { hash?: (alg: string, data: string | Uint8Array, enc: 'hex') => string }
).hash;

/** SHA-256 hex of a string (as UTF-8) or of bytes. */
export const sha256hex: (data: string | Uint8Array) => string = oneShot
  ? (data) => oneShot('sha256', data, 'hex')
  : (data) => crypto.createHash('sha256').update(data).digest('hex');

/** `,"hash":"`: the bytes between a line's prefix and its hash. */
const HASH_OPEN = Buffer.from(',"hash":"', 'latin1');
/** What sealing adds after a prefix: `,"hash":"<64 hex>"}` and the newline. */
export const SEAL_BYTES = HASH_SUFFIX_LEN + 1;

/**
 * Seal the prefix held in `buf[start, end)` (its UTF-8 bytes) into a line in place: writes
 * `,"hash":"<hex>"}\n` at `end`, where SEAL_BYTES must be free, and returns the hash. The
 * same line as `sealLine` of the prefix's string, without encoding it twice.
 */
export function sealBytes(buf: Buffer, start: number, end: number): string {
  const hash = sha256hex(buf.subarray(start, end));
  HASH_OPEN.copy(buf, end);
  let at = end + HASH_OPEN.length;
  at += buf.write(hash, at, 'latin1');
  buf[at] = 0x22; // "
  buf[at + 1] = 0x7d; // }
  buf[at + 2] = 0x0a; // \n
  return hash;
}

/** `,"sub":…,"groups":[…]…`: identity fields denormalised onto every event of a session. */
export function identityFragment(id: Identity | undefined): string {
  if (!id)
    return ',"sub":null,"iss":null,"auth_method":null,"groups":[],"agent":null,"on_behalf_of":null';
  return (
    ',"sub":' +
    JSON.stringify(id.sub) +
    ',"iss":' +
    JSON.stringify(id.iss ?? null) +
    ',"auth_method":' +
    JSON.stringify(id.method) +
    ',"groups":' +
    JSON.stringify(id.groups ?? []) +
    ',"agent":' +
    JSON.stringify(id.agent ?? null) +
    ',"on_behalf_of":' +
    JSON.stringify(id.on_behalf_of ?? null)
  );
}

/** Identity fields taken from a gateway event's own fields (auth_failure names who tried). */
export function identityFromFields(fields: Record<string, unknown>): string {
  let out = '';
  for (const k of IDENTITY_KEYS) {
    const v = fields[k];
    out += ',"' + k + '":' + JSON.stringify(v === undefined ? (k === 'groups' ? [] : null) : v);
  }
  return out;
}

/** Custom fields as a fragment; reserved keys are prefixed with `field_`. */
export function fieldsFragment(fields: Record<string, unknown>, skipIdentity = false): string {
  let out = '';
  for (const k in fields) {
    const v = fields[k];
    if (v === undefined) continue;
    if (skipIdentity && (IDENTITY_KEYS as readonly string[]).includes(k)) continue;
    const key = RESERVED.has(k) ? 'field_' + k : k;
    out += ',' + JSON.stringify(key) + ':' + JSON.stringify(v);
  }
  return out;
}

/** The bytes before `,"hash"`: everything an event is, minus its hash. */
export function eventPrefix(
  type: string,
  sessionIdJson: string,
  seq: number,
  ts: string,
  prevHash: string,
  rest: string,
): string {
  return (
    '{"v":1,"type":' +
    JSON.stringify(type) +
    ',"session_id":' +
    sessionIdJson +
    ',"seq":' +
    seq +
    ',"ts":"' +
    ts +
    '","prev_hash":"' +
    prevHash +
    '"' +
    rest
  );
}

/** Close a prefix into a line; returns the line (with newline) and its hash. */
export function sealLine(prefix: string): { line: string; hash: string } {
  const hash = sha256hex(prefix);
  return { line: prefix + ',"hash":"' + hash + '"}\n', hash };
}

/** A parsed event: stable fields plus whatever the type adds. */
export interface RecordedEvent {
  v: number;
  type: string;
  session_id: string;
  seq: number;
  ts: string;
  prev_hash: string;
  sub: string | null;
  iss: string | null;
  auth_method: string | null;
  groups: string[];
  agent: string | null;
  on_behalf_of: string | null;
  hash: string;
  [field: string]: unknown;
}

/**
 * Whether parsed JSON has the fixed fields every event has, of their types: readers skip
 * what does not (verify names it).
 */
export function isEvent(v: unknown): v is RecordedEvent {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.type === 'string' &&
    typeof e.session_id === 'string' &&
    Number.isSafeInteger(e.seq) &&
    typeof e.ts === 'string' &&
    typeof e.prev_hash === 'string' &&
    typeof e.hash === 'string'
  );
}

export type LineCheck =
  | { ok: true; event: RecordedEvent; signedPrefix?: string }
  | { ok: false; reason: string; event?: Partial<RecordedEvent> };

/**
 * Parse one line (without its newline) and check its own hash. For checkpoints,
 * `signedPrefix` is the text the signature's payload digest covers.
 */
export function checkLine(raw: string): LineCheck {
  let event: RecordedEvent;
  try {
    event = JSON.parse(raw) as RecordedEvent;
  } catch {
    return { ok: false, reason: 'line is not valid JSON' };
  }
  if (typeof event !== 'object' || event === null || typeof event.hash !== 'string')
    return { ok: false, reason: 'line has no hash', event };
  if (!isEvent(event)) return { ok: false, reason: 'line is not an event (its fixed fields)' };
  if (raw.length < HASH_SUFFIX_LEN || !raw.endsWith('"}'))
    return { ok: false, reason: 'hash is not the last field', event };
  const prefix = raw.slice(0, raw.length - HASH_SUFFIX_LEN);
  if (raw.slice(prefix.length) !== ',"hash":"' + event.hash + '"}')
    return { ok: false, reason: 'hash is not the last field', event };
  if (sha256hex(prefix) !== event.hash)
    return { ok: false, reason: 'event hash does not match its content (edited)', event };
  if (event.type === 'checkpoint' && typeof event.sig === 'string') {
    // The signature is the last field before the hash, as the recorder writes it: a field
    // after it (a second "final", "heads" or "seq", which JSON.parse would take over the
    // signed one) is outside what the signature covers.
    const sigField = ',"sig":' + JSON.stringify(event.sig);
    if (!prefix.endsWith(sigField))
      return { ok: false, reason: 'checkpoint has content after its signature', event };
    return { ok: true, event, signedPrefix: prefix.slice(0, prefix.length - sigField.length) };
  }
  return { ok: true, event };
}
