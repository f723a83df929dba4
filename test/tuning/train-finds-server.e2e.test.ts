/**
 * `npm run train` on a DATA_DIR without a database, while the service runs on another one: it names the
 * running server's URL and data directory (from the server's registration, server-registry.ts) instead
 * of creating a database; the registration goes when the server stops, and one left by a server killed
 * with SIGKILL is judged dead by its pid and removed. The compiled build, as `npm start` and `npm run train` run it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { seedEmbeddedDatabase } from '../helpers/db.js';
import { baseEnv, runNode, startService } from '../helpers/process.js';
import { tinyModelDir } from '../helpers/tiny-model.js';
import { NO_CALIBRATION } from '../helpers/service-dir.js';

let root: string;
let runtimeDir: string;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-train-finds-'));
  // This test's own registry, so that servers running elsewhere on the machine do not show up in it.
  runtimeDir = path.join(root, 'run');
  await fs.mkdir(runtimeDir, { mode: 0o700 });
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const registrations = async () => (await fs.readdir(path.join(runtimeDir, 'modtune')).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));

/** The service on `dataDir`, a migrated copy of the embedded database (this test is about the CLI, not a first start). */
const startServer = async (dataDir: string) => {
  await seedEmbeddedDatabase(dataDir);
  return startService(
    baseEnv({
      DATA_DIR: dataDir,
      XDG_RUNTIME_DIR: runtimeDir,
      MODEL_DIR: await tinyModelDir(),
      MODEL_AUTO_BUILD: 'false',
      PORT: '0',
      INFERENCE_WORKERS: '1',
      ...NO_CALIBRATION,
      ORT_THREADS: '1',
    }),
  );
};

/** `npm run train` on an empty DATA_DIR of its own. */
async function trainOnEmptyDir(name: string): Promise<{ code: number | null; stderr: string; dir: string }> {
  const dir = path.join(root, name);
  await fs.mkdir(dir);
  const train = runNode(['dist/cli/train.js'], { DATA_DIR: dir, XDG_RUNTIME_DIR: runtimeDir });
  const code = await train.exited;
  return { code, stderr: train.stderr(), dir };
}

test('npm run train on an empty DATA_DIR beside a running server names its URL and directory; its registration goes when it stops', async () => {
  const dataDir = path.join(root, 'served');
  const service = await startServer(dataDir);
  let train;
  try {
    train = await trainOnEmptyDir('empty');
  } finally {
    await service.stop('SIGTERM');
  }
  assert.equal(train.code, 1, train.stderr);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  assert.match(
    train.stderr,
    new RegExp(
      `^modtune train: there is no database in ${escape(train.dir)} \\(DATA_DIR\\)\\. A modtune server is running on this machine .*\\n` +
        `  ${escape(service.baseUrl)} \\(pid ${service.pid}\\), database in ${escape(dataDir)}:\\n` +
        `    DATA_DIR=${escape(dataDir)} MODTUNE_ADMIN_KEY=<its admin key> npm run train\\n`,
    ),
  );
  assert.deepEqual(await fs.readdir(train.dir), [], 'train created nothing in the empty DATA_DIR');
  assert.deepEqual(await registrations(), [], 'the stopped server removed its registration');
});

test('a server killed with SIGKILL leaves its registration behind: train does not list it, and removes it', async () => {
  const service = await startServer(path.join(root, 'killed'));
  assert.equal((await registrations()).length, 1, 'the server registered itself');
  await service.stop('SIGKILL');
  assert.equal((await registrations()).length, 1, 'a killed server cannot remove its registration');
  const train = await trainOnEmptyDir('empty-after-kill');
  assert.equal(train.code, 1);
  assert.match(train.stderr, /^modtune train: there is no database in .* \(DATA_DIR\): start the service first/);
  assert.deepEqual(await registrations(), [], 'the dead registration was removed');
});
