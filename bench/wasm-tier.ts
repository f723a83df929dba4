/**
 * `npm run bench:wasm-tier [-- --texts 1500 --rounds 4 --repeats 2]`
 *
 * The embedded database is PostgreSQL compiled to WebAssembly, which V8 compiles twice: at once with its
 * baseline compiler (Liftoff), then its hot functions again with the optimising one (TurboFan). `node
 * --liftoff-only` keeps the first: less code in memory and no optimising compiles, slower code. This bench
 * starts the service as users run it (`node dist/main.js`, the starter model, embedded PGlite, a fresh data
 * directory) with and without the flag, alternately, and drives the same Davidson tweets through it, one per
 * request, 8 at a time, `rounds` times over. It prints each round's CPU per text (the whole process, and the
 * embedded database's thread alone, from /proc) and the process's RSS and peak after the last round.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/logger.js';
import { benchTexts } from './davidson.js';
import { benchModel } from './models.js';
import { memory, meter } from './proc-cpu.js';
import { driveModerate, freePort, startProcess, stop, waitReady } from './processes.js';

const { values } = parseArgs({ options: { texts: { type: 'string', default: '1500' }, rounds: { type: 'string', default: '4' }, repeats: { type: 'string', default: '2' } } });
const ROUNDS = Number(values.rounds);
const ROOT = path.resolve('.');
const ADMIN = `mt_bench_${'w'.repeat(40)}`;
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'modtune-bench-wasm-tier-'));

async function run(flags: string[], modelDir: string, input: string[]): Promise<string> {
  const port = await freePort();
  const { child } = await startProcess(
    process.execPath,
    [...flags, 'dist/main.js'],
    {
      MODEL_DIR: modelDir,
      MODEL_AUTO_BUILD: 'false',
      POLICY_DIR: path.join(ROOT, 'policies'),
      DATA_DIR: await fsp.mkdtemp(path.join(WORK, 'data-')),
      PORT: String(port),
      MODTUNE_ADMIN_KEY: ADMIN,
      TRAINING_SCHEDULER: 'false',
      RATE_LIMIT_PER_SECOND: '0',
      LOG_LEVEL: 'warn',
    },
    null,
  );
  try {
    await waitReady(child, port, `node ${flags.join(' ')} dist/main.js`);
    const m = meter(child.pid!);
    const rounds: string[] = [];
    let before = m.read();
    for (let r = 0; r < ROUNDS; r++) {
      await driveModerate(port, input, ADMIN);
      const now = m.read();
      const total = Object.keys(now).reduce((s, k) => s + now[k as keyof typeof now] - before[k as keyof typeof before], 0);
      rounds.push(`${(total / input.length).toFixed(2)} / ${((now.pglite - before.pglite) / input.length).toFixed(2)}`);
      before = now;
    }
    const mem = memory(child.pid!);
    return `| ${flags.join(' ') || '(none)'} | ${rounds.join(' | ')} | ${Math.round(mem.rssMb)} | ${Math.round(mem.peakMb)} |`;
  } finally {
    await stop(child);
  }
}

if (spawnSync('npm', ['run', 'build'], { stdio: 'ignore' }).status !== 0) throw new Error('npm run build failed');
try {
  const model = await benchModel('starter', ROOT, createLogger('warn'));
  const { texts: input, source } = await benchTexts(Number(values.texts), 7);
  console.log(`bench:wasm-tier — ${new Date().toISOString()} — ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, Node ${process.version}; the starter, embedded PGlite; ${source}, one per request, 8 at a time, ${ROUNDS} rounds`);
  console.log('');
  console.log(`| node flags | ${Array.from({ length: ROUNDS }, (_, r) => `round ${r + 1}: CPU ms per text, process / PGlite thread`).join(' | ')} | RSS after, MB | peak, MB |`);
  console.log(`|---|${'---|'.repeat(ROUNDS)}---|---|`);
  for (let i = 0; i < Number(values.repeats); i++) {
    for (const flags of [[], ['--liftoff-only']]) console.log(await run(flags, model.dir, input));
  }
} finally {
  fs.rmSync(WORK, { recursive: true, force: true });
}
