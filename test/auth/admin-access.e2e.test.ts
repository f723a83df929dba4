/**
 * Getting in, as a new user meets it: the first start fails on a busy port after generating (and
 * printing) the admin key; the next start, on a free port, says how to get in; `npm run admin-key`
 * refuses beside the running server, and with the server stopped mints a new admin key (audited) that
 * then works.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { openDatabase } from '../../src/db/connect.js';
import { ensureBuilt } from '../helpers/build.js';
import { quietLogger } from '../helpers/db.js';
import { baseEnv, startService } from '../helpers/process.js';
import { tinyModelDir } from '../helpers/tiny-model.js';
import { REPO } from '../helpers/repo.js';
import { NO_CALIBRATION } from '../helpers/service-dir.js';

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

let dir: string;
let busy: net.Server;
before(async () => {
  await ensureBuilt();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-admin-access-'));
  busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
});
after(async () => {
  await new Promise((r) => busy.close(r));
  await fs.rm(dir, { recursive: true, force: true });
});

test('a first start on a busy port, then a free one: every start says how to get in; admin-key recovers access', async () => {
  const modelDir = await tinyModelDir();
  const env = (extra: Record<string, string> = {}) =>
    baseEnv({ DATA_DIR: path.join(dir, 'data'), MODEL_DIR: modelDir, MODEL_AUTO_BUILD: 'false', INFERENCE_WORKERS: '1', ORT_THREADS: '1', LOG_LEVEL: 'info', ...NO_CALIBRATION, ...extra });

  // 1. The port is taken: the key is generated and printed, then the start fails.
  const first = await run(['dist/main.js'], env({ PORT: String((busy.address() as net.AddressInfo).port) }));
  assert.notEqual(first.code, 0);
  assert.match(first.stderr + first.stdout, /EADDRINUSE/);
  assert.match(first.stderr, /mt_[A-Za-z0-9_-]{20,}/, 'the generated key was printed (and is easy to miss in a failed start)');

  // 2. A free port: no new key, but the log says how to get in.
  const second = await startService(env({ PORT: '0' }));
  try {
    assert.match(second.tail(), /admin access: an admin key printed at the first start or made since \(1 usable\); lost them all\? stop the service and run `npm run admin-key`/);
    // Beside the running server the recovery command refuses, and says what to do.
    const refused = await run(['--import', './scripts/check-build.mjs', 'dist/cli/admin-key.js'], env());
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /in use by the modtune server .*stop the server, run this again/s);
    assert.equal(refused.stdout, '', 'no key printed');
  } finally {
    await second.stop('SIGTERM');
  }

  // 3. Stopped: admin-key mints one, printed once on stdout.
  const minted = await run(['--import', './scripts/check-build.mjs', 'dist/cli/admin-key.js', '--name', 'ops on call'], env());
  assert.equal(minted.code, 0, minted.stderr);
  const key = minted.stdout.trim();
  assert.match(key, /^mt_[A-Za-z0-9_-]{20,}$/);
  assert.match(minted.stderr, /minted admin key [0-9a-f-]+ \('ops on call'\)/);

  // 4. It works, and the recovery is in the audit log.
  const third = await startService(env({ PORT: '0' }));
  try {
    assert.match(third.tail(), /\(2 usable\)/);
    const res = await fetch(`${third.baseUrl}/v1/admin/api-keys`, { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(res.status, 200);
    const names = ((await res.json()) as { data: { name: string; role: string }[] }).data.filter((k) => k.role === 'admin').map((k) => k.name);
    assert.deepEqual(names.sort(), ['first admin (generated)', 'ops on call']);
  } finally {
    await third.stop('SIGTERM');
  }
  const database = await openDatabase({ dataDir: path.join(dir, 'data'), logger: quietLogger(), command: 'test' });
  try {
    const audit = await database.db.selectFrom('audit_events').select(['action', 'actor']).where('action', '=', 'api_key.recovered').execute();
    assert.equal(audit.length, 1);
    assert.match(audit[0].actor, /^npm run admin-key \(.+@.+\)$/);
  } finally {
    await database.destroy();
  }
});
