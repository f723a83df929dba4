/**
 * The real service process (`node dist/main.js`, as `npm start` runs it; built first when dist/ is
 * missing or stale: helpers/build.ts) for reliability tests and soak benchmarks: start it, learn its port
 * from the `listening` log line, kill it with any signal, and keep what it logged (a bounded tail, plus
 * every warn-or-worse line) for failure messages and reports. Its logs are JSON lines on stdout, one per
 * request at `info`, so only a tail is kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ensureBuilt } from './build.js';
import { REPO } from './repo.js';

const TAIL_LINES = 200;
const PROBLEM_LINES = 1_000;

export interface ServiceProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  baseUrl: string;
  /** Resolves when the process is gone: its exit code, or the signal that ended it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The last lines of stdout and stderr, interleaved as they arrived. */
  tail(): string;
  /** Log lines at warn (40) or above, and any stderr line that is not JSON, in order (the first 1,000). */
  problems(): string[];
  /** Every such line counted by what it says: its message, error code and error text, not its ids and times. */
  problemCounts(): Map<string, number>;
  /** Sends the signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** PATH and HOME from this process, nothing else: the service reads its whole configuration from env. */
export function baseEnv(extra: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' };
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

/** Under scripts/suite-profile.ts, the processes the tests start are profiled too; otherwise `env` as given. */
function profiled(env: Record<string, string>): Record<string, string> {
  const dir = process.env.SUITE_PROFILE_DIR;
  return dir ? { ...env, SUITE_PROFILE_DIR: dir, NODE_OPTIONS: process.env.NODE_OPTIONS ?? '' } : env;
}

/**
 * Spawns the service (from `cwd`'s dist/, the repository's by default) and resolves once it logged
 * `listening` (LOG_LEVEL must be info or lower for that line). Rejects with its output if it exits
 * first or is not up within `timeoutMs`.
 */
export async function startService(env: Record<string, string>, opts: { timeoutMs?: number; cwd?: string } = {}): Promise<ServiceProcess> {
  await ensureBuilt();
  const child = spawn(process.execPath, ['dist/main.js'], { cwd: opts.cwd ?? REPO, env: profiled(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const problems: string[] = [];
  const problemCounts = new Map<string, number>();
  let port: number | null = null;
  const push = (line: string, stderr: boolean) => {
    if (!line) return;
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    // Only the listening line and warnings need parsing; at info every request logs a line.
    const head = /^\{"level":(\d+)/.exec(line);
    if (head && Number(head[1]) < 40 && (port !== null || !line.includes('"listening"'))) return;
    let level = 0;
    let what = line.slice(0, 160);
    try {
      const parsed = JSON.parse(line) as { level?: number; msg?: string; port?: number; code?: string; err?: unknown };
      level = parsed.level ?? 0;
      if (port === null && parsed.msg === 'listening' && typeof parsed.port === 'number') port = parsed.port;
      const err = typeof parsed.err === 'string' ? parsed.err : (parsed.err as { message?: string } | undefined)?.message;
      what = `${parsed.msg}${parsed.code ? ` (${parsed.code})` : ''}${err ? `: ${err.slice(0, 120)}` : ''}`;
    } catch {
      level = stderr ? 50 : 0;
    }
    if (level < 40) return;
    if (problems.length < PROBLEM_LINES) problems.push(line);
    problemCounts.set(what, (problemCounts.get(what) ?? 0) + 1);
  };
  const reader = (stderr: boolean) => {
    let partial = '';
    return (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) push(l, stderr);
    };
  };
  child.stdout!.on('data', reader(false));
  child.stderr!.on('data', reader(true));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  while (port === null) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`the service exited (${child.exitCode ?? child.signalCode}) before listening:\n${tail.join('\n')}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service did not listen within ${timeoutMs} ms:\n${tail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const listening = port;
  return {
    child,
    pid: child.pid!,
    port: listening,
    baseUrl: `http://127.0.0.1:${listening}`,
    exited,
    tail: () => tail.join('\n'),
    problems: () => [...problems],
    problemCounts: () => new Map(problemCounts),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export { waitFor, sleep } from './wait.js';

/** A process started with this Node (`node <args>`), its output collected as it arrives. */
export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Its exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** `node <args>` in the repository with exactly `env` on top of PATH and HOME (baseEnv). */
export function runNode(args: string[], env: Record<string, string>): Running {
  const child = spawn(process.execPath, args, { cwd: REPO, env: profiled(baseEnv(env)), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}
