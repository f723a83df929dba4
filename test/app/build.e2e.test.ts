/**
 * The compiled build (`npm run build` → dist/, what `npm start`, the CLIs and the image run): it runs
 * without the TypeScript sources beside it (as in the image) — worker threads start from their .js
 * files, the pages' bundles and HTML come from dist/ — and it records the same migration names as the
 * tsx run, so either one takes over a database the other migrated. Without a build, the npm scripts say
 * to make one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { bundleFromSources } from '../../src/http/pages/bundle.js';
import { ensureBuilt } from '../helpers/build.js';
import { quietLogger } from '../helpers/db.js';
import { baseEnv, startService } from '../helpers/process.js';
import { createScratchDatabase, serverDatabaseKinds, type ScratchDatabase } from '../helpers/scratch-database.js';
import { tinyModelDir } from '../helpers/tiny-model.js';
import { REPO } from '../helpers/repo.js';

const KEY = 'build-test-admin-key-0123456789abcdef';

function node(args: string[], opts: { env: Record<string, string>; cwd?: string }): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, args, { cwd: opts.cwd ?? REPO, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

async function jsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await jsFiles(p)));
    else if (e.name.endsWith('.js')) out.push(p);
  }
  return out;
}

before(() => ensureBuilt());

describe('the compiled build without its sources', () => {
  let app: string;
  before(async () => {
    // What the image keeps: dist/, package.json, policies/ and node_modules; no src/, no migrations/*.ts.
    app = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-dist-'));
    await fs.cp(path.join(REPO, 'dist'), path.join(app, 'dist'), { recursive: true });
    await fs.cp(path.join(REPO, 'policies'), path.join(app, 'policies'), { recursive: true });
    await fs.copyFile(path.join(REPO, 'package.json'), path.join(app, 'package.json'));
    await fs.symlink(path.join(REPO, 'node_modules'), path.join(app, 'node_modules'));
  });
  after(() => fs.rm(app, { recursive: true, force: true }));

  test('every file the compiled code names by path is there', async () => {
    const named: string[] = [];
    for (const file of await jsFiles(path.join(app, 'dist'))) {
      const js = await fs.readFile(file, 'utf8');
      for (const m of js.matchAll(/new URL\(\s*(["'])([^"'`]+)\1\s*,\s*import\.meta\.url\s*\)/g)) {
        if (m[2] === './worker-boot.mjs') continue; // build-layout.ts names it for the tsx run only
        const target = path.resolve(path.dirname(file), m[2]);
        named.push(path.relative(app, target));
        await assert.doesNotReject(fs.stat(target), `${path.relative(app, file)} names ${m[2]}, which the build does not have`);
      }
    }
    for (const worker of ['dist/inference/worker.js', 'dist/db/pglite-worker.js', 'dist/tuning/train-worker.js']) assert.ok(named.includes(worker), `${worker} is named (${named.join(', ')})`);
    assert.deepEqual((await fs.readdir(path.join(app, 'dist'))).filter((f) => f.endsWith('.mjs')), [], 'no tsx boot shim in dist/');
  });

  test('starts on the embedded database, scores in its worker thread, serves the pages, and shuts down cleanly', async () => {
    const service = await startService(
      baseEnv({
        DATA_DIR: path.join(app, 'data'),
        MODEL_DIR: await tinyModelDir(),
        MODEL_AUTO_BUILD: 'false',
        PORT: '0',
        INFERENCE_WORKERS: '1',
        ORT_THREADS: '1',
        BATCH_CALIBRATE: 'false',
        MODTUNE_ADMIN_KEY: KEY,
      }),
      { cwd: app, timeoutMs: 90_000 },
    );
    try {
      const ready = await fetch(`${service.baseUrl}/readyz`);
      const body = (await ready.json()) as { database: { kind: string; ok: boolean }; model: { loaded: boolean } };
      assert.equal(ready.status, 200, JSON.stringify(body));
      assert.deepEqual([body.database.kind, body.database.ok, body.model.loaded], ['pglite', true, true]);

      const scored = await fetch(`${service.baseUrl}/v1/moderate`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: 'I will find you and kill you' }),
      });
      assert.equal(scored.status, 200, await scored.clone().text());
      assert.equal(((await scored.json()) as { results: { flagged: boolean }[] }).results[0].flagged, true);

      const fromSources = await bundleFromSources();
      for (const [url, js] of fromSources) {
        const res = await fetch(`${service.baseUrl}${url}`);
        assert.equal(res.status, 200, url);
        assert.match(res.headers.get('content-type') ?? '', /javascript/);
        assert.equal(await res.text(), js, `${url} is the bundle the tsx run builds`);
      }
      for (const page of ['/review/', '/dashboard/']) {
        const res = await fetch(`${service.baseUrl}${page}`);
        assert.equal(res.status, 200, page);
        assert.match(await res.text(), /<script[^>]+src=/);
      }
    } finally {
      assert.deepEqual(await service.stop(), { code: 0, signal: null }, service.tail());
    }
  });
});

for (const kind of serverDatabaseKinds()) {
  describe(`migration names under tsx and compiled are the same (${kind.name})`, { skip: kind.skip }, () => {
    const expected = async () =>
      (await fs.readdir(path.join(REPO, 'migrations')))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => f.slice(0, -'.ts'.length))
        .sort();
    const dirs: string[] = [];
    const scratches: ScratchDatabase[] = [];
    after(async () => {
      for (const s of scratches) await s.drop();
      for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
    });

    /** A fresh database: how the test process opens it and the environment a CLI finds it with. */
    async function fresh(): Promise<{ open: () => Promise<Database>; env: Record<string, string> }> {
      if (kind.url) {
        const scratch = await createScratchDatabase(kind.url, 'modtune_build');
        scratches.push(scratch);
        return { open: () => openDatabase({ url: scratch.url, dataDir: 'unused', logger: quietLogger() }), env: baseEnv({ DATABASE_URL: scratch.url }) };
      }
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-build-db-'));
      dirs.push(dir);
      return { open: () => openDatabase({ dataDir: dir, logger: quietLogger(), embeddedThread: 'main', command: 'build test' }), env: baseEnv({ DATA_DIR: dir }) };
    }

    async function recorded(open: () => Promise<Database>): Promise<{ applied: string[]; names: string[] }> {
      const database = await open();
      try {
        const applied = await migrateToLatest(database.db);
        const rows = await database.db.selectFrom('kysely_migration' as never).select('name' as never).orderBy('name' as never).execute();
        return { applied, names: rows.map((r) => (r as { name: string }).name) };
      } finally {
        await database.destroy();
      }
    }

    test('a database migrated under tsx is up to date for the compiled migrate', async () => {
      const db = await fresh();
      const dev = await recorded(db.open);
      assert.deepEqual(dev.applied, await expected());
      const compiled = await node(['dist/cli/migrate.js'], { env: db.env });
      assert.equal(compiled.code, 0, compiled.stderr);
      assert.match(compiled.stdout, /is up to date/);
    });

    test('a database the compiled migrate migrated is up to date under tsx, with the same names', async () => {
      const db = await fresh();
      const compiled = await node(['dist/cli/migrate.js'], { env: db.env });
      assert.equal(compiled.code, 0, compiled.stderr);
      assert.match(compiled.stdout, new RegExp(`applied ${(await expected()).length} migration\\(s\\)`));
      const dev = await recorded(db.open);
      assert.deepEqual(dev.applied, []);
      assert.deepEqual(dev.names, await expected());
    });
  });
}

