/**
 * Opens the database: PostgreSQL through `pg` when a URL is given, otherwise an embedded PGlite under
 * the data directory. Both speak the same SQL, so everything above this file is shared.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { DatabaseSchema, DB } from './database.js';
import { PGliteDialect } from './pglite-dialect.js';

export type DatabaseKind = 'postgres' | 'pglite';

export interface Database {
  db: DB;
  kind: DatabaseKind;
  /** Where it lives, with any password removed (for logs and /readyz). */
  location: string;
  ping(timeoutMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export interface OpenOptions {
  url?: string;
  /** PGlite data directory; `memory://` keeps it in memory (tests). */
  dataDir: string;
  poolSize?: number;
  /** A PGlite data directory dump to start from (tests start from a migrated template). */
  loadDataDir?: Blob;
  logger: Logger;
}

const INT8 = 20;

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts) : openPglite(opts);
}

async function openPostgres(url: string, opts: OpenOptions): Promise<Database> {
  const log = opts.logger;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    // Fail fast when the database is down instead of queueing requests behind a dead socket.
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    // int8 (count(*), sums) as numbers: every int8 this schema returns is far below 2^53.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, it would kill the process.
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle database connection failed'));
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    kind: 'postgres',
    location: redactUrl(url),
    ping: (timeoutMs = 1_000) => ping(db, timeoutMs),
    destroy: () => db.destroy(),
  };
}

async function openPglite(opts: OpenOptions): Promise<Database> {
  const inMemory = opts.dataDir.startsWith('memory://');
  const dir = inMemory ? undefined : path.join(opts.dataDir, 'pglite');
  if (dir) await fs.mkdir(dir, { recursive: true });
  const pglite = await PGlite.create({ dataDir: dir, loadDataDir: opts.loadDataDir });
  const db = new Kysely<DatabaseSchema>({ dialect: new PGliteDialect(pglite) });
  return {
    db,
    kind: 'pglite',
    location: dir ?? 'memory',
    ping: (timeoutMs = 1_000) => ping(db, timeoutMs),
    destroy: () => db.destroy(),
  };
}

async function ping(db: DB, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(db),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
