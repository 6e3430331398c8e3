// Logger facade: JSON lines to stderr, with secrets scrubbed before anything is written.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const secrets = new Set<string>();

/**
 * Register a secret value (password, key) so that no log line ever contains it. Lines are
 * scrubbed once written as JSON, where a `"`, a `\` or a control character of the secret is
 * escaped: the escaped form is registered too.
 */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 4) return;
  secrets.add(value);
  secrets.add(JSON.stringify(value).slice(1, -1));
}

function scrub(text: string): string {
  for (const s of secrets) if (text.includes(s)) text = text.split(s).join('[redacted]');
  return text;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

let threshold: number = ORDER[(process.env.PORTCULLIS_LOG_LEVEL as LogLevel) ?? 'info'] ?? 20;
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function setLogLevel(level: LogLevel): void {
  threshold = ORDER[level];
}

/** Redirect log output (tests capture it to prove secrets never appear). */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

/** An error's message cut short: it may quote what a client sent (a startup value, SQL). */
function cut(message: string): string {
  return message.length > 200 ? message.slice(0, 200) + '…' : message;
}

function make(base: Record<string, unknown>): Logger {
  const write = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < threshold) return;
    const line = JSON.stringify(
      { ts: new Date().toISOString(), level, msg, ...base, ...fields },
      (_k, v) =>
        v instanceof Error
          ? { name: v.name, message: cut(v.message) }
          : typeof v === 'bigint'
            ? String(v)
            : v,
    );
    sink(scrub(line));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => make({ ...base, ...fields }),
  };
}

export const log: Logger = make({});
