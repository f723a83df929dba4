/**
 * Opens the database: PostgreSQL through `pg` when a URL is given, otherwise an embedded PGlite under
 * the data directory. Both speak the same SQL, so everything above this file is shared.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { acquireDataDirLock, describeProcess } from './data-dir-lock.js';
import type { DatabaseSchema, DB } from './database.js';
import { PGliteDialect } from './pglite-dialect.js';
import { PGliteThread, pgliteStartParams, type PGliteLike } from './pglite-thread.js';

export type DatabaseKind = 'postgres' | 'pglite';

export interface Database {
  db: DB;
  kind: DatabaseKind;
  /** Where it lives, with any password removed (for logs and /readyz). */
  location: string;
  ping(timeoutMs?: number): Promise<void>;
  /**
   * A session-level advisory lock across every process on this database, or null if someone holds it.
   * The returned function releases it. (PGlite serves one process, so there it is an in-process lock.)
   */
  tryAdvisoryLock(key: number): Promise<(() => Promise<void>) | null>;
  /**
   * Calls `onMessage` for every NOTIFY on `channel` from any process, reconnecting after failures.
   * Resolves once listening (a NOTIFY committed after that is heard; if the first attempt failed, it
   * retries in the background) with a function that stops listening. A no-op on PGlite (one process:
   * nothing to hear).
   */
  listen(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * Tells other processes where the server that holds this database listens (an embedded database on
   * disk: written into its lock file, so CLIs go through that server). A no-op elsewhere.
   */
  advertise(url: string): Promise<void>;
  destroy(): Promise<void>;
}

export interface OpenOptions {
  url?: string;
  /** PGlite data directory; `memory://` keeps it in memory (tests). */
  dataDir: string;
  poolSize?: number;
  /** A PGlite data directory dump to start from (tests start from a migrated template). */
  loadDataDir?: Blob;
  /**
   * Where embedded PGlite runs: in its own worker thread (default: its SQL execution and row parsing do
   * not share the request path's thread), or on the calling thread.
   */
  embeddedThread?: 'worker' | 'main';
  /**
   * PGlite's shared_buffers in bytes (default 32 MiB; PostgreSQL's own default is 128 MiB). The pool sits
   * in PGlite's WebAssembly memory and stays resident once touched; reads past it are served from the
   * operating system's page cache.
   */
  sharedBuffers?: number;
  /** Who opens an embedded database on disk, for the lock's messages (default: this process's npm script). */
  command?: string;
  logger: Logger;
}

const INT8 = 20;

/** The embedded database's shared_buffers unless told otherwise (see OpenOptions.sharedBuffers). */
export const EMBEDDED_SHARED_BUFFERS = 32 * 1024 * 1024;

function embeddedSettings(opts: OpenOptions): Record<string, string> {
  const kb = Math.max(128, Math.round((opts.sharedBuffers ?? EMBEDDED_SHARED_BUFFERS) / 1024));
  return { shared_buffers: `${kb}kB` };
}

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
  // A checked-out client whose socket dies (a reset, `pg_ctl stop -m immediate`) emits 'error' on
  // itself, and pg-pool listens only while the client is idle: without this listener the process
  // would crash. Its queries are rejected anyway and the pool drops it on release (not queryable).
  pool.on('connect', (client) => {
    client.on('error', (err) => log.warn({ err: err.message }, 'database connection failed while in use'));
  });
  const db = new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
  const listeners = new Set<() => Promise<void>>();
  return {
    db,
    kind: 'postgres',
    location: redactUrl(url),
    ping: (timeoutMs = 1_000) => ping(db, timeoutMs),
    async tryAdvisoryLock(key) {
      // The lock belongs to one connection, held out of the pool until release.
      const client = await pool.connect();
      let ok = false;
      try {
        ok = (await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [key])).rows[0].ok;
      } finally {
        if (!ok) client.release();
      }
      if (!ok) return null;
      return async () => {
        try {
          await client.query('select pg_advisory_unlock($1)', [key]);
          client.release();
        } catch (err) {
          // A broken connection has lost the lock anyway; do not return it to the pool.
          client.release(err as Error);
        }
      };
    },
    async listen(channel, onMessage) {
      const stop = await listenWithReconnect(url, channel, onMessage, log);
      listeners.add(stop);
      return async () => {
        listeners.delete(stop);
        await stop();
      };
    },
    // Every process connects to PostgreSQL on its own: nothing to tell the CLIs.
    advertise: async () => undefined,
    destroy: async () => {
      for (const stop of listeners) await stop();
      await db.destroy();
    },
  };
}

