// Segment names and line splitting shared by the writer, the readers and `verify`.

/** `20261122T033300123Z-<instance>-000001.jsonl`: sorts by time; `n` orders an instance. */
const NAME = /^(\d{8}T\d{9}Z)-([0-9a-z]+)-(\d{6,})\.jsonl$/;

export interface SegmentName {
  name: string;
  time: string;
  instance: string;
  n: number;
}

export function segmentName(ms: number, instance: string, n: number): string {
  const t = new Date(ms).toISOString().replace(/[-:.]/g, '');
  return `${t}-${instance}-${String(n).padStart(6, '0')}.jsonl`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = NAME.exec(name);
  return m ? { name, time: m[1], instance: m[2], n: Number(m[3]) } : undefined;
}

/** Segment names of one listing, grouped by instance and ordered by segment number. */
export function byInstance(names: string[]): Map<string, SegmentName[]> {
  const out = new Map<string, SegmentName[]>();
  for (const raw of names) {
    const s = parseSegmentName(raw);
    if (!s) continue;
    let list = out.get(s.instance);
    if (!list) out.set(s.instance, (list = []));
    list.push(s);
  }
  for (const list of out.values()) list.sort((a, b) => a.n - b.n);
  return out;
}

export interface SplitLines {
  /** Complete lines (without their newline), the byte offset each starts at, its bytes. */
  lines: Array<{ text: string; offset: number; length: number }>;
  /** Bytes after the last newline: a torn (partially written) line. */
  torn: { offset: number; bytes: number } | null;
}

/**
 * Where a segment's data ends. The active segment is zero-filled ahead of its writes (an
 * O_DSYNC overwrite of written blocks is cheaper than an append), and a JSON line never
 * holds a NUL byte, so a trailing run of NULs is space not written yet.
 */
export function dataEnd(bytes: Uint8Array): number {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return end;
}

export function splitLines(bytes: Uint8Array): SplitLines {
  const lines: SplitLines['lines'] = [];
  let start = 0;
  const end = dataEnd(bytes);
  for (let i = 0; i < end; i++) {
    if (bytes[i] === 10) {
      if (i > start)
        lines.push({
          text: Buffer.from(bytes.buffer, bytes.byteOffset + start, i - start).toString('utf8'),
          offset: start,
          length: i - start,
        });
      start = i + 1;
    }
  }
  const torn = start < end ? { offset: start, bytes: end - start } : null;
  return { lines, torn };
}
