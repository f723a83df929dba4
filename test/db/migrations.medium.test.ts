import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sql } from 'kysely';
import type { Database } from '../../src/db/connect.js';
import fs from 'node:fs';
import { MIGRATIONS_DIR, migrateDownAll, migrateTo, migrateToLatest } from '../../src/db/migrator.js';
import { suiteDatabase, testDatabases } from '../helpers/db.js';

const TABLES = [
  'api_keys',
  'audit_events',
  'backbones',
  'content_items',
  'decisions',
  'deployment_secrets',
  'head_activations',
  'head_versions',
  'idempotency_keys',
  'item_features',
  'item_scores',
  'item_splits',
  'label_holds',
  'policy_versions',
  'review_labels',
  'review_tasks',
  'reviews',
  'shadow_stats',
  'subject_comments',
  'training_runs',
];
const MIGRATIONS = fs
  .readdirSync(MIGRATIONS_DIR)
  .filter((f) => /\.(ts|js)$/.test(f)) // .ts under tsx, .js in dist/migrations (npm test runs the build)
  .map((f) => f.replace(/\.(ts|js)$/, ''))
  .sort();

/** Whether kysely's migration lock table exists: its migrator makes it whenever it runs. */
async function lockTable(d: Database): Promise<boolean> {
  return (await sql<{ present: boolean }>`select to_regclass('kysely_migration_lock') is not null as present`.execute(d.db)).rows[0].present;
}

async function tables(d: Database): Promise<string[]> {
  const r = await sql<{ table_name: string }>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_name not like 'kysely_%' order by table_name`.execute(d.db);
  return r.rows.map((x) => x.table_name);
}

for (const kind of testDatabases()) {
  describe(`migrations on ${kind.name}`, { skip: kind.skip }, () => {
    const database = suiteDatabase(kind, 'empty');

    test('up creates every table, is idempotent, down removes them, up again works', async () => {
      const d = database();
      assert.deepEqual(await tables(d), []);
      assert.deepEqual(await migrateToLatest(d.db), MIGRATIONS);
      assert.ok(MIGRATIONS.length >= 2);
      assert.deepEqual(await tables(d), TABLES);
      assert.deepEqual(await migrateToLatest(d.db), [], 'a second run applies nothing');
      assert.deepEqual(await migrateDownAll(d.db), [...MIGRATIONS].reverse());
      assert.deepEqual(await tables(d), []);
      await migrateToLatest(d.db);
      assert.deepEqual(await tables(d), TABLES);
    });

    test('an up-to-date database is left alone; a pending migration still runs; one recorded but not on disk is still refused', async () => {
      const d = database(); // migrated to the latest by the test before
      await sql`drop table kysely_migration_lock`.execute(d.db);
      assert.deepEqual(await migrateToLatest(d.db), []);
      assert.equal(await lockTable(d), false, 'the migrator ran on an up-to-date database');

      await migrateTo(d.db, MIGRATIONS[MIGRATIONS.length - 2]);
      await sql`drop table kysely_migration_lock`.execute(d.db);
      assert.deepEqual(await migrateToLatest(d.db), [MIGRATIONS[MIGRATIONS.length - 1]]);
      assert.equal(await lockTable(d), true, 'the pending migration was applied by the migrator');

      await sql`insert into kysely_migration (name, timestamp) values ('9999_not_on_disk', '2026-12-07T00:00:00.000Z')`.execute(d.db);
      await assert.rejects(migrateToLatest(d.db), /9999_not_on_disk/);
      await sql`delete from kysely_migration where name = '9999_not_on_disk'`.execute(d.db);
      assert.deepEqual(await migrateToLatest(d.db), []);
      assert.deepEqual(await tables(d), TABLES);
    });

    test('the schema enforces one active head and valid enums', async () => {
      const d = database();
      const bb = crypto.randomUUID();
      await d.db
        .insertInto('backbones')
        .values({ id: bb, name: 'b', sha256: 'x', path: '/m', feature_dim: 2, labels: '["a"]', problem_type: 'multi_label', config: '{}' })
        .execute();
      const head = (version: number, status: 'active' | 'base') => ({
        id: crypto.randomUUID(),
        backbone_id: bb,
        version,
        parent_id: null,
        status,
        source: 'test',
        num_labels: 1,
        feature_dim: 2,
        weight: new Uint8Array(8),
        bias: new Uint8Array(4),
        training_run_id: null,
        promoted_at: null,
        retired_at: null,
      });
      await d.db.insertInto('head_versions').values(head(1, 'active')).execute();
      await assert.rejects(d.db.insertInto('head_versions').values(head(2, 'active')).execute(), /head_versions_one_active|duplicate key/);
      await assert.rejects(
        d.db.insertInto('head_versions').values({ ...head(3, 'base'), status: 'bogus' as 'base' }).execute(),
        /check constraint/,
      );
    });

    test('bytea and jsonb round-trip through the driver', async () => {
      const d = database();
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      const r = await sql<{ b: Uint8Array; j: { a: number[] }; n: number }>`
        select ${bytes}::bytea as b, ${JSON.stringify({ a: [1, 2] })}::jsonb as j, count(*) as n from api_keys`.execute(d.db);
      assert.deepEqual([...r.rows[0].b], [...bytes]);
      assert.deepEqual(r.rows[0].j, { a: [1, 2] });
      assert.equal(r.rows[0].n, 0, 'count(*) comes back as a number on both drivers');
    });
  });
}
