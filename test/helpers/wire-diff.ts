// Differential protocol runs: one seeded, random sequence of frontend messages is sent to
// PostgreSQL directly and through the gateway (allowing everything), and the two answers,
// reduced to what a client sees (message types, tags, rows, SQLSTATEs), must be equal.
//
// The generator stays inside the part of the protocol where an allow-everything gateway
// promises to behave as PostgreSQL does. Left out on purpose: FunctionCall (refused), SQL
// that does not parse (a batch with one unparsable statement runs none of its statements),
// settings the gateway pins, and a statement sent in the middle of COPY FROM STDIN (the
// gateway ends such a session with PostgreSQL's errors, but never sends the statement).
import {
  bind,
  describe,
  execute,
  fields,
  flush,
  msg,
  parse,
  query,
  sync,
  copyData,
  type Message,
  type RawClient,
} from './raw.js';
import { rng } from './rng.js';

/** Schema the runs assume in their database (created once by the test). */
export const DIFF_SCHEMA =
  "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 20) i;" +
  // A function the gateway cannot see into: statement text after it in a group is guarded.
  'CREATE FUNCTION opaque_fn() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 7; END $$;';
/** Run at the start of every connection: a private table to write to. */
export const DIFF_SESSION_SETUP = 'CREATE TEMP TABLE w (id int, v text)';

/** Statements without parameters. */
const PLAIN = [
  'SELECT 1 AS a',
  'SELECT id, v FROM t WHERE id <= 3 ORDER BY id',
  'SELECT generate_series(1, 5) AS g',
  'SELECT 1 / 0',
  'SELECT * FROM nosuch',
  'VALUES (1, 2), (3, 4)',
  'SELECT count(*) FROM w',
  "INSERT INTO w VALUES (1, 'a'), (2, 'b')",
  "UPDATE w SET v = 'c' WHERE id = 1",
  'DELETE FROM w WHERE id = 2',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SAVEPOINT s',
  'ROLLBACK TO SAVEPOINT s',
  'RELEASE SAVEPOINT s',
  'DECLARE c CURSOR WITH HOLD FOR SELECT generate_series(1, 10) AS n',
  'DECLARE d CURSOR FOR SELECT id FROM t ORDER BY id',
  'FETCH 2 FROM c',
  'FETCH ALL FROM d',
  'MOVE 1 IN c',
  'CLOSE c',
  'CLOSE ALL',
  'PREPARE q AS SELECT 42 AS answer',
  'EXECUTE q',
  'DEALLOCATE q',
  'DISCARD ALL',
  'COPY (SELECT id, v FROM t WHERE id <= 2) TO STDOUT',
  'COPY w TO STDOUT',
  '',
  'SELECT pg_sleep(0)',
  'SET extra_float_digits = 2',
  'SHOW extra_float_digits',
  "SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 2000) g",
  'DROP TABLE IF EXISTS nosuch',
  'LISTEN ch',
  "NOTIFY ch, 'payload'",
  'SELECT opaque_fn() AS f',
  "SELECT set_config('extra_float_digits', '1', false) AS s",
];
/** Statements with one parameter (an int). */
const WITH_PARAM = [
  'SELECT $1::int AS p',
  "INSERT INTO w VALUES ($1::int, 'x')",
  'SELECT v FROM t WHERE id = $1',
];
/** Simple-protocol strings with several statements. */
const MULTI = [
  'SELECT 1; SELECT 2',
  'BEGIN; SELECT 1 / 0; COMMIT',
  "INSERT INTO w VALUES (9, 'z'); SELECT count(*) FROM w",
  'SELECT 1; ROLLBACK; SELECT 2',
  'COMMIT; BEGIN; SELECT 1',
];
const COPY_IN = 'COPY w FROM STDIN';

/** Bind with text parameters and every result column in binary. */
function bindBinaryResults(portal: string, statement: string, params: (string | null)[]): Buffer {
  const text = bind(portal, statement, params);
  // The text form ends with Int16 0 (no result format codes): one code, 1, instead.
  const body = Buffer.concat([text.subarray(5, text.length - 2), Buffer.from([0, 1, 0, 1])]);
  return msg('B', body);
}

export interface DiffCase {
  /** What was sent, readable, for the failure message. */
  script: string[];
  /** The bytes, in the pieces they are written in. */
  pieces: Buffer[];
}

