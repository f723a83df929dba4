/**
 * The README's model flow, run as a user runs it: `npm run build` (once per test run: helpers/build.ts),
 * `npm start`, then `npm run model:import`, `npm run train`, `npm run model:export` and `npm run migrate`
 * beside the running service, the imported head activated through the API, a restart, and everything
 * still there. On the embedded database the CLIs go through the server's admin API (the server holds the
 * data directory: a second process opening it would not see the server's writes and could corrupt it);
 * on PostgreSQL they connect themselves. A CLI with nowhere safe to go refuses with a message that says
 * what to do.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LOCK_FILE } from '../../src/db/data-dir-lock.js';
import { ensureBuilt } from '../helpers/build.js';
import { testDatabases } from '../helpers/db.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';
import { npm, serviceDir } from '../helpers/service-dir.js';
import { waitFor } from '../helpers/wait.js';
import { REPO } from '../helpers/repo.js';

const KEY = 'readme-flow-admin-key-0123456789abcdef';
const LABEL_MAP = 'toxic: harassment\nsevere_toxic: harassment\ninsult: harassment\nthreat: violence\nidentity_hate: hate\nobscene: null\n';

interface Service {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** `npm start`, resolved once it logged `listening`. */
async function npmStart(env: Record<string, string>): Promise<Service> {
  const child = spawn('npm', ['start'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not listen within 90 s:\n${out.slice(-3000)}`)), 90_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /"port":(\d+)[^\n]*"msg":"listening"|"msg":"listening"[^\n]*"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1] ?? m[2]));
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code} before listening:\n${out.slice(-3000)}`));
    });
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => out, exited };
}

/**
 * SIGTERM to npm and the service under it (npm start runs in its own process group here, as in a
 * terminal), then waits until every process of the group is gone: npm may exit before the service has
 * finished shutting down.
 */
async function stop(s: Service): Promise<void> {
  const group = -s.child.pid!;
  try {
    process.kill(group, 'SIGTERM');
  } catch {
    return; // already gone
  }
  await s.exited;
  const gone = () => {
    try {
      process.kill(group, 0);
      return false;
    } catch {
      return true;
    }
  };
  await waitFor(gone, 'every process of the group to exit after SIGTERM', 30_000).catch((err: Error) => {
    throw new Error(`${err.message}:\n${s.output().slice(-3000)}`);
  });
}

