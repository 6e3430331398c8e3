// A small, strict reader for the tar archives `opa build` writes (bundle.tar.gz): ustar and
// GNU headers, pax and GNU long names. Only regular files are returned; paths are normalized
// to "a/b/c" and any path that leaves the archive root is refused, as are links, oversized
// entries, truncated archives and duplicate paths.
import { gunzipSync } from 'node:zlib';

export interface TarLimits {
  /** Largest single file, in bytes. */
  maxEntryBytes?: number;
  /** Largest archive after decompression, in bytes. */
  maxTotalBytes?: number;
  /** Most entries (of any type). */
  maxEntries?: number;
}

export class TarError extends Error {
  override name = 'TarError';
}

const DEFAULTS: Required<TarLimits> = {
  maxEntryBytes: 64 * 1024 * 1024,
  maxTotalBytes: 256 * 1024 * 1024,
  maxEntries: 10_000,
};

const BLOCK = 512;

export function isGzip(b: Uint8Array): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

export function isTar(b: Uint8Array): boolean {
  return b.length >= BLOCK && ascii(b, 257, 5) === 'ustar';
}

function ascii(b: Uint8Array, off: number, len: number): string {
  let s = '';
  for (let i = off; i < off + len && b[i] !== 0; i++) s += String.fromCharCode(b[i]);
  return s;
}

function utf8Field(b: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && b[end] !== 0) end++;
  return Buffer.from(b.subarray(off, end)).toString('utf8');
}

