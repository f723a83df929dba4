/**
 * Databases for tests: PGlite always (started from a migrated template cached on disk, since a fresh
 * PGlite takes seconds to initialise), and PostgreSQL when TEST_DATABASE_URL is set (copied from a
 * migrated template database on the server), each suite in a database of its own that is dropped afterwards.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { Kysely } from 'kysely';
import { openDatabase, type Database } from '../../src/db/connect.js';
import { PGliteDialect } from '../../src/db/pglite-dialect.js';
import { MIGRATIONS_DIR, migrateToLatest } from '../../src/db/migrator.js';
import { quietLogger } from './logger.js';
import { admin, createScratchDatabase } from './scratch-database.js';

export { quietLogger };

export interface TestDatabaseKind {
  name: 'pglite' | 'postgres';
  /** A fresh, empty (unmigrated) database. */
  empty(): Promise<Database>;
  /** A fresh database with every migration applied. */
  migrated(): Promise<Database>;
}

async function migrationsHash(): Promise<string> {
  const h = createHash('sha256');
  for (const f of (await fs.readdir(MIGRATIONS_DIR)).sort()) h.update(f).update(await fs.readFile(path.join(MIGRATIONS_DIR, f)));
  return h.digest('hex').slice(0, 16);
}

let templateFile: Promise<string> | null = null;

/** A dump (a tar) of a migrated PGlite data directory, built once and cached under the OS temp dir. */
function pgliteTemplateFile(): Promise<string> {
  templateFile ??= (async () => {
    const dir = path.join(os.tmpdir(), 'modtune-test-pglite');
    const file = path.join(dir, `${await migrationsHash()}.tar`);
    try {
      await fs.access(file);
    } catch {
      const pgl = await PGlite.create();
      const db = new Kysely<any>({ dialect: new PGliteDialect(pgl) });
      await migrateToLatest(db);
      const blob = (await pgl.dumpDataDir('none')) as Blob;
      await db.destroy();
      await fs.mkdir(dir, { recursive: true });
      const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
      await fs.writeFile(tmp, Buffer.from(await blob.arrayBuffer()));
      await fs.rename(tmp, file);
    }
    return file;
  })();
  return templateFile;
}

let templateBlob: Promise<Blob> | null = null;

function pgliteTemplate(): Promise<Blob> {
  templateBlob ??= pgliteTemplateFile().then(async (file) => new Blob([await fs.readFile(file)]));
  return templateBlob;
}

/**
 * Gives a service process's DATA_DIR a migrated embedded database copied from the template, so the process
 * opens it as a restart would instead of creating the cluster, reopening it and migrating it (seconds of
 * CPU a start). For tests of something other than the first start:
 * that one is tested as a user meets it (test/app/process.e2e.test.ts, the README flow, the compiled build).
 */
export async function seedEmbeddedDatabase(dataDir: string): Promise<void> {
  const target = path.join(dataDir, 'pglite');
  await fs.mkdir(target, { recursive: true });
  if ((await fs.readdir(target)).length > 0) throw new Error(`${target} is not empty: seeding would overwrite a database`);
  // GNU tar drops the members' leading '/' and says so on stderr.
  await promisify(execFile)('tar', ['-xf', await pgliteTemplateFile(), '-C', target]);
}

/**
 * In-process tests run PGlite on the test's own thread: a database thread costs each open about a second
 * more (it compiles PGlite's WebAssembly again), and the small, controller and medium tests open about fifty
 * (52 on 7eda9be). The thread itself is tested in test/db/pglite-thread.medium.test.ts, and every test that
 * starts the real service process runs on it.
 */
const pglite: TestDatabaseKind = {
  name: 'pglite',
  empty: () => openDatabase({ dataDir: 'memory://', logger: quietLogger(), embeddedThread: 'main' }),
  migrated: async () => openDatabase({ dataDir: 'memory://', loadDataDir: await pgliteTemplate(), logger: quietLogger(), embeddedThread: 'main' }),
};

/** The advisory lock (on the server's maintenance database) under which a template is built. */
const TEMPLATE_LOCK = 0x6d74_7470; // "mttp"

const pgTemplates = new Map<string, Promise<string>>();

