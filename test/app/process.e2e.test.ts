/**
 * The real process, as `npm start` runs it (`node dist/main.js`, the compiled build): embedded PGlite on disk, first admin key printed once,
 * clean shutdown on SIGTERM, and start-up refusals with messages that say what to fix.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt } from '../helpers/build.js';
import { runNode, waitFor, type Running } from '../helpers/process.js';
import { tinyServiceEnv } from '../helpers/service-dir.js';

const run = (env: Record<string, string>): Running => runNode(['dist/main.js'], env);

function listeningPort(stdout: string): number | null {
  for (const line of stdout.split('\n')) {
    if (!line.includes('"listening"')) continue;
    return (JSON.parse(line) as { port: number }).port;
  }
  return null;
}

describe('the service process', () => {
  let dataDir: string;
  let env: Record<string, string>;
  before(async () => {
    await ensureBuilt();
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-e2e-'));
    env = await tinyServiceEnv(dataDir, undefined, { BATCH_CALIBRATE: undefined });
  });
  after(async () => {
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  test('first start prints an admin key once, serves, and shuts down cleanly; a restart keeps the data', async () => {
    const first = run(env);
    await waitFor(() => listeningPort(first.stdout()) !== null || first.child.exitCode !== null, 'the server to listen', 60_000);
    const port = listeningPort(first.stdout());
    assert.ok(port, `did not start:\n${first.stderr()}`);
    const key = /^\s+(mt_[A-Za-z0-9_-]{43})$/m.exec(first.stderr())?.[1];
    assert.ok(key, `no admin key on stderr:\n${first.stderr()}`);
    assert.ok(!first.stdout().includes(key), 'the key is not in the JSON logs');

    const res = await fetch(`http://127.0.0.1:${port}/v1/moderate`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ input: 'I will find you and kill you' }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { results: { decision_id: string }[] };
    assert.ok(!first.stdout().includes('kill you'), 'moderated text is not logged');

    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);
    assert.match(first.stdout(), /shut down cleanly/);

    const second = run(env);
    await waitFor(() => listeningPort(second.stdout()) !== null || second.child.exitCode !== null, 'the restart to listen', 60_000);
    const port2 = listeningPort(second.stdout());
    assert.ok(port2, `restart failed:\n${second.stderr()}`);
    assert.ok(!/mt_[A-Za-z0-9_-]{43}/.test(second.stderr()), 'no new admin key on a restart');
    const got = await fetch(`http://127.0.0.1:${port2}/v1/decisions/${body.results[0].decision_id}`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    assert.equal(got.status, 200, 'the decision survived the restart');
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });

  test('bad configuration exits 2 naming every bad variable', async () => {
    const p = run({ ...env, PORT: 'http', EXECUTION_PROVIDERS: 'tpu' });
    assert.equal(await p.exited, 2);
    assert.match(p.stderr(), /PORT: /);
    assert.match(p.stderr(), /EXECUTION_PROVIDERS: /);
  });

  test('an invalid policy stops start-up with the file, the field and the reason', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-badpol-'));
    await fs.copyFile('policies/default.yaml', path.join(dir, 'default.yaml'));
    await fs.writeFile(path.join(dir, 'strict.yaml'), 'categories:\n  violence: { flag: 0.7, block: 0.2 }\n');
    const p = run({ ...env, POLICY_DIR: dir, DATA_DIR: path.join(dataDir, 'other') });
    assert.equal(await p.exited, 1);
    assert.match(p.stderr(), /strict\.yaml: categories\.violence\.block: block threshold must be at least the flag threshold/);
    await assert.rejects(fs.stat(path.join(dataDir, 'other')), 'refused before the embedded database was created');
  });
});