/** A random sequence of frontend messages, ending with Sync, ROLLBACK and a marker query. */
export function generate(seed: number): DiffCase {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)];
  const script: string[] = [];
  const out: Buffer[] = [];
  const add = (label: string, b: Buffer) => {
    script.push(label);
    out.push(b);
  };
  /** Rows for a COPY FROM STDIN, then its end (done, fail, or a bad row then done). */
  const copyBody = () => {
    const n = Math.floor(r() * 3);
    for (let i = 0; i < n; i++) add(`CopyData ${i}`, copyData(`${i}\tr${i}\n`));
    const end = r();
    if (end < 0.15) add('CopyFail', msg('f', Buffer.from('stop\0')));
    else {
      if (end < 0.3) add('CopyData bad', copyData('not-a-number\tx\n'));
      add('CopyDone', msg('c'));
    }
  };
  /** Statement names parsed so far. */
  const parsed = new Set<string>();
  const steps = 1 + Math.floor(r() * 14);
  for (let s = 0; s < steps; s++) {
    const k = r();
    if (k < 0.2) {
      const sql = r() < 0.7 ? pick(PLAIN) : r() < 0.6 ? pick(MULTI) : COPY_IN;
      add(`Query ${JSON.stringify(sql)}`, query(sql));
      if (sql === COPY_IN) copyBody();
    } else if (k < 0.75) {
      // An extended-protocol statement: Parse (maybe named), Bind, Describe, Execute. A Bind
      // without its Parse names a statement parsed before (now and then one never parsed).
      let name = pick(['', '', 'a', 'b']);
      const param = r() < 0.25;
      const sql = param ? pick(WITH_PARAM) : r() < 0.06 ? COPY_IN : pick(PLAIN);
      if (r() < 0.85 || (parsed.size === 0 && r() < 0.9)) {
        // Declared types as drivers send them: int4, unspecified, int8, numeric, float8 (the
        // OIDs of the last two hold bytes that are not text).
        const types = param ? [pick([23, 0, 20, 1700, 701])] : [];
        add(
          `Parse ${name || '-'} ${JSON.stringify(sql)} ${JSON.stringify(types)}`,
          parse(name, sql, types),
        );
        parsed.add(name);
      } else if (r() < 0.9 && parsed.size) name = pick([...parsed]);
      const portal = pick(['', '', 'p']);
      const values = param ? [pick(['7', '3', 'x', null])] : r() < 0.05 ? ['1'] : [];
      const binary = r() < 0.2;
      add(
        `Bind ${portal || '-'} ${name || '-'} ${JSON.stringify(values)}${binary ? ' binary' : ''}`,
        binary ? bindBinaryResults(portal, name, values) : bind(portal, name, values),
      );
      if (r() < 0.4) add(`Describe P ${portal || '-'}`, describe('P', portal));
      const maxRows = r() < 0.2 ? 1 + Math.floor(r() * 2) : 0;
      add(`Execute ${portal || '-'} ${maxRows}`, execute(portal, maxRows));
      // (Not for a COPY: the second Execute would come during its copy-in.)
      if (maxRows && sql !== COPY_IN && r() < 0.5)
        add(`Execute ${portal || '-'} 0`, execute(portal, 0));
      if (sql === COPY_IN) copyBody();
    } else if (k < 0.83) {
      const name = parsed.size && r() < 0.9 ? pick([...parsed]) : pick(['', 'a', 'b']);
      add(`Describe S ${name || '-'}`, describe('S', name));
    } else if (k < 0.88) {
      const [kind, name] = pick([
        ['S', 'a'],
        ['S', 'b'],
        ['P', 'p'],
        ['P', ''],
      ] as const);
      add(`Close ${kind} ${name || '-'}`, msg('C', Buffer.from(`${kind}${name}\0`)));
    } else if (k < 0.97) add('Sync', sync());
    else if (k < 0.99) add('Flush', flush());
    else add('CopyData stray', copyData('stray\n'));
  }
  add('Sync', sync());
  add('Query ROLLBACK', query('ROLLBACK'));
  add('Query end marker', query("SELECT 'end' AS marker"));
  // Written whole, or cut at random byte offsets.
  const all = Buffer.concat(out);
  const pieces: Buffer[] = [];
  if (r() < 0.5) pieces.push(all);
  else {
    let at = 0;
    while (at < all.length) {
      const len = 1 + Math.floor(r() * 40);
      pieces.push(all.subarray(at, at + len));
      at += len;
    }
  }
  return { script, pieces };
}

