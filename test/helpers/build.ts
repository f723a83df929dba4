/**
 * The compiled build (`npm run build` → dist/) that tests running the service or a CLI as a user does
 * need. Built once per test run: the first test file to ask runs `npm run build` when dist/ is missing
 * or older than a source (src/, migrations/, the build script), holding a lock file; test files running
 * in parallel wait for that build instead of starting their own. A lock whose process is gone is taken over.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isZombie } from '../../src/db/data-dir-lock.js';
import { REPO } from './repo.js';

const STAMP = path.join(REPO, 'dist', '.built');
const SOURCES = ['src', 'migrations', 'scripts/build.ts', 'scripts/compile.ts'];
const LOCK = path.join(os.tmpdir(), `modtune-build-${createHash('sha256').update(REPO).digest('hex').slice(0, 12)}.lock`);
const WAIT_MS = 300_000;

let ready: Promise<void> | null = null;

/** Resolves once dist/ holds a build of the current sources. */
export function ensureBuilt(): Promise<void> {
  ready ??= build();
  ready.catch(() => (ready = null));
  return ready;
}

async function newestMtime(p: string): Promise<number> {
  const info = await fs.stat(p);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = 0;
  for (const name of await fs.readdir(p)) newest = Math.max(newest, await newestMtime(path.join(p, name)));
  return newest;
}

async function upToDate(): Promise<boolean> {
  const built = await fs.stat(STAMP).then((s) => s.mtimeMs, () => null);
  if (built === null) return false;
  for (const s of SOURCES) if ((await newestMtime(path.join(REPO, s))) > built) return false;
  return true;
}

/** Whether process `pid` is running (a zombie, killed and not yet reaped, is not). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

async function build(): Promise<void> {
  for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline; ) {
    if (await upToDate()) return;
    let lock: fs.FileHandle;
    try {
      lock = await fs.open(LOCK, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(await fs.readFile(LOCK, 'utf8').catch(() => ''));
      const age = await fs.stat(LOCK).then((s) => Date.now() - s.mtimeMs, () => 0);
      // A dead holder's lock is taken over; an empty one is being written this instant, unless it is old.
      if (holder > 0 ? !processAlive(holder) : age > 10_000) await fs.rm(LOCK, { force: true });
      else await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    try {
      await lock.writeFile(String(process.pid));
      await lock.close();
      if (await upToDate()) return;
      await promisify(execFile)('npm', ['run', 'build'], { cwd: REPO, env: process.env });
      return;
    } finally {
      await fs.rm(LOCK, { force: true });
    }
  }
  throw new Error(`no up-to-date build in dist/ after ${WAIT_MS / 1000} s (lock ${LOCK})`);
}
