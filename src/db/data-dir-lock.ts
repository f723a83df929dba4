/**
 * One process per embedded database. PGlite is a single session inside a single process: a second
 * process that opens the same data directory does not see the first one's writes, and both writing can
 * corrupt it. So whoever opens a data directory on disk (the server, or a CLI when no server runs) holds
 * `DATA_DIR/modtune.lock` until it closes the database, and a server writes its URL into it once it
 * listens, so that CLIs started beside it go through its admin API instead of opening the files.
 *
 * The lock is a file created with link(2), which fails if it exists (atomic on local file systems and
 * NFSv3+). A holder that died without cleaning up (SIGKILL, OOM, power loss) leaves a stale file: on this
 * host a dead pid, or a pid now used by another process (its start time differs), is stale and taken
 * over. A holder on another host (another container sharing the volume) cannot be checked from here, so
 * it counts as alive and the message says how to clear it.
 *
 * A server also registers itself, with its data directory, in a per-user directory (server-registry.ts)
 * while it advertises its URL, so that a CLI started on a DATA_DIR without a database can say where the
 * running servers' databases are (`runningServers`, judged by the same liveness rule as the lock).
 */
import { systemClock } from '../clock.js';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readRegistrations, registerServer, unregisterServer, type ServerRegistration } from './server-registry.js';

export const LOCK_FILE = 'modtune.lock';
/** How a server names itself in the lock. */
export const SERVER_COMMAND = 'the modtune server';

export interface LockHolder {
  pid: number;
  hostname: string;
  /** The process's start time as /proc reports it (clock ticks since boot); null where there is no /proc. */
  start: string | null;
  /** What holds it, for messages: `server`, `npm run train`, … */
  command: string;
  /** The holder's HTTP address once it listens (servers only). */
  url: string | null;
  since: string;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly holder: LockHolder,
    readonly lockPath: string,
  ) {
    const where = holder.hostname === os.hostname() ? `pid ${holder.pid}` : `pid ${holder.pid} on host ${holder.hostname}`;
    super(
      `the embedded database in ${path.dirname(lockPath)} is in use by ${holder.command} (${where}, since ${holder.since})` +
        `${holder.url ? `, serving ${holder.url}` : ''}. Only one process may open it at a time: stop that process or wait for it to ` +
        `finish, or set DATABASE_URL to use PostgreSQL. If no such process runs any more, delete ${lockPath}.`,
    );
    this.name = 'DataDirLockedError';
  }
}

/** Fields 3 onward of /proc/PID/stat (state first), or null where it cannot be read. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** Start time of `pid` (field 22 of /proc/PID/stat), or null when it cannot be read. */
function processStart(pid: number): string | null {
  return statFields(pid)?.[19] ?? null;
}

/**
 * Whether `pid` has exited and only waits to be reaped (state Z, or X): a process killed with SIGKILL stays
 * a zombie until its parent collects it, and kill(pid, 0) still finds it, though it holds nothing.
 */
export function isZombie(pid: number): boolean {
  const state = statFields(pid)?.[0];
  return state === 'Z' || state === 'X';
}

/** Lock files this process holds, as absolute paths (a second open in the same process is refused like any other). */
const heldHere = new Set<string>();

/** Whether the process named in `holder` may still be using the directory. */
export function holderAlive(holder: LockHolder, lockPath: string): boolean {
  if (holder.hostname !== os.hostname()) return true;
  // Never probe pid 0 or a negative one: kill() would address a process group or every process.
  if (!Number.isInteger(holder.pid) || holder.pid <= 0) return false;
  if (holder.pid === process.pid) return heldHere.has(path.resolve(lockPath));
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: it exists, under another user.
  }
  // A zombie has exited: its descriptors are closed and the data directory is free (a restart right after
  // a SIGKILL was refused 8 times in 10 before this).
  if (isZombie(holder.pid)) return false;
  const now = processStart(holder.pid);
  return !(holder.start !== null && now !== null && now !== holder.start);
}

