// `portcullis replay <session-id>`: print a recorded session as a timeline.
import { parseArgs } from 'node:util';
import { createReader } from '../../record/read.js';
import {
  formatTimeline,
  printableJson,
  printableLine,
  printableLines,
} from '../../record/replay.js';
import {
  SOURCE_OPTIONS,
  resolveSources,
  type RecordingCommandContext,
} from '../../record/sources.js';

export const REPLAY_USAGE = `usage: portcullis replay <session-id> [--dir DIR]... [--s3-bucket B [--s3-prefix P] [--s3-endpoint URL]] [--json]
       portcullis replay --list [--identity SUB] [--since TIME] [--decision allow|deny|approval]
`;

/** Exit codes: 0 printed, 1 session not found, 2 usage. */
export async function replayCommand(
  args: string[],
  ctx: RecordingCommandContext = {},
): Promise<number> {
  const write = ctx.out ?? ((t: string) => void process.stdout.write(t));
  // Session ids, identities and SQL come from agents and from the files read: never raw
  // control characters (nor a line break inside a field) to the terminal, JSON included.
  const out = (t: string) => write(printableLines(t));
  const line = (t: string) => write(printableLine(t));
  const json = (v: unknown, indent?: number) =>
    write(printableJson(JSON.stringify(v, null, indent)) + '\n');
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        ...SOURCE_OPTIONS,
        json: { type: 'boolean' },
        list: { type: 'boolean' },
        identity: { type: 'string' },
        since: { type: 'string' },
        until: { type: 'string' },
        decision: { type: 'string' },
      },
    });
  } catch (e) {
    out(`${(e as Error).message}\n${REPLAY_USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  const reader = createReader(resolveSources(v, ctx));
  if (v.list) {
    const sessions = await reader.listSessions({
      identity: v.identity,
      since: v.since,
      until: v.until,
      decision: v.decision as 'allow' | 'deny' | 'approval' | undefined,
    });
    if (v.json) json(sessions, 2);
    else
      for (const s of sessions)
        line(
          `${s.started_at}  ${s.session_id}  ${s.sub ?? '-'}  statements=${s.statements} ` +
            `allow=${s.decisions.allow} deny=${s.decisions.deny} hold=${s.decisions.approval}` +
            `${s.ended_at ? '' : '  (open)'}`,
        );
    return 0;
  }
  if (positionals.length !== 1) {
    out(REPLAY_USAGE);
    return 2;
  }
  const events = await reader.sessionEvents(positionals[0]);
  if (!events) {
    line(`no recording of session ${positionals[0]}`);
    return 1;
  }
  if (v.json) for (const e of events) json(e);
  else out(formatTimeline(events));
  return 0;
}
