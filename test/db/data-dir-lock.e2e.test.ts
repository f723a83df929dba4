/**
 * One process per embedded database: the lock file says who holds a data directory; a live holder (a
 * second open in this process, another process, another host) is refused with a message naming it; a
 * dead one (exited, or its pid reused by another process, or an unreadable file) is taken over.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { acquireDataDirLock, dataDirHolder, DataDirLockedError, isZombie, LOCK_FILE, type LockHolder } from '../../src/db/data-dir-lock.js';
import { openDatabase } from '../../src/db/connect.js';
import { quietLogger } from '../helpers/db.js';
import { waitFor } from '../helpers/wait.js';

let root: string;
let n = 0;
const freshDir = async () => {
  const d = path.join(root, `d${n++}`);
  await fs.mkdir(d);
  return d;
};
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-lock-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function startOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

const holder = (o: Partial<LockHolder>): LockHolder => ({ pid: process.ppid, hostname: os.hostname(), start: null, command: 'npm run train', url: null, since: '2026-11-29T00:00:00.000Z', ...o });
const writeLock = (dir: string, h: LockHolder | string) => fs.writeFile(path.join(dir, LOCK_FILE), typeof h === 'string' ? h : JSON.stringify(h));

test('the holder is written down, a second open is refused naming it, release frees the directory', async () => {
  const dir = await freshDir();
  const lock = await acquireDataDirLock(dir, 'npm run model:import');
  const stored = JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8')) as LockHolder;
  assert.deepEqual([stored.pid, stored.hostname, stored.command, stored.url], [process.pid, os.hostname(), 'npm run model:import', null]);
  const err = await acquireDataDirLock(dir, 'the modtune server').catch((e: Error) => e);
  assert.ok(err instanceof DataDirLockedError);
  assert.match(err.message, new RegExp(`in use by npm run model:import \\(pid ${process.pid}, since .*Only one process may open it at a time`));
  assert.match(err.message, new RegExp(`delete ${path.join(dir, LOCK_FILE).replace(/[.]/g, '\\.')}`));

  await lock.advertise('http://127.0.0.1:8080');
  assert.equal((await dataDirHolder(dir))?.url, 'http://127.0.0.1:8080');
  await lock.release();
  assert.equal(await dataDirHolder(dir), null);
  await assert.rejects(fs.stat(path.join(dir, LOCK_FILE)));
  await (await acquireDataDirLock(dir, 'again')).release();
});

test('a live process elsewhere on this host, or any process on another host, holds it', async () => {
  const dir = await freshDir();
  await writeLock(dir, holder({ start: startOf(process.ppid) }));
  await assert.rejects(acquireDataDirLock(dir, 'x'), (e: Error) => e instanceof DataDirLockedError && new RegExp(`pid ${process.ppid},`).test(e.message));
  assert.equal((await dataDirHolder(dir))?.pid, process.ppid);

  await writeLock(dir, holder({ pid: 1, hostname: 'another-container' }));
  await assert.rejects(acquireDataDirLock(dir, 'x'), /pid 1 on host another-container/);
});

test('a dead holder, a reused pid and an unreadable lock file are taken over', async () => {
  const dir = await freshDir();
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  await writeLock(dir, holder({ pid: Number(gone.stdout) }));
  assert.equal(await dataDirHolder(dir), null, 'an exited pid holds nothing');
  await (await acquireDataDirLock(dir, 'after a crash')).release();

  // The pid is alive, but it is another process than the one that wrote the lock (started at another time).
  await writeLock(dir, holder({ pid: process.ppid, start: '1' }));
  assert.equal(await dataDirHolder(dir), null, 'a reused pid holds nothing');
  const lock = await acquireDataDirLock(dir, 'after a reboot');
  assert.equal(JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8')).command, 'after a reboot');
  await lock.release();

  // Our own pid in a lock this process did not take: a previous life of this container (pid 1 again).
  await writeLock(dir, holder({ pid: process.pid }));
  await (await acquireDataDirLock(dir, 'restarted container')).release();

  await writeLock(dir, '{"pid": tru');
  await (await acquireDataDirLock(dir, 'after a torn write')).release();
});

test('a holder killed with SIGKILL and not yet reaped (a zombie) holds nothing: the restart goes ahead', async () => {
  const dir = await freshDir();
  // A shell starts `sleep` in the background and becomes another `sleep` (exec), which never reaps it: once
  // killed, the background process stays a zombie until the outer one ends.
  const outer = spawn('sh', ['-c', 'sleep 60 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number(await new Promise<string>((resolve) => outer.stdout.once('data', (d) => resolve(String(d).trim()))));
    await writeLock(dir, holder({ pid, start: startOf(pid) }));
    assert.notEqual(await dataDirHolder(dir), null, 'alive, it holds the directory');
    process.kill(pid, 'SIGKILL');
    await waitFor(() => isZombie(pid), 'the killed holder to be a zombie', 2_000, 10);
    assert.equal(isZombie(pid), true, 'killed and not reaped: a zombie');
    assert.equal(await dataDirHolder(dir), null, 'a zombie holds nothing');
    await (await acquireDataDirLock(dir, 'restart after a SIGKILL')).release();
  } finally {
    outer.kill('SIGKILL');
  }
});

test('the embedded database holds the lock while open; release on destroy lets the next process in', async () => {
  const dir = await freshDir();
  const first = await openDatabase({ dataDir: dir, logger: quietLogger(), command: 'the first' });
  try {
    await assert.rejects(openDatabase({ dataDir: dir, logger: quietLogger(), command: 'the second' }), /in use by the first/);
    await first.advertise('http://127.0.0.1:1234');
    assert.equal((await dataDirHolder(dir))?.url, 'http://127.0.0.1:1234');
  } finally {
    await first.destroy();
  }
  // (Not a second PGlite on the same directory in this process: PGlite then keeps the process alive.)
  await assert.rejects(fs.stat(path.join(dir, LOCK_FILE)), 'destroy released the lock');
  await (await acquireDataDirLock(dir, 'the second')).release();
  // In memory there is nothing to share and nothing to lock.
  const a = await openDatabase({ dataDir: 'memory://', logger: quietLogger() });
  const b = await openDatabase({ dataDir: 'memory://', logger: quietLogger() });
  await Promise.all([a.destroy(), b.destroy()]);
});