/**
 * A migrated database on the PostgreSQL server at `url` to copy suites' databases from (immich's test kit
 * does the same): named by the migrations' hash, built once by whichever test process asks first (under an
 * advisory lock, under a temporary name renamed when complete, so a half-built one is never copied), and
 * kept for the next run. A template left by older migrations stays until dropped by hand.
 */
function pgTemplate(url: string): Promise<string> {
  let t = pgTemplates.get(url);
  if (!t) {
    t = (async () => {
      const name = `modtune_tpl_${await migrationsHash()}`;
      await admin(url, async (c) => {
        await c.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK]);
        try {
          if ((await c.query('select 1 from pg_database where datname = $1', [name])).rowCount) return;
          const building = await createScratchDatabase(url, 'modtune_tpl_building');
          const d = await openDatabase({ url: building.url, dataDir: 'unused', poolSize: 2, logger: quietLogger() });
          try {
            await migrateToLatest(d.db);
          } finally {
            await d.destroy();
          }
          await c.query(`alter database ${building.name} rename to ${name}`);
        } finally {
          await c.query('select pg_advisory_unlock($1)', [TEMPLATE_LOCK]);
        }
      });
      return name;
    })();
    pgTemplates.set(url, t);
  }
  return t;
}

function postgres(url: string): TestDatabaseKind {
  const create = async (template?: string): Promise<Database> => {
    const scratch = await createScratchDatabase(url, 'modtune_test', template);
    const database = await openDatabase({ url: scratch.url, dataDir: 'unused', poolSize: 20, logger: quietLogger() });
    const destroy = database.destroy;
    database.destroy = async () => {
      await destroy();
      await scratch.drop();
    };
    return database;
  };
  return {
    name: 'postgres',
    empty: () => create(),
    migrated: async () => create(await pgTemplate(url)),
  };
}

/**
 * PGlite, and PostgreSQL when TEST_DATABASE_URL is set (CI sets it). Without it the PostgreSQL entry
 * carries a skip reason, so `describe(kind.name, { skip: kind.skip }, ...)` reports what was not run.
 */
export function testDatabases(): (TestDatabaseKind & { skip: string | false })[] {
  const url = process.env.TEST_DATABASE_URL;
  const skipped: TestDatabaseKind = {
    name: 'postgres',
    empty: () => Promise.reject(new Error('TEST_DATABASE_URL is not set')),
    migrated: () => Promise.reject(new Error('TEST_DATABASE_URL is not set')),
  };
  return [
    { ...pglite, skip: false },
    url ? { ...postgres(url), skip: false } : { ...skipped, skip: 'TEST_DATABASE_URL is not set: PostgreSQL part skipped' },
  ];
}

/**
 * A database for the describe block this is called in: a fresh one of `kind` (`empty`, or `migrated` to
 * the latest) opened in before() and destroyed in after(). Call the result in a test for the database.
 */
export function suiteDatabase(kind: TestDatabaseKind, state: 'empty' | 'migrated'): () => Database {
  let database: Database | undefined;
  before(async () => {
    database = await kind[state]();
  });
  after(async () => {
    await database?.destroy();
  });
  return () => {
    if (!database) throw new Error('suiteDatabase: read in a test, after before() opened it');
    return database;
  };
}

/**
 * The rows a decision hangs on, for migration tests seeding a database at an older schema (every
 * migration since 0004 keeps these columns): policy p@v, a 2-dimensional backbone and its active head.
 * From 0018 on, a policy version records its categories: give them.
 */
export async function seedPolicyAndHead(db: Kysely<any>, o: { categories?: string[] } = {}): Promise<{ backbone: string; head: string }> {
  const backbone = crypto.randomUUID();
  const head = crypto.randomUUID();
  await db.insertInto('policy_versions').values({ name: 'p', version: 'v', source: '', ...(o.categories ? { categories: o.categories } : {}) }).execute();
  await db
    .insertInto('backbones')
    .values({ id: backbone, name: 'b', sha256: crypto.randomUUID(), path: '/m', feature_dim: 2, labels: '["a"]', problem_type: 'multi_label', config: '{}' })
    .execute();
  await db
    .insertInto('head_versions')
    .values({ id: head, backbone_id: backbone, version: 1, status: 'active', source: 't', num_labels: 1, feature_dim: 2, weight: new Uint8Array(8), bias: new Uint8Array(4) })
    .execute();
  return { backbone, head };
}
