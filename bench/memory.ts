/**
 * `[BENCH_DATABASE_URL=postgres://…] npm run bench:memory [-- --models starter,minilm --texts 600]`
 *
 * Where the service's memory goes, measured on the process users run (`node dist/main.js`, as `npm start`
 * does), beside the transformers.js peer (bench/peer: one process, one ONNX session, stores nothing) in the
 * same run. Each configuration is started on its own, loaded with the same texts (one per request, 8 at a
 * time), and read from /proc (VmRSS after the load, VmHWM its peak). The parts come from differences
 * between configurations that differ in one thing:
 *   - one inference session (a worker thread: its ONNX session with a copy of the weights, its tokenizer,
 *     its V8 isolate) = RSS with 2 sessions × 1 thread − RSS with 1 session × 2 threads, on PostgreSQL;
 *   - the embedded database (PGlite in its worker thread: the WebAssembly PostgreSQL, its shared buffers,
 *     its isolate) = RSS on PGlite − RSS on PostgreSQL, with the same layout;
 *   - the rest (main thread: HTTP, policies, the decision writer, loaded modules; plus one session) = RSS on
 *     PostgreSQL with 1 session × 2 threads.
 * The default (no INFERENCE_WORKERS or ORT_THREADS: the start measures the layouts and keeps the fewest
 * sessions within 10 % of the fastest) is measured too, and its log says which it chose.
 * PostgreSQL's own processes are not in the service's RSS (nor in the peer's, which stores nothing).
 * Texts: tweets from Davidson (DAVIDSON_CSV, or datasets/davidson-2017 in the clone) when present (never printed), else generated.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../src/logger.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { benchTexts } from './davidson.js';
import { benchModel, peerModel } from './models.js';
import { memory } from './proc-cpu.js';
import { driveModerate, freePort, startProcess, stop, waitReady } from './processes.js';

const { values } = parseArgs({ options: { models: { type: 'string', default: 'starter,minilm' }, texts: { type: 'string', default: '600' } } });
const ROOT = path.resolve('.');
const ADMIN = `mt_bench_${'m'.repeat(40)}`;
const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'modtune-bench-memory-'));
const log = createLogger('warn');
const MAX_LENGTH = 128;


interface Measured {
  label: string;
  rss: number;
  peak: number;
}

async function service(label: string, modelDir: string, policyDir: string, env: Record<string, string>, input: string[]): Promise<Measured> {
  const dataDir = await fsp.mkdtemp(path.join(WORK, 'data-'));
  const port = await freePort();
  const scratch = env.DATABASE_URL === 'scratch' ? await createScratchDatabase(PG_URL!, 'modtune_bench_memory') : null;
  const { child, output } = await startProcess(
    process.execPath,
    ['dist/main.js'],
    {
      MODEL_DIR: modelDir,
      MODEL_AUTO_BUILD: 'false',
      POLICY_DIR: policyDir,
      DATA_DIR: dataDir,
      PORT: String(port),
      MODTUNE_ADMIN_KEY: ADMIN,
      // Info: the start logs the layout it serves with.
      LOG_LEVEL: 'info',
      MAX_SEQUENCE_LENGTH: String(MAX_LENGTH),
      TRAINING_SCHEDULER: 'false',
      RATE_LIMIT_PER_SECOND: '0',
      ...env,
      ...(scratch ? { DATABASE_URL: scratch.url } : {}),
    },
    null,
  );
  try {
    await waitReady(child, port, label);
    // What serves: the layout the start measured and chose, with its measurements (ms per text), else the
    // one given (read before the load's logs).
    const line = output().split('\n').find((l) => l.includes('inference layout:'));
    const logged = line ? (JSON.parse(line) as { msg: string; msPerText: Record<string, number> }) : null;
    const sessions = logged
      ? `chose ${/inference layout: ([^(]+?) \(/.exec(logged.msg)?.[1]}; ms per text: ${Object.entries(logged.msPerText).map(([k, v]) => `${k.replace('x', ' × ')} ${v}`).join(', ')}`
      : 'as given';
    await driveModerate(port, input, ADMIN);
    const m = memory(child.pid!);
    return { label: `${label} (${sessions})`, rss: m.rssMb, peak: m.peakMb };
  } finally {
    await stop(child);
    await scratch?.drop();
  }
}

async function peer(m: Awaited<ReturnType<typeof benchModel>>, input: string[]): Promise<Measured> {
  const peerDir = path.join(ROOT, 'bench/peer');
  if (!fs.existsSync(path.join(peerDir, 'node_modules/@huggingface/transformers'))) {
    const r = spawnSync('npm', ['ci', '--prefix', peerDir, '--no-audit', '--no-fund'], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('installing bench/peer failed');
  }
  const peerRoot = path.join(WORK, 'peer-models');
  await peerModel(m, peerRoot, MAX_LENGTH);
  const { child, port } = await startProcess(process.execPath, [path.join(peerDir, 'server.mjs'), peerRoot, m.name, String(os.availableParallelism())], {}, /"port":(\d+)/);
  try {
    await driveModerate(port, input);
    const r = memory(child.pid!);
    return { label: 'transformers.js peer (1 session, stores nothing)', rss: r.rssMb, peak: r.peakMb };
  } finally {
    await stop(child);
  }
}

const r0 = (x: number) => Math.round(x).toString();
const lines: string[] = [];
const say = (l = '') => {
  lines.push(l);
  process.stdout.write(`${l}\n`);
};

if (spawnSync('npm', ['run', 'build'], { stdio: 'ignore' }).status !== 0) throw new Error('npm run build failed');
const { texts: input, source } = await benchTexts(Number(values.texts), 5);
say(`bench:memory — ${new Date().toISOString()} — ${os.cpus()[0]?.model ?? 'cpu'} × ${os.availableParallelism()}, Node ${process.version}; ${source}, one per request, 8 at a time`);
for (const name of values.models!.split(',')) {
  const m = await benchModel(name, ROOT, log);
  const policyDir = path.join(WORK, `policies-${name}`);
  await fsp.mkdir(policyDir, { recursive: true });
  await fsp.writeFile(path.join(policyDir, 'default.yaml'), m.policyYaml);
  const onnxMb = fs.statSync(path.join(m.dir, 'model.onnx')).size / 1048576;
  const cores = os.availableParallelism();
  const half = Math.max(1, Math.floor(cores / 2));
  const two = { INFERENCE_WORKERS: '2', ORT_THREADS: String(half) };
  const one = { INFERENCE_WORKERS: '1', ORT_THREADS: String(cores) };
  const twoLabel = `2 sessions × ${half} thread${half > 1 ? 's' : ''}`;
  const oneLabel = `1 session × ${cores} thread${cores > 1 ? 's' : ''}`;
  const runs: Measured[] = [];
  const dbs = PG_URL ? ['pglite', 'postgres'] : ['pglite'];
  for (const db of dbs) {
    for (const [layout, env] of [[twoLabel, two], [oneLabel, one], ['default: the layout measured at start', {}]] as const) {
      runs.push(await service(`service, ${db}, ${layout}`, m.dir, policyDir, { ...env, ...(db === 'postgres' ? { DATABASE_URL: 'scratch' } : {}) }, input));
    }
  }
  const p = await peer(m, input);
  say();
  say(`### ${name} (model.onnx ${onnxMb.toFixed(1)} MB)`);
  say();
  say('| process | RSS after the load, MB | peak RSS, MB | RSS / peer |');
  say('|---|---|---|---|');
  for (const x of [...runs, p]) say(`| ${x.label} | ${r0(x.rss)} | ${r0(x.peak)} | ${(x.rss / p.rss).toFixed(2)} |`);
  const get = (label: string) => runs.find((x) => x.label.startsWith(`${label} (`))?.rss ?? NaN;
  say();
  if (PG_URL) {
    say(`- one inference session (PostgreSQL: two sessions − one): ${r0(get(`service, postgres, ${twoLabel}`) - get(`service, postgres, ${oneLabel}`))} MB`);
    say(`- embedded PGlite (PGlite − PostgreSQL, two sessions): ${r0(get(`service, pglite, ${twoLabel}`) - get(`service, postgres, ${twoLabel}`))} MB; one session: ${r0(get(`service, pglite, ${oneLabel}`) - get(`service, postgres, ${oneLabel}`))} MB`);
    say(`- main thread, modules and one session (PostgreSQL, one session): ${r0(get(`service, postgres, ${oneLabel}`))} MB`);
  } else {
    say(`- one inference session (PGlite: two sessions − one): ${r0(get(`service, pglite, ${twoLabel}`) - get(`service, pglite, ${oneLabel}`))} MB`);
    say('- the PGlite and main-thread parts need PostgreSQL to compare with (BENCH_DATABASE_URL or TEST_DATABASE_URL)');
  }
}
await fsp.rm(WORK, { recursive: true, force: true });