/**
 * LISTEN on a dedicated connection (not the pool's), reconnecting with backoff when it drops. Resolves
 * once the first attempt is done: listening when it succeeded (a NOTIFY sent after that is heard), else
 * retrying in the background.
 */
async function listenWithReconnect(url: string, channel: string, onMessage: (payload: string) => void, log: Logger): Promise<() => Promise<void>> {
  let stopped = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let delay = 500;
  const connect = async () => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client = c;
    c.on('notification', (n) => {
      if (n.channel === channel) onMessage(n.payload ?? '');
    });
    const reconnect = (why: string) => {
      if (stopped || client !== c) return;
      client = null;
      c.removeAllListeners('end');
      c.end().catch(() => undefined);
      log.warn({ channel, why, retryMs: delay }, 'LISTEN connection lost; reconnecting (polling covers the gap)');
      retry = setTimeout(() => void connect(), delay);
      delay = Math.min(delay * 2, 10_000);
    };
    c.on('error', (err) => reconnect(err.message));
    c.on('end', () => reconnect('connection ended'));
    try {
      await c.connect();
      await c.query(`listen ${pg.escapeIdentifier(channel)}`);
      delay = 500;
    } catch (err) {
      reconnect((err as Error).message);
    }
  };
  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = null;
    if (c) {
      c.removeAllListeners('end');
      await c.end().catch(() => undefined);
    }
  };
}

async function openPglite(opts: OpenOptions): Promise<Database> {
  const inMemory = opts.dataDir.startsWith('memory://');
  const dir = inMemory ? undefined : path.join(opts.dataDir, 'pglite');
  // One process per data directory (see data-dir-lock.ts): taken before PGlite reads a byte of it.
  const lock = inMemory ? null : await acquireDataDirLock(opts.dataDir, opts.command ?? describeProcess());
  let db: Kysely<DatabaseSchema>;
  let pglite: PGliteLike;
  try {
    if (dir) await fs.mkdir(dir, { recursive: true });
    // The first open creates the database (several seconds of silence otherwise): say so.
    if (dir && !opts.loadDataDir && !existsSync(path.join(dir, 'PG_VERSION'))) {
      opts.logger.info({ dir }, 'creating the embedded database (first start: a few seconds)');
    } else if (dir) {
      opts.logger.debug({ dir }, 'opening the embedded database');
    }
    if ((opts.embeddedThread ?? 'worker') === 'worker') {
      const fresh = dir !== undefined && !opts.loadDataDir && !existsSync(path.join(dir, 'PG_VERSION'));
      const settings = embeddedSettings(opts);
      pglite = await PGliteThread.start({ dataDir: dir, loadDataDir: await opts.loadDataDir?.arrayBuffer(), settings });
      if (fresh) {
        // Creating the cluster (initdb) grows PGlite's WebAssembly memory by ~500 MB that it never gives
        // back; reopening in a new thread starts from what the data needs (measured: 957 → 450 MB RSS).
        await pglite.close();
        pglite = await PGliteThread.start({ dataDir: dir, settings });
      }
    } else {
      pglite = await PGlite.create({ dataDir: dir, loadDataDir: opts.loadDataDir, startParams: pgliteStartParams(embeddedSettings(opts)) });
    }
    db = new Kysely<DatabaseSchema>({ dialect: new PGliteDialect(pglite) });
  } catch (err) {
    await lock?.release();
    throw err;
  }
  const held = new Set<number>();
  return {
    db,
    kind: 'pglite',
    location: dir ?? 'memory',
    ping: (timeoutMs = 1_000) => ping(db, timeoutMs),
    async tryAdvisoryLock(key) {
      if (held.has(key)) return null;
      held.add(key);
      return async () => {
        held.delete(key);
      };
    },
    listen: async () => async () => undefined,
    advertise: async (url) => {
      await lock?.advertise(url);
    },
    async destroy() {
      try {
        await db.destroy();
        // kysely closes the driver only if it ever ran a query; a database opened and never queried
        // must still be closed (its thread would otherwise keep the process alive).
        if (!pglite.closed) await pglite.close();
      } finally {
        await lock?.release();
      }
    },
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