describe('check-build.mjs, which npm start and the CLIs preload', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-nobuild-'));
    await fs.mkdir(path.join(dir, 'scripts'));
    await fs.copyFile(path.join(REPO, 'scripts', 'check-build.mjs'), path.join(dir, 'scripts', 'check-build.mjs'));
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));
  const run = () => node(['--import', './scripts/check-build.mjs', 'dist/main.js'], { cwd: dir, env: baseEnv({}) });

  test('without a build: says to run npm run build, no stack trace', async () => {
    const r = await run();
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^modtune: there is no build in dist\/: run `npm run build` first/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('with a build older than a source: runs it, and warns', async () => {
    await fs.mkdir(path.join(dir, 'dist'));
    await fs.writeFile(path.join(dir, 'dist', 'main.js'), "process.stdout.write('ran');\n");
    await fs.writeFile(path.join(dir, 'dist', '.built'), '');
    const old = new Date(Date.now() - 60_000);
    await fs.utimes(path.join(dir, 'dist', '.built'), old, old);
    const fresh = await run();
    assert.deepEqual([fresh.code, fresh.stdout, fresh.stderr], [0, 'ran', '']);
    await fs.mkdir(path.join(dir, 'src', 'db'), { recursive: true });
    await fs.writeFile(path.join(dir, 'src', 'db', 'changed.ts'), '');
    const stale = await run();
    assert.deepEqual([stale.code, stale.stdout], [0, 'ran']);
    assert.match(stale.stderr, /warning: dist\/ is older than src\/db\/changed\.ts: run `npm run build`/);
  });
});
