// SASLprep (RFC 4013) as PostgreSQL applies it to SCRAM passwords, close enough for real passwords.

type Range = [number, number];

// RFC 3454 C.1.2: non-ASCII space characters, mapped to U+0020.
const NON_ASCII_SPACE: Range[] = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];
// RFC 3454 B.1: commonly mapped to nothing.
const MAPPED_TO_NOTHING: Range[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];
// A subset of the prohibited tables (C.2 controls, C.3 private use, C.8 display properties,
// C.9 tagging, non-characters): enough to decide the fallback below.
const PROHIBITED: Range[] = [
  [0x0000, 0x001f],
  [0x007f, 0x009f],
  [0x0340, 0x0341],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200e, 0x200f],
  [0x202a, 0x202e],
  [0x206a, 0x206f],
  [0xe000, 0xf8ff],
  [0xfff9, 0xfffc],
  [0xe0001, 0xe007f],
  [0xf0000, 0x10ffff],
];

const inRanges = (cp: number, ranges: Range[]) => ranges.some(([lo, hi]) => cp >= lo && cp <= hi);

/**
 * Normalize a password the way PostgreSQL's pg_saslprep does before SCRAM hashing.
 * ASCII passwords are returned unchanged; if the prepared string would contain a
 * prohibited character, PostgreSQL falls back to the raw password, and so do we.
 */
export function saslprep(password: string): string {
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  let mapped = '';
  for (const ch of password) {
    const cp = ch.codePointAt(0) as number;
    // PostgreSQL tests the space table first (U+200B is in both).
    if (inRanges(cp, NON_ASCII_SPACE)) mapped += ' ';
    else if (!inRanges(cp, MAPPED_TO_NOTHING)) mapped += ch;
  }
  const normalized = mapped.normalize('NFKC');
  if (normalized.length === 0) return password;
  for (const ch of normalized) {
    if (inRanges(ch.codePointAt(0) as number, PROHIBITED)) return password;
  }
  return normalized;
}
