import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, NO_MIGRATIONS, type MigrationResult } from 'kysely';
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

/** Applies every pending migration; returns the names applied. Safe to run from several replicas at once. */
export async function migrateToLatest(db: DB): Promise<string[]> {
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
