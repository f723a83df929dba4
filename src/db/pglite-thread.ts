/**
 * Embedded PGlite in a worker thread (pglite-worker.ts), behind the small part of PGlite's interface the
 * kysely dialect uses. PGlite executes PostgreSQL (WebAssembly) and parses and serializes every row on
 * the thread that calls it: measured under load, half the main thread's busy time (docs/PERFORMANCE.md).
 * In its own thread that work no longer interleaves with the request path; the main thread only posts
 * the SQL and receives structured-cloned rows.
 */
import { Worker } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { workerStart } from '../build-layout.js';

const WORKER = workerStart(new URL('./pglite-worker.js', import.meta.url));

export interface DbWorkerInit {
  dataDir?: string;
  loadDataDir?: ArrayBuffer;
  /** PostgreSQL settings passed at start (`-c name=value`), e.g. shared_buffers. */
  settings?: Record<string, string>;
}

/**
 * PGlite's start parameters with these settings added. PGlite starts PostgreSQL with its own defaults
 * (shared_buffers 128MB among them); a buffer pool lives in the WebAssembly heap and stays resident
 * once touched, and the data files stay in the operating system's page cache beside it.
 */
export function pgliteStartParams(settings: Record<string, string> = {}): string[] {
  const extra = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  return [...PGlite.defaultStartParams, ...extra];
}

export type ToDbWorker = { type: 'query'; id: number; sql: string; params: unknown[] } | { type: 'close' };

export type FromDbWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; message: string }
  | { type: 'result'; id: number; rows: unknown[]; affectedRows?: number }
  | { type: 'error'; id: number; name: string; message: string; fields: Record<string, unknown> }
  | { type: 'closed'; error?: string };

/** The part of PGlite the dialect uses; a PGlite instance has it, and so does PGliteThread. */
export interface PGliteLike {
  readonly waitReady: Promise<void>;
  readonly closed: boolean;
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
  close(): Promise<void>;
}

/** An error from the database thread, with PostgreSQL's fields (code, constraint, …) as PGlite gives them. */
export class EmbeddedDatabaseError extends Error {
  [field: string]: unknown;
  constructor(name: string, message: string, fields: Record<string, unknown>) {
    super(message);
    this.name = name;
    Object.assign(this, fields);
  }
}

export class PGliteThread implements PGliteLike {
  readonly waitReady: Promise<void>;
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: { rows: unknown[]; affectedRows?: number }) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private exited: Error | null = null;
  private closing: Promise<void> | null = null;
  private onClosed: ((error?: string) => void) | null = null;
  closed = false;

  private constructor(init: DbWorkerInit) {
    this.worker = new Worker(WORKER.file, {
      name: 'mt-pglite',
      workerData: { ...init, entry: WORKER.entry },
      transferList: init.loadDataDir ? [init.loadDataDir] : [],
    });
    this.waitReady = new Promise((resolve, reject) => {
      this.worker.on('message', (m: FromDbWorker) => {
        switch (m.type) {
          case 'ready':
            resolve();
            return;
          case 'init-failed':
            reject(new Error(`the embedded database could not start: ${m.message}`));
            return;
          case 'result':
            this.settle(m.id)?.resolve({ rows: m.rows, affectedRows: m.affectedRows });
            return;
          case 'error':
            this.settle(m.id)?.reject(new EmbeddedDatabaseError(m.name, m.message, m.fields));
            return;
          case 'closed':
            this.onClosed?.(m.error);
            return;
        }
      });
      this.worker.on('error', (err) => {
        reject(err);
        this.fail(new Error(`the embedded database thread failed: ${err.message}`));
      });
      this.worker.on('exit', (code) => {
        reject(new Error(`the embedded database thread exited during start-up (code ${code})`));
        this.closed = true;
        this.fail(new Error(`the embedded database thread exited (code ${code})`));
      });
    });
  }

  static async start(init: DbWorkerInit): Promise<PGliteThread> {
    const t = new PGliteThread(init);
    try {
      await t.waitReady;
    } catch (err) {
      await t.worker.terminate();
      throw err;
    }
    return t;
  }

  private settle(id: number) {
    const p = this.pending.get(id);
    this.pending.delete(id);
    return p;
  }

  private fail(err: Error): void {
    this.exited ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  query<R>(sql: string, params: unknown[] = []): Promise<{ rows: R[]; affectedRows?: number }> {
    if (this.exited) return Promise.reject(this.exited);
    if (this.closed) return Promise.reject(new Error('the embedded database is closed'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (r: { rows: unknown[]; affectedRows?: number }) => void, reject });
      this.worker.postMessage({ type: 'query', id, sql, params } satisfies ToDbWorker);
    });
  }

  /** Closes PGlite in its thread (a clean shutdown of the data directory), then ends the thread. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.exited) return;
      const done = new Promise<string | undefined>((resolve) => (this.onClosed = resolve));
      const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
      this.worker.postMessage({ type: 'close' } satisfies ToDbWorker);
      const error = await Promise.race([done, exited.then(() => undefined)]);
      this.closed = true;
      await exited;
      if (error) throw new Error(`closing the embedded database: ${error}`);
    })();
    return this.closing;
  }
}