async function readHolder(lockPath: string): Promise<LockHolder | null> {
  let text: string;
  try {
    text = await fs.readFile(lockPath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (typeof h.pid === 'number' && typeof h.hostname === 'string') return h;
  } catch {
    // Unparseable: written by something else, or truncated by a crash mid-rename (never by link). Stale.
  }
  return { pid: -1, hostname: os.hostname(), start: null, command: 'an unreadable lock file', url: null, since: 'unknown' };
}

/** The live holder of `dataDir`'s lock, or null when nobody (alive) holds it. */
export async function dataDirHolder(dataDir: string): Promise<LockHolder | null> {
  const lockPath = path.join(dataDir, LOCK_FILE);
  const h = await readHolder(lockPath);
  return h && holderAlive(h, lockPath) ? h : null;
}

export interface DataDirLock {
  readonly path: string;
  /** Records the server's address for CLIs started beside it. */
  advertise(url: string): Promise<void>;
  release(): Promise<void>;
}

async function writeAtomically(file: string, holder: LockHolder, replace: boolean): Promise<void> {
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await fs.writeFile(tmp, `${JSON.stringify(holder)}\n`, { mode: 0o644 });
  try {
    if (replace) await fs.rename(tmp, file);
    else await fs.link(tmp, file);
  } finally {
    if (!replace) await fs.rm(tmp, { force: true });
  }
}

/** Takes `dataDir`'s lock for this process, or throws DataDirLockedError naming the live holder. */
export async function acquireDataDirLock(dataDir: string, command: string): Promise<DataDirLock> {
  await fs.mkdir(dataDir, { recursive: true });
  const lockPath = path.join(dataDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, hostname: os.hostname(), start: processStart(process.pid), command, url: null, since: systemClock.date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      await writeAtomically(lockPath, me, false);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await readHolder(lockPath);
      if (holder && holderAlive(holder, lockPath)) throw new DataDirLockedError(holder, lockPath);
      if (attempt >= 2) throw new Error(`could not take ${lockPath}: it keeps reappearing`);
      await fs.rm(lockPath, { force: true }); // stale: its holder is gone
    }
  }
  heldHere.add(path.resolve(lockPath));
  let released = false;
  let registered = false;
  return {
    path: lockPath,
    async advertise(url) {
      if (released) return;
      me.url = url;
      await writeAtomically(lockPath, me, true);
      await registerServer(me, dataDir);
      registered = true;
    },
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(path.resolve(lockPath));
      if (registered) await unregisterServer(me.pid, dataDir);
      const holder = await readHolder(lockPath);
      if (holder?.pid === me.pid && holder.hostname === me.hostname && holder.since === me.since) await fs.rm(lockPath, { force: true });
    },
  };
}

/**
 * The modtune servers running on this host that hold an embedded database, from their registrations
 * (server-registry.ts), oldest first. A registration whose process is gone (exited, a zombie, or its pid
 * reused: `holderAlive`) is removed; one written on another host (a shared /tmp) is left alone and not listed.
 */
export async function runningServers(): Promise<ServerRegistration[]> {
  const live: ServerRegistration[] = [];
  for (const { file, reg } of await readRegistrations()) {
    if (reg.hostname !== os.hostname()) continue;
    if (holderAlive(reg, path.join(reg.dataDir, LOCK_FILE))) live.push(reg);
    else await fs.rm(file, { force: true }).catch(() => undefined);
  }
  return live.sort((a, b) => a.since.localeCompare(b.since));
}

/** How this process describes itself in a lock: `npm run <script>` where npm started it, else its argv. */
export function describeProcess(): string {
  const script = process.env.npm_lifecycle_event;
  if (script) return `npm ${script === 'start' ? 'start' : `run ${script}`}`;
  return path.basename(process.argv[1] ?? 'node');
}