async function api<T = any>(s: Service, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${s.url}${p}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

function procStart(): string {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

for (const kind of testDatabases()) {
  describe(`the README's model flow beside a running service (${kind.name})`, { skip: kind.skip }, () => {
    let dir: string;
    let env: Record<string, string>;
    let scratch: ScratchDatabase | null = null;
    let labelMap: string;
    const embedded = kind.name === 'pglite';

    before(async () => {
      await ensureBuilt();
      // MODEL_DIR inside a models directory of this test's own: imports land next to it, as in the README.
      const s = await serviceDir('readme', { key: KEY, labelMap: LABEL_MAP });
      dir = s.dir;
      labelMap = s.labelMap;
      if (!embedded) scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL!, 'readme');
      env = s.env({ DATABASE_URL: scratch?.url, BATCH_CALIBRATE: undefined });
    });
    after(async () => {
      await scratch?.drop();
      await fs.rm(dir, { recursive: true, force: true });
    });

    test('import, activate, train, export and migrate beside the service; all of it survives a restart', async () => {
      let service = await npmStart(env);
      try {
        if (embedded) {
          const lock = JSON.parse(await fs.readFile(path.join(dir, 'data', LOCK_FILE), 'utf8'));
          assert.equal(lock.url, service.url, 'the server says where it listens');
        }

        // npm run model:import -- <export> --name … --label-map …
        const bert = await fixtureModelDir('bert');
        const imported = await npm(['run', 'model:import', '--', bert, '--name', 'byo-bert', '--label-map', labelMap], env);
        assert.equal(imported.code, 0, imported.stderr);
        assert.match(imported.stdout, /registered backbone [0-9a-f-]+ \('byo-bert'\), base head ([0-9a-f-]+) \(v1\)/);
        if (embedded) assert.match(imported.stdout, new RegExp(`registering it through ${service.url.replace(/\./g, '\\.')}`));
        const headId = /base head ([0-9a-f-]+) \(v1\)/.exec(imported.stdout)![1];
        // On PostgreSQL the CLI does not know where the service listens: it names the configured address.
        assert.match(imported.stdout, new RegExp(`activate it with: curl .*${embedded ? service.url.replace(/\./g, '\\.') : ''}/v1/models/${headId}/activate`));

        // The service sees it at once, and activates it.
        const heads = await api(service, 'GET', '/v1/models');
        assert.ok(heads.body.data.some((h: { id: string }) => h.id === headId), 'the running service sees the import');
        const activated = await api(service, 'POST', `/v1/models/${headId}/activate`, { reason: 'README flow' });
        assert.equal(activated.status, 200, JSON.stringify(activated.body));
        const scored = await api(service, 'POST', '/v1/moderate', { input: ['have a nice day'] });
        assert.equal(scored.status, 200);
        assert.match(scored.body.model, /byo-bert/);

        // npm run train: no labels yet, so the run is skipped, and says so; the service lists it.
        const trained = await npm(['run', 'train'], env);
        assert.equal(trained.code, 0, trained.stderr);
        const runId = /training run ([0-9a-f-]{36})/.exec(trained.stdout)?.[1];
        assert.ok(runId, trained.stdout);
        assert.match(trained.stdout, /outcome: skipped/);
        if (embedded) assert.match(trained.stdout, /starting the run through/);
        const runs = await api(service, 'GET', '/v1/training/runs');
        assert.ok(runs.body.data.some((r: { id: string }) => r.id === runId), 'the running service lists the run');

        // npm run model:export -- <head> <dir>
        const out = path.join(dir, 'exported');
        const exported = await npm(['run', 'model:export', '--', headId, out], env);
        assert.equal(exported.code, 0, exported.stderr);
        assert.ok((await fs.stat(path.join(out, 'model.onnx'))).size > 0);

        // npm run migrate: the server migrated at start; beside it on the embedded database this refuses.
        const migrated = await npm(['run', 'migrate'], env);
        if (embedded) {
          assert.equal(migrated.code, 1);
          assert.match(migrated.stderr, /in use by the modtune server .*restart it to apply new ones/s);
        } else {
          assert.equal(migrated.code, 0, migrated.stderr);
          assert.match(migrated.stdout, /is up to date/);
        }

        if (embedded) {
          // Without the admin key a CLI cannot use the server, and will not open the files: it says what to do.
          const { MODTUNE_ADMIN_KEY: _, ...noKey } = env;
          const refused = await npm(['run', 'train'], noKey);
          assert.equal(refused.code, 1);
          assert.match(refused.stderr, /holds the embedded database .* set MODTUNE_ADMIN_KEY/s);
        }

        await stop(service);
        service = await npmStart(env);
        const models = await api(service, 'GET', '/v1/models');
        const active = models.body.data.find((h: { active: boolean }) => h.active);
        assert.equal(active.id, headId, 'the imported head is still active after a restart');
        assert.ok((await api(service, 'GET', '/v1/training/runs')).body.data.some((r: { id: string }) => r.id === runId), 'the run survived the restart');
      } finally {
        await stop(service);
      }
      if (embedded) {
        await assert.rejects(fs.stat(path.join(dir, 'data', LOCK_FILE)), 'a clean shutdown releases the lock');
        // With no server, a CLI opens the database itself (and holds the lock while it does).
        const direct = await npm(['run', 'train', '--', '--force'], env);
        assert.equal(direct.code, 0, direct.stderr);
        assert.doesNotMatch(direct.stdout, /through http/);
        assert.match(direct.stdout, /outcome: skipped/);
      }
    });

    test('a server does not open an embedded database another live process holds', { skip: !embedded && 'the lock guards the embedded database only' }, async () => {
      const lockPath = path.join(dir, 'data', LOCK_FILE);
      const holder = { pid: process.pid, hostname: os.hostname(), start: procStart(), command: 'npm run train', url: null, since: new Date().toISOString() };
      await fs.writeFile(lockPath, JSON.stringify(holder));
      try {
        const refused = await npm(['start'], env);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, new RegExp(`in use by npm run train \\(pid ${process.pid}, since .*delete ${lockPath.replace(/[.]/g, '\\.')}`));
      } finally {
        await fs.rm(lockPath, { force: true });
      }
    });
  });
}
