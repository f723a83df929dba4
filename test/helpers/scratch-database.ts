/**
 * A throwaway PostgreSQL database on a server the tests or benchmarks are given (TEST_DATABASE_URL,
 * BENCH_DATABASE_URL, --database-url): created empty under a unique name, dropped (with force, so
 * leftover connections do not block it) by `drop()`. Nothing is ever written to the database the URL
 * names itself.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export interface ScratchDatabase {
  name: string;
  /** The server URL with this database as its path. */
  url: string;
  drop(): Promise<void>;
}

export async function admin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * `prefix` says who made it (it shows in `\l` if a crash leaves it behind): lowercase letters, digits, `_`.
 * `template`: a database to copy (PostgreSQL copies its files: a migrated template costs a file copy, not
 * the migrations).
 */
export async function createScratchDatabase(serverUrl: string, prefix: string, template?: string): Promise<ScratchDatabase> {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(prefix)) throw new Error(`scratch database prefix '${prefix}' must be lowercase letters, digits and _`);
  if (template !== undefined && !/^[a-z][a-z0-9_]{0,62}$/.test(template)) throw new Error(`template database '${template}' must be lowercase letters, digits and _`);
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, (c) => c.query(`create database ${name}${template ? ` template ${template}` : ''}`));
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  let dropped = false;
  return {
    name,
    url: u.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await admin(serverUrl, (c) => c.query(`drop database if exists ${name} with (force)`));
    },
  };
}

/**
 * The databases a test runs a server process on: PGlite on disk always, and a scratch PostgreSQL
 * database on the TEST_DATABASE_URL server when it is set (skipped with a message otherwise).
 */
export function serverDatabaseKinds(): { name: string; skip: string | false; url: string | undefined }[] {
  const url = process.env.TEST_DATABASE_URL;
  return [
    { name: 'pglite', skip: false, url: undefined },
    url ? { name: 'postgres', skip: false, url } : { name: 'postgres', skip: 'TEST_DATABASE_URL is not set: PostgreSQL part skipped', url: undefined },
  ];
}