/** Numeric header field: octal text, or GNU base-256 when the high bit is set. */
function numField(b: Uint8Array, off: number, len: number): number {
  if (b[off] & 0x80) {
    if (b[off] & 0x40) throw new TarError('tar: negative size field');
    let n = b[off] & 0x3f;
    for (let i = off + 1; i < off + len; i++) {
      n = n * 256 + b[i];
      if (n > Number.MAX_SAFE_INTEGER) throw new TarError('tar: size field out of range');
    }
    return n;
  }
  const s = ascii(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarError(`tar: bad numeric field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(h: Uint8Array): boolean {
  const want = numField(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === want;
}

/**
 * Normalizes an archive path to "a/b/c". A leading "/" means the bundle root (opa build
 * writes "/policy.wasm"); "." segments are dropped; ".." and NUL or backslash are refused.
 */
export function safePath(raw: string): string {
  if (raw.includes('\0')) throw new TarError(`tar: NUL in path ${JSON.stringify(raw)}`);
  if (raw.includes('\\')) throw new TarError(`tar: backslash in path ${JSON.stringify(raw)}`);
  if (/^[A-Za-z]:/.test(raw))
    throw new TarError(`tar: drive letter in path ${JSON.stringify(raw)}`);
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw new TarError(`tar: path leaves the archive: ${JSON.stringify(raw)}`);
    out.push(seg);
  }
  return out.join('/');
}

/** Path records of a pax extended header ("%d path=...\n"). */
function paxPath(data: Uint8Array): string | undefined {
  const text = Buffer.from(data).toString('utf8');
  let i = 0;
  let path: string | undefined;
  while (i < text.length) {
    const sp = text.indexOf(' ', i);
    if (sp < 0) break;
    const len = parseInt(text.slice(i, sp), 10);
    if (!Number.isFinite(len) || len <= 0) throw new TarError('tar: malformed pax header');
    const rec = text.slice(sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    i += len;
  }
  return path;
}

/** Decompresses (when gzip) and reads a tar archive into path -> contents. */
export function readTar(bytes: Uint8Array, limits: TarLimits = {}): Map<string, Buffer> {
  const lim = { ...DEFAULTS, ...limits };
  let buf: Uint8Array = bytes;
  if (isGzip(bytes)) {
    try {
      buf = gunzipSync(bytes, { maxOutputLength: lim.maxTotalBytes });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_BUFFER_TOO_LARGE' || /larger than|too large/i.test(e.message))
        throw new TarError(`tar: archive is larger than ${lim.maxTotalBytes} bytes uncompressed`);
      throw new TarError(`tar: gzip data is corrupt: ${e.message}`);
    }
  }
  if (buf.length > lim.maxTotalBytes)
    throw new TarError(`tar: archive is larger than ${lim.maxTotalBytes} bytes`);

  const files = new Map<string, Buffer>();
  let off = 0;
  let entries = 0;
  let longName: string | undefined;
  let paxName: string | undefined;
  let sawEnd = false;
  while (off + BLOCK <= buf.length) {
    const h = buf.subarray(off, off + BLOCK);
    if (h.every((x) => x === 0)) {
      sawEnd = true;
      break;
    }
    if (++entries > lim.maxEntries) throw new TarError(`tar: more than ${lim.maxEntries} entries`);
    if (!checksumOk(h)) throw new TarError(`tar: bad header checksum at offset ${off}`);
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]);
    const size = numField(h, 124, 12);
    const dataOff = off + BLOCK;
    if (size > lim.maxEntryBytes)
      throw new TarError(`tar: entry of ${size} bytes exceeds the limit of ${lim.maxEntryBytes}`);
    if (dataOff + size > buf.length) throw new TarError('tar: archive is truncated');
    const data = buf.subarray(dataOff, dataOff + size);
    off = dataOff + Math.ceil(size / BLOCK) * BLOCK;

    let name = utf8Field(h, 0, 100);
    if (ascii(h, 257, 5) === 'ustar') {
      const prefix = utf8Field(h, 345, 155);
      if (prefix && ascii(h, 257, 6) === 'ustar\0') name = prefix + '/' + name;
    }
    switch (type) {
      case 'L': // GNU long name for the next entry
        longName = utf8Field(data, 0, data.length);
        continue;
      case 'x': // pax header for the next entry
        paxName = paxPath(data);
        continue;
      case 'g': // pax global header
        continue;
      case '0':
      case '7': {
        const raw = paxName ?? longName ?? name;
        longName = paxName = undefined;
        const path = safePath(raw);
        if (path === '') throw new TarError(`tar: file entry without a name`);
        if (files.has(path)) throw new TarError(`tar: duplicate entry ${JSON.stringify(path)}`);
        files.set(path, Buffer.from(data));
        continue;
      }
      case '5': // directory
        safePath(paxName ?? longName ?? name);
        longName = paxName = undefined;
        continue;
      case '1':
      case '2':
        throw new TarError(`tar: links are not allowed (${JSON.stringify(name)})`);
      default:
        throw new TarError(
          `tar: unsupported entry type ${JSON.stringify(type)} for ${JSON.stringify(name)}`,
        );
    }
  }
  if (!sawEnd && off < buf.length) throw new TarError('tar: archive is truncated');
  if (!sawEnd && entries === 0) throw new TarError('tar: empty archive');
  return files;
}

/** Writes a ustar archive (regular files only); used by tests and tooling. */
export function writeTar(
  files: { path: string; data: Uint8Array | string; type?: string }[],
): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    const data = typeof f.data === 'string' ? Buffer.from(f.data) : Buffer.from(f.data);
    const h = Buffer.alloc(BLOCK);
    const name = Buffer.from(f.path, 'utf8');
    if (name.length > 100) throw new TarError(`tar: name too long for ustar: ${f.path}`);
    name.copy(h, 0);
    h.write('0000644\0', 100, 'ascii');
    h.write('0000000\0', 108, 'ascii');
    h.write('0000000\0', 116, 'ascii');
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
    h.write('00000000000\0', 136, 'ascii');
    h.write(f.type ?? '0', 156, 'ascii');
    h.write('ustar\0' + '00', 257, 'ascii');
    h.fill(32, 148, 156);
    let sum = 0;
    for (const x of h) sum += x;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    parts.push(h, data, Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}
