/**
 * Where the modtune servers running on this machine can be found, whatever their DATA_DIR: a server that
 * holds an embedded database writes one small file (its lock record: pid, host, process start time, URL;
 * plus its data directory) into a per-user runtime directory when it advertises its URL, and removes it
 * when it releases the lock (data-dir-lock.ts). A CLI started on a DATA_DIR without a database lists them
 * there to say where the database it was probably looking for is. A server killed with SIGKILL leaves its
 * file behind: whoever lists them judges each by the lock's liveness rule (`runningServers` in
 * data-dir-lock.ts) and removes those whose process is gone. PostgreSQL servers take no lock and are not
 * listed.
 *
 * The directory is `$XDG_RUNTIME_DIR/modtune`, else `<tmpdir>/modtune-<uid>`, created 0700. One found
 * that is not a directory of this user's that only this user can write (planted in a shared /tmp) is
 * not used: a file in it could send a user's admin key elsewhere. Registering is best effort: a server
 * that cannot write its file still serves, CLIs only do not find it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { LockHolder } from './data-dir-lock.js';

/** A running server as its registration file records it. */
export interface ServerRegistration extends LockHolder {
  /** Absolute path of the data directory it holds. */
  dataDir: string;
}

/** The registry's directory for this user (not created). */
export function registryDir(env: NodeJS.ProcessEnv = process.env): string {
  const runtime = env.XDG_RUNTIME_DIR?.trim();
  if (runtime && path.isAbsolute(runtime)) return path.join(runtime, 'modtune');
  return path.join(os.tmpdir(), `modtune-${process.getuid?.() ?? os.userInfo().username}`);
}

/** The registry's directory, created if missing; null when it is not one only this user can write. */
async function usableDir(create: boolean): Promise<string | null> {
  const dir = registryDir();
  if (create) await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await fs.lstat(dir).catch(() => null);
  if (!info?.isDirectory()) return null;
  const uid = process.getuid?.();
  if (uid !== undefined && (info.uid !== uid || (info.mode & 0o022) !== 0)) return null;
  return dir;
}

/** The file name of `dataDir`'s registration by process `pid` (a process may serve several directories). */
function fileName(pid: number, dataDir: string): string {
  return `${pid}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}.json`;
}

/** Records `holder` (a server that listens at `holder.url`) as serving `dataDir`; never throws. */
export async function registerServer(holder: LockHolder, dataDir: string): Promise<void> {
  try {
    const dir = await usableDir(true);
    if (!dir) return;
    const reg: ServerRegistration = { ...holder, dataDir: path.resolve(dataDir) };
    const file = path.join(dir, fileName(holder.pid, reg.dataDir));
    // Written aside and renamed, so a reader never sees half a file; dot-files are not read.
    const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
    await fs.writeFile(tmp, `${JSON.stringify(reg)}\n`, { mode: 0o600 });
    await fs.rename(tmp, file);
  } catch {
    // Best effort (see the header).
  }
}

/** Removes the registration of `dataDir` by `pid`, if any; never throws. */
export async function unregisterServer(pid: number, dataDir: string): Promise<void> {
  try {
    const dir = await usableDir(false);
    if (dir) await fs.rm(path.join(dir, fileName(pid, path.resolve(dataDir))), { force: true });
  } catch {
    // Best effort: a file left behind is judged dead by its pid.
  }
}

/** Every registration in the directory, alive or not, with its file. */
export async function readRegistrations(): Promise<{ file: string; reg: ServerRegistration }[]> {
  const dir = await usableDir(false).catch(() => null);
  if (!dir) return [];
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: { file: string; reg: ServerRegistration }[] = [];
  for (const name of names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort()) {
    const file = path.join(dir, name);
    try {
      const reg = JSON.parse(await fs.readFile(file, 'utf8')) as ServerRegistration;
      if (typeof reg.pid === 'number' && typeof reg.hostname === 'string' && typeof reg.dataDir === 'string' && typeof reg.url === 'string') out.push({ file, reg });
    } catch {
      // Removed meanwhile, or not ours: skip it.
    }
  }
  return out;
}
