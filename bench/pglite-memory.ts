/**
 * `npm run bench:pglite-memory`: what the embedded database holds in memory. Opens a fresh data
 * directory (the cluster is created, then reopened in a new thread: see connect.ts) and then the same
 * directory again, as a restart would, and prints the process's resident memory and its peak after each
 * (Linux /proc). Run each step in its own process so the figures do not include the other's.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/logger.js';
import { memory } from './proc-cpu.js';

const [dir, step] = process.argv.slice(2);
if (step) {
  const d = await openDatabase({ dataDir: dir, logger: createLogger('silent') });
  await sql`select 1`.execute(d.db);
  const m = memory(process.pid);
  process.stdout.write(`| ${step} | ${Math.round(m.rssMb)} | ${Math.round(m.peakMb)} |\n`);
  await d.destroy();
} else {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'modtune-pglite-memory-'));
  process.stdout.write('| embedded database, own thread | RSS MB | peak MB |\n|---|---|---|\n');
  try {
    for (const s of ['fresh data directory (created, then reopened)', 'existing data directory (a restart)']) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/pglite-memory.ts', data, s], { stdio: ['ignore', 'inherit', 'inherit'] });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
  } finally {
    fs.rmSync(data, { recursive: true, force: true });
  }
}
