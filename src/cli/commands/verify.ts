// `portcullis verify`: check chains and checkpoint signatures; name the first broken link.
import { parseArgs } from 'node:util';
import { printableJson, printableLine, printableLines } from '../../record/replay.js';
import {
  readKeyFile,
  SOURCE_OPTIONS,
  resolveSources,
  type RecordingCommandContext,
} from '../../record/sources.js';
import { verifyRecording, type Finding, type VerifyReport } from '../../record/verify.js';

export const VERIFY_USAGE = `usage: portcullis verify [--dir DIR]... [--s3-bucket B [--s3-prefix P] [--s3-endpoint URL]] [--key FILE] [--partial] [--json]
  --partial: the oldest segments were removed by retention on purpose
  exit 0: intact and sealed (signatures checked); 1: a broken link, or no segment found;
  2: intact, but a tail is not sealed (a live recording, a crash not yet recovered, or a
  truncated tail), or no key to check the checkpoint signatures with, or the recorder
  dropped events (GAP: its backlog of lines not yet written passed its bound);
  3: intact and sealed, but for runs that ended without their final checkpoint (a crash)
  and the events they left unsigned, which the next start recorded as found (RECOVERED
  UNSIGNED: a few per crash, or none; more may have been rewritten)
`;

const at = (f: Finding) =>
  `${f.session_id ? `session ${f.session_id}` : ''}${f.seq !== undefined ? ` seq ${f.seq}` : ''} in segment ${f.segment}` +
  (f.offset !== undefined ? ` at byte ${f.offset}` : '');

export async function verifyCommand(
  args: string[],
  ctx: RecordingCommandContext = {},
): Promise<number> {
  const write = ctx.out ?? ((t: string) => void process.stdout.write(t));
  // Session ids, identities and SQL come from agents and from the files read: never raw
  // control characters (nor a line break inside a field) to the terminal, JSON included.
  const out = (t: string) => write(printableLines(t));
  const line = (t: string) => write(printableLine(t));
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        ...SOURCE_OPTIONS,
        key: { type: 'string' },
        json: { type: 'boolean' },
        partial: { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    out(`${(e as Error).message}\n${VERIFY_USAGE}`);
    return 2;
  }
  const publicKey = v.key ? await readKeyFile(v.key) : ctx.publicKey;
  const r = await verifyRecording(resolveSources(v, ctx), { publicKey, partial: v.partial });
  const unchecked = r.checkpoints > 0 && r.signedCheckpoints === 0;
  if (v.json) write(printableJson(JSON.stringify(r, null, 2)) + '\n');
  else {
    line(
      `${r.segments} segments, ${r.events} events, ${r.chains} chains, ` +
        `${r.checkpoints} checkpoints (${r.signedCheckpoints} signatures verified)`,
    );
    if (r.breaks.length) {
      line(`BROKEN: first broken link: ${at(r.breaks[0])}: ${r.breaks[0].reason}`);
      for (const b of r.breaks.slice(1, 20)) line(`  also: ${at(b)}: ${b.reason}`);
      if (r.breaks.length > 20) line(`  ... ${r.breaks.length - 20} more`);
    }
    for (const t of r.torn) line(`${t.acknowledged ? 'recovered' : 'TORN'}: ${t.reason}`);
    for (const u of r.unsealed) line(`UNSEALED: ${u.session_id}: ${u.reason}`);
    for (const u of r.recovered) line(`RECOVERED UNSIGNED: ${u.session_id}: ${u.reason}`);
    for (const g of r.gaps) line(`GAP: ${at(g)}: ${g.reason}`);
    for (const w of r.warnings) line(`warning: ${w}`);
    if (r.segments === 0) line('NOTHING TO VERIFY: no segment found in the sources');
    else if (r.events === 0 && r.breaks.length === 0)
      line('NOTHING TO VERIFY: the segments hold no event');
    else if (r.sealed && unchecked)
      line(
        'INTACT, SIGNATURES NOT CHECKED: pass --key (the checkpoint public key), or --config with recording.signingKey',
      );
    else if (r.sealed) line('OK: every chain is intact and sealed');
    else if (r.ok && onlyRecovered(r))
      line(
        `INTACT, SEALED BUT FOR RUNS THAT ENDED WITHOUT THEIR FINAL CHECKPOINT (${r.recovered.reduce((n, u) => n + u.events, 0)} EVENTS LEFT UNSIGNED): see above`,
      );
    else if (r.ok) line('INTACT, NOT SEALED: see above');
  }
  // Nothing read is no proof of anything; and without a key a rewritten recording (every
  // hash recomputed) looks intact, so it cannot be called sealed.
  if (r.breaks.length || r.segments === 0 || r.events === 0) return 1;
  if (unchecked) return 2;
  return r.sealed ? 0 : onlyRecovered(r) ? 3 : 2;
}

/** Intact, and nothing unsealed but what recoveries recorded (see VerifyReport.recovered). */
function onlyRecovered(r: VerifyReport): boolean {
  return (
    r.ok &&
    r.recovered.length > 0 &&
    r.unsealed.length === 0 &&
    r.gaps.length === 0 &&
    r.torn.every((t) => t.acknowledged)
  );
}
