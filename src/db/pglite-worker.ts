/**
 * The embedded database's own thread: it owns the PGlite instance and runs the SQL the main thread's
 * kysely sends (see pglite-thread.ts). PGlite runs PostgreSQL compiled to WebAssembly on the thread
 * that calls it; here, that is not the thread that serves HTTP.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { pgliteStartParams, type FromDbWorker, type DbWorkerInit, type ToDbWorker } from './pglite-thread.js';

const init = workerData as DbWorkerInit;
const port = parentPort!;
const post = (m: FromDbWorker) => port.postMessage(m);

// Named so operators (`top -H`) and bench:score can tell the database's CPU from the rest (Linux only).
try {
  fs.writeFileSync('/proc/thread-self/comm', 'mt-pglite');
} catch {
  // not Linux: the name is only a label
}

/** What a client needs of a PostgreSQL error to act on it (unique violations, and so on). */
const ERROR_FIELDS = ['code', 'detail', 'hint', 'constraint', 'table', 'column', 'schema', 'severity', 'where', 'position'] as const;

let pg: PGlite;
try {
  pg = await PGlite.create({
    dataDir: init.dataDir,
    loadDataDir: init.loadDataDir ? new Blob([init.loadDataDir]) : undefined,
    startParams: pgliteStartParams(init.settings),
  });
  post({ type: 'ready' });
} catch (err) {
  post({ type: 'init-failed', message: (err as Error).message });
  port.close();
}

port.on('message', async (m: ToDbWorker) => {
  if (m.type === 'close') {
    try {
      if (!pg.closed) await pg.close();
      post({ type: 'closed' });
    } catch (err) {
      post({ type: 'closed', error: (err as Error).message });
    }
    port.close();
    return;
  }
  try {
    const res = await pg.query(m.sql, m.params);
    post({ type: 'result', id: m.id, rows: res.rows, affectedRows: res.affectedRows });
  } catch (err) {
    const e = err as Error & Record<string, unknown>;
    const fields: Record<string, unknown> = {};
    for (const f of ERROR_FIELDS) if (e[f] !== undefined) fields[f] = e[f];
    post({ type: 'error', id: m.id, name: e.name, message: e.message, fields });
  }
});
