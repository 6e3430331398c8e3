// Child processes of the bench: started on loopback, tracked, and all stopped on exit or ^C.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { connect } from 'node:net';

const live = new Set<ChildProcess>();

export interface Spawned {
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string | null>;
  stop(timeoutMs?: number): Promise<void>;
}

/** Starts a process whose output goes to `logFile`; it is killed when the bench exits. */
export function spawnLogged(
  cmd: string,
  args: string[],
  logFile: string,
  opts: SpawnOptions & { stopSignal?: NodeJS.Signals } = {},
): Spawned {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  live.add(child);
  const exited = new Promise<number | string | null>((resolve) => {
    child.once('error', (err) => {
      log.write(`spawn error: ${String(err)}\n`);
      live.delete(child);
      resolve(`error: ${err.message}`);
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(code ?? signal);
    });
  });
  const stop = async (timeoutMs = 5000): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    child.kill(opts.stopSignal ?? 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  };
  return { child, pid: child.pid ?? -1, exited, stop };
}

/** Kills every child still running (synchronously: usable from an exit handler). */
export function killAllChildren(signal: NodeJS.Signals = 'SIGTERM'): void {
  for (const child of live) {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** True once something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Waits until the port accepts connections; fails early if the process exits first. */
export async function waitForPort(
  host: string,
  port: number,
  proc: Spawned | null,
  timeoutMs: number,
): Promise<void> {
  let exited: string | null = null;
  void proc?.exited.then((c) => (exited = String(c)));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`process exited (${exited}) before listening`);
    if (await portOpen(host, port)) return;
    await sleep(100);
  }
  throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Runs a command to completion, collecting its output. */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.once('error', (err) => {
      live.delete(child);
      if (timer) clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(err) });
    });
    child.once('close', (code) => {
      live.delete(child);
      if (timer) clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