/** A backend message as a client sees it, in one short line. */
export function describeMessage(m: Message): string | undefined {
  const b = m.body;
  switch (m.type) {
    case 'E':
    case 'N': {
      const f = fields(m);
      return `${m.type} ${f.V ?? f.S} ${f.C}${process.env.WIRE_DIFF_TEXT ? ` ${f.M}` : ''}`;
    }
    case 'C':
      return `C ${b.toString('utf8', 0, b.length - 1)}`;
    case 'D': {
      const n = b.readInt16BE(0);
      const vals: string[] = [];
      let pos = 2;
      for (let i = 0; i < n; i++) {
        const len = b.readInt32BE(pos);
        pos += 4;
        vals.push(len < 0 ? 'NULL' : b.toString('utf8', pos, pos + len));
        if (len > 0) pos += len;
      }
      return `D ${vals.join('|')}`;
    }
    case 'T': {
      const n = b.readInt16BE(0);
      const names: string[] = [];
      let pos = 2;
      for (let i = 0; i < n; i++) {
        const end = b.indexOf(0, pos);
        names.push(b.toString('utf8', pos, end));
        pos = end + 1 + 18;
      }
      return `T ${names.join(',')}`;
    }
    case 'Z':
      return `Z ${String.fromCharCode(b[0])}`;
    case 'd':
      return `d ${b.toString('utf8')}`;
    case 'S':
      return `S ${b.toString('utf8').replace(/\0/g, ' ').trim()}`;
    case 't':
    case 'G':
    case 'H':
    case 'W':
      return `${m.type} ${b.toString('hex')}`;
    default:
      return m.type;
  }
}

export interface DiffAnswer {
  lines: string[];
  /** The marker came back: the session reached the end of the sequence. */
  finished: boolean;
  /** The server closed the connection. */
  closed: boolean;
}

/** Send a case on a logged-in connection; read until the marker's ReadyForQuery. */
export async function play(c: RawClient, k: DiffCase, timeoutMs = 5000): Promise<DiffAnswer> {
  for (const p of k.pieces) await c.write(p);
  const lines: string[] = [];
  let sawMarker = false;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let m: Message | undefined;
    try {
      m = await c.next(Math.max(1, deadline - Date.now()));
    } catch {
      lines.push('(timed out)');
      return { lines, finished: false, closed: false };
    }
    if (!m) return { lines, finished: false, closed: true };
    const line = describeMessage(m);
    if (line) lines.push(line);
    if (line === 'D end') sawMarker = true;
    if (sawMarker && m.type === 'Z') return { lines, finished: true, closed: false };
  }
}

/** Split an answer into its ReadyForQuery-terminated groups. */
function groups(lines: string[]): string[][] {
  const out: string[][] = [[]];
  for (const l of lines) {
    out[out.length - 1].push(l);
    if (l.startsWith('Z ')) out.push([]);
  }
  if (!out[out.length - 1].length) out.pop();
  return out;
}

/** Errors the gateway raises itself when it cannot decide a batch (it refuses it whole). */
const FAIL_CLOSED = new Set(['E ERROR 42501', 'E ERROR 26000', 'E ERROR 34000']);

/**
 * Whether the gateway's answer is PostgreSQL's. One difference is by design: when the
 * gateway cannot decide a batch (a name it never saw prepared, a statement after one that
 * may change how SQL parses) it refuses the whole batch with one error, where PostgreSQL
 * ran it up to the first error. Such a group matches when PostgreSQL's group also failed
 * and ends in the same transaction status. Returns the number of such groups, or null.
 */
export function sameAnswer(want: DiffAnswer, got: DiffAnswer): number | null {
  if (got.finished !== want.finished || got.closed !== want.closed) return null;
  if (want.closed) {
    // The server ended the session (a protocol violation): writes still on their way then
    // meet a reset, which can discard answers not yet read, on either side.
    const n = Math.min(want.lines.length, got.lines.length);
    return JSON.stringify(want.lines.slice(0, n)) === JSON.stringify(got.lines.slice(0, n))
      ? 0
      : null;
  }
  const w = groups(want.lines);
  const g = groups(got.lines);
  if (w.length !== g.length) return null;
  let refused = 0;
  for (let i = 0; i < w.length; i++) {
    if (JSON.stringify(w[i]) === JSON.stringify(g[i])) continue;
    const [err, z] = g[i];
    const whole =
      g[i].length === 2 &&
      FAIL_CLOSED.has(err.split(' ').slice(0, 3).join(' ')) &&
      w[i].some((l) => l.startsWith('E ')) &&
      w[i].at(-1) === z;
    if (!whole) return null;
    refused++;
  }
  return refused;
}
