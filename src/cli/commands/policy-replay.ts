// `portcullis policy replay --policy <dir> --since <time>`: which recorded decisions would change.
import { parseArgs } from 'node:util';
import { printableJson, printableLine, printableLines } from '../../record/replay.js';
import type { PolicyEngine } from '../../policy/types.js';
import { createReader } from '../../record/read.js';
import {
  SOURCE_OPTIONS,
  resolveSources,
  type RecordingCommandContext,
} from '../../record/sources.js';
import { whatIf } from '../../record/what-if.js';

export const POLICY_REPLAY_USAGE = `usage: portcullis policy replay --policy DIR [--since TIME] [--dir DIR]... [--all] [--json]
  TIME: ISO 8601 (2026-11-01T09:00Z), epoch milliseconds, or a duration back from now (90s, 30m, 24h, 7d)
  exit 0: no decision changes; 3: some decisions change; 2: usage
`;

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Epoch ms of a --since value; NaN when it is none of the accepted forms. */
export function sinceTime(v: string, now: number): number {
  const ago = /^(\d+)([smhd])$/.exec(v.trim());
  if (ago) return now - Number(ago[1]) * UNIT_MS[ago[2]];
  if (/^\d+$/.test(v)) return Number(v);
  return Date.parse(v);
}

export interface PolicyReplayContext extends RecordingCommandContext {
  /** Builds the candidate policy engine from a policy directory (the policy stage provides it). */
  engineFactory?: (policyDir: string) => PolicyEngine | Promise<PolicyEngine>;
}

export async function policyReplayCommand(
  args: string[],
  ctx: PolicyReplayContext = {},
): Promise<number> {
  const write = ctx.out ?? ((t: string) => void process.stdout.write(t));
  // Session ids, identities and SQL come from agents and from the files read: never raw
  // control characters (nor a line break inside a field) to the terminal, JSON included.
  const out = (t: string) => write(printableLines(t));
  const line = (t: string) => write(printableLine(t));
  if (args[0] === 'replay') args = args.slice(1);
  let v;
  try {
    v = parseArgs({
      args,
      options: {
        ...SOURCE_OPTIONS,
        policy: { type: 'string' },
        since: { type: 'string' },
        all: { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }).values;
  } catch (e) {
    out(`${(e as Error).message}\n${POLICY_REPLAY_USAGE}`);
    return 2;
  }
  const since = v.since === undefined ? undefined : sinceTime(v.since, Date.now());
  if (since !== undefined && Number.isNaN(since)) {
    out(`policy replay: --since ${JSON.stringify(v.since)} is not a time\n${POLICY_REPLAY_USAGE}`);
    return 2;
  }
  if (!v.policy || !ctx.engineFactory) {
    out(!ctx.engineFactory ? 'policy replay: no policy engine available\n' : POLICY_REPLAY_USAGE);
    return 2;
  }
  const engine = await ctx.engineFactory(v.policy);
  const events = await createReader(resolveSources(v, ctx)).allEvents();
  const all = whatIf(events, engine, { since, all: true });
  const changed = all.filter((c) => c.before !== c.after);
  if (v.json) write(printableJson(JSON.stringify(v.all ? all : changed, null, 2)) + '\n');
  else {
    for (const c of v.all ? all : changed) {
      const what =
        c.kind === 'connect'
          ? `login of ${c.sub ?? '?'} to database ${c.database ?? '?'}`
          : c.sql.replace(/\s+/g, ' ').slice(0, 120);
      line(
        `${c.ts}  ${c.session_id}#${c.seq}  ${c.before} -> ${c.after}${c.before === c.after ? ' (same)' : ''}  ` +
          what,
      );
      line(`    reasons: ${c.reasons.join('; ') || '-'}`);
    }
    const logins = all.filter((c) => c.kind === 'connect').length;
    line(
      `${count(all.length - logins, 'statement')} and ${count(logins, 'login')} re-decided under policy ${engine.version}; ${changed.length} would change`,
    );
  }
  return changed.length ? 3 : 0;
}
