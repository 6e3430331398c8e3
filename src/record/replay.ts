// Session timelines for people: time, identity, statement, decision, rows, duration.
import type { RecordedEvent } from './event.js';
import { summarize, timeline } from './read.js';

const DECISION: Record<string, string> = { allow: 'ALLOW', deny: 'DENY', approval: 'HOLD' };

function oneLine(sql: string, max: number): string {
  const s = sql.replace(/\s+/g, ' ').trim();
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

function who(ev: RecordedEvent): string {
  // Fields are read as text whatever their recorded type: an edited line (which verify
  // names) must not keep the rest of the timeline from being shown.
  let s = String(ev.sub ?? '-');
  if (ev.agent) s += ` via ${String(ev.agent)}`;
  if (ev.on_behalf_of) s += ` for ${String(ev.on_behalf_of)}`;
  return s;
}

/** A field recorded as a list of strings, read whatever its recorded type. */
function texts(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(String);
  return v === undefined || v === null ? [] : [String(v)];
}

/**
 * Render one session's events as a readable timeline.
 * @example
 * process.stdout.write(formatTimeline(await reader.sessionEvents(id)));
 */
export function formatTimeline(events: RecordedEvent[], opts: { width?: number } = {}): string {
  const width = opts.width ?? 100;
  const s = summarize(events);
  if (!s) return '';
  const out: string[] = [];
  out.push(
    `session ${s.session_id}  ${s.sub ?? '-'} (${s.auth_method ?? '?'})` +
      (s.agent ? `  agent=${s.agent}` : '') +
      (s.on_behalf_of ? `  on_behalf_of=${s.on_behalf_of}` : '') +
      (s.groups.length ? `  groups=${s.groups.join(',')}` : ''),
  );
  out.push(
    `from ${s.client_addr ?? '?'}  app=${s.application_name || '-'}  db=${s.database ?? '?'}  target=${s.target ?? '?'}` +
      `  tls=${events[0].tls === true ? 'yes' : events[0].tls === false ? 'no' : '?'}`,
  );
  out.push('');
  out.push(
    `${'time'.padEnd(24)} ${'seq'.padStart(5)}  ${'identity'.padEnd(20)} ${'decision'.padEnd(13)} ${'rows'.padStart(7)} ${'duration'.padStart(10)}  statement`,
  );
  for (const e of timeline(events)) {
    const ev = e.event;
    const head = `${ev.ts.padEnd(24)} ${String(ev.seq).padStart(5)}  ${oneLine(who(ev), 20).padEnd(20)} `;
    if (e.type === 'statement') {
      const r = e.result;
      // A refused statement never ran: no rows, no duration; a deny is a refusal already.
      const ran = r !== undefined && r.outcome !== 'refused';
      const rows = !ran || r.rows === null || r.rows === undefined ? '-' : String(r.rows);
      const dur = ran ? `${Number(r.duration_ms).toFixed(2)} ms` : '-';
      let decision = DECISION[ev.decision as string] ?? String(ev.decision);
      if (r && r.outcome !== 'ok' && !(r.outcome === 'refused' && ev.decision !== 'allow'))
        decision = decision + '/' + String(r.outcome);
      let line = `${head}${decision.padEnd(13)} ${rows.padStart(7)} ${dur.padStart(10)}  ${oneLine(String(ev.sql), width)}`;
      if (Array.isArray(ev.params) && ev.params.length)
        line += `  params=${oneLine(JSON.stringify(ev.params), width)}`;
      else if (ev.params === 'redacted') line += '  params=[redacted]';
      out.push(line);
      const runs = ev.runs as { sql?: unknown; params?: unknown } | undefined;
      if (runs && typeof runs.sql === 'string') {
        let ran = ' '.repeat(33) + `runs: ${oneLine(runs.sql, width)}`;
        if (Array.isArray(runs.params) && runs.params.length)
          ran += `  params=${oneLine(JSON.stringify(runs.params), width)}`;
        else if (runs.params === 'redacted') ran += '  params=[redacted]';
        out.push(ran);
      }
      const reasons = texts(ev.reasons);
      const extra = [
        reasons.length ? `reasons: ${reasons.join('; ')}` : '',
        r?.sqlstate ? `sqlstate ${String(r.sqlstate)}` : '',
        r?.command_tag ? `tag ${String(r.command_tag)}` : '',
        `policy ${String(ev.policy_version)}`,
        Array.isArray(ev.redact) ? `redacted: ${texts(ev.redact).join(', ')}` : '',
      ].filter(Boolean);
      out.push(' '.repeat(33) + extra.join('  '));
    } else {
      const skip = new Set([
        'v',
        'type',
        'session_id',
        'seq',
        'ts',
        'prev_hash',
        'hash',
        'sub',
        'iss',
        'auth_method',
        'groups',
        'agent',
        'on_behalf_of',
      ]);
      const fields = Object.entries(ev)
        .filter(([k, v]) => !skip.has(k) && v !== null)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.push(`${head}${e.type}  ${oneLine(fields, width + 20)}`);
    }
  }
  return out.map(printable).join('\n') + '\n';
}

/** `printable` for each line of a text: its line breaks stay, any inside a field do not. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** One output line made of recorded text: a line break inside it is shown as \x0a. */
export function printableLine(line: string): string {
  return printable(line) + '\n';
}

/**
 * JSON output of recorded text: what `printable` escapes is written as \u escapes (the
 * same JSON, read back). JSON.stringify escapes only C0 controls; its own line breaks
 * (indentation) stay.
 */
export function printableJson(json: string): string {
  return json.replace(UNPRINTABLE, (ch) => {
    if (ch === '\n') return ch;
    let out = '';
    for (let i = 0; i < ch.length; i++)
      out += '\\u' + ch.charCodeAt(i).toString(16).padStart(4, '0');
    return out;
  });
}

/**
 * What an agent could use to make recorded text read as something else on a terminal:
 * control characters (escape sequences that move the cursor or recolour it, a newline that
 * would fake a timeline line), format characters (bidirectional marks and overrides,
 * zero-width and invisible ones, tag characters), lone surrogates, private-use code points,
 * line and paragraph separators, spaces other than U+0020, and letters drawn blank.
 */
const UNPRINTABLE =
  /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\u115f\u1160\u2800\u3164\uffa0]/gu;

/** Recorded text comes from agents and tokens: see UNPRINTABLE; shown as \xNN / \u{NNNN}. */
function printable(line: string): string {
  return line.replace(UNPRINTABLE, (ch) => {
    const c = ch.codePointAt(0)!;
    return c < 0x100 ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u{${c.toString(16)}}`;
  });
}
