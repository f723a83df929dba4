import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, NO_MIGRATIONS, sql, type MigrationResult } from 'kysely';
import { COMPILED } from '../build-layout.js';
import type { DB } from './database.js';

/** migrations/*.ts under tsx; compiled, dist/migrations/*.js (the names kysely records are the same: no extension). */
export const MIGRATIONS_DIR = fileURLToPath(new URL(COMPILED ? '../migrations' : '../../migrations', import.meta.url));

function migrator(db: DB): Migrator {
  return new Migrator({
    db,
    provider: new FileMigrationProvider({ fs, path, migrationFolder: MIGRATIONS_DIR }),
  });
}

function check(results: MigrationResult[] | undefined, error: unknown): string[] {
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    const msg = error instanceof Error ? error.message : String(error);
    throw new Error(`migration ${failed ? `'${failed.migrationName}' ` : ''}failed: ${msg}`, { cause: error });
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** The migrations on disk, named as kysely's FileMigrationProvider names them (the file name without its extension), sorted. */
async function migrationNames(): Promise<string[]> {
  return (await fs.readdir(MIGRATIONS_DIR))
    .filter((f) => /\.(js|mjs)$/.test(f) || (/\.(ts|mts)$/.test(f) && !/\.d\.m?ts$/.test(f)))
    .map((f) => f.slice(0, f.lastIndexOf('.')))
    .sort();
}

/**
 * Whether the database records exactly the migrations on disk as applied: then there is nothing to do. Two
 * small queries, where kysely's migrator imports every migration and reads the whole catalogue to find its
 * own tables, twice a run (slow on the embedded database, and every start and CLI runs it).
 * Anything else (a table missing, a migration pending, one recorded that is not on disk) goes to the
 * migrator, which applies, locks and refuses as before.
 */
async function upToDate(db: DB): Promise<boolean> {
  const table = await sql<{ present: boolean }>`select to_regclass('kysely_migration') is not null as present`.execute(db);
  if (!table.rows[0]?.present) return false;
  const applied = (await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db)).rows.map((r) => r.name);
  const onDisk = await migrationNames();
  return applied.length === onDisk.length && applied.every((name, i) => name === onDisk[i]);
}

/** Applies every pending migration; returns the names applied. Safe to run from several replicas at once. */
export async function migrateToLatest(db: DB): Promise<string[]> {
  if (await upToDate(db)) return [];
  const { results, error } = await migrator(db).migrateToLatest();
  return check(results, error);
}

/** Migrates up or down to migration `name` (tests of one migration's data changes). */
export async function migrateTo(db: DB, name: string): Promise<string[]> {
  const { results, error } = await migrator(db).migrateTo(name);
  return check(results, error);
}

/** Reverts every migration (tests of `down`). */
export async function migrateDownAll(db: DB): Promise<string[]> {
  const { results, error } = await migrator(db).migrateTo(NO_MIGRATIONS);
  return check(results, error);
}
