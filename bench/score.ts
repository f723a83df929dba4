/**
 * `[BENCH_DATABASE_URL=postgres://…] npm run bench:score [-- --models starter,minilm --clients 1,8,32,64
 *   --duration 10 --no-peer --databases pglite,postgres --cpu-prof DIR --service-env KEY=VALUE ...]`
 *
 * Scoring throughput and latency, every ratio measured in one run on one machine:
 *   1. raw onnxruntime-node, batched (the limit: no HTTP, no tokenizer, no database);
 *   2. the service (`node --import tsx src/main.ts`) over loopback HTTP at each client count, one text
 *      per request, with its defaults (batch size calibrated at load), on embedded PGlite and, with
 *      BENCH_DATABASE_URL, on PostgreSQL; at 32 clients the CPU per text of its thread groups from /proc
 *      (main thread, inference workers, other threads, PostgreSQL's processes), the mean batch against
 *      the calibrated size, and its memory;
 *   3. the same with batching off (BATCH_MAX_SIZE=1);
 *   4. a peer: a minimal express server around transformers.js' text-classification pipeline on the same
 *      ONNX model (bench/peer, installed on demand);
 *   5. p99 at half the service's saturation throughput, against the bound wait + two batch times;
 * for the starter model and a MiniLM-L6-shaped BERT (random weights, built and imported on first use).
 * Texts are tweets from Davidson (DAVIDSON_CSV, or datasets/davidson-2017 in the clone) when present (never printed), otherwise
 * generated sentences. The load generator (autocannon) runs in this process, on the same 2 cores.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { loadModelDir, type ModelDir } from '../src/inference/model-dir.js';
import { WorkerPool } from '../src/inference/pool.js';
import type { Provider } from '../src/inference/protocol.js';
import { SequenceEncoder } from '../src/inference/tokenizer.js';
import { createLogger } from '../src/logger.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import * as procCpu from './proc-cpu.js';
import type { CpuSample } from './proc-cpu.js';
import { benchTexts } from './davidson.js';
import { benchModel as modelFor, peerModel } from './models.js';
import { freePort, startProcess, stop } from './processes.js';

const { values } = parseArgs({
  options: {
    models: { type: 'string', default: 'starter,minilm' },
    clients: { type: 'string', default: '1,8,32,64' },
    duration: { type: 'string', default: '10' },
    'no-peer': { type: 'boolean', default: false },
    'max-length': { type: 'string', default: '128' },
    databases: { type: 'string' },
    /** Write V8 CPU profiles of the service (first database, batching on) under this directory. */
    'cpu-prof': { type: 'string' },
    /** Settings for the service with batching on (e.g. BATCH_LENGTH_RATIO=1.5), beside its defaults; repeatable. */
    'service-env': { type: 'string', multiple: true, default: [] },
  },
});
const SERVICE_ENV: Record<string, string> = Object.fromEntries(
  (values['service-env'] as string[]).map((kv) => {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(kv);
    if (!m) throw new Error(`--service-env takes KEY=VALUE (an environment variable of the service), got '${kv}'`);
    return [m[1], m[2]];
  }),
);
/** The settings as given, for the output ('' without any). */
const SERVICE_ENV_TEXT = Object.entries(SERVICE_ENV).map(([k, v]) => `${k}=${v}`).join(' ');
const MODELS = values.models!.split(',');
const CLIENTS = values.clients!.split(',').map(Number);
const DURATION = Number(values.duration);
const MAX_LENGTH = Number(values['max-length']);
const CORES = os.availableParallelism();
const ROOT = path.resolve('.');
const ADMIN = `mt_bench_${'k'.repeat(40)}`;
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'modtune-bench-score-'));
const log = createLogger('warn');
const PROVIDERS = (process.env.EXECUTION_PROVIDERS ?? 'cpu').split(',').map((p) => p.trim()) as Provider[];

// ---------------------------------------------------------------- texts

// ---------------------------------------------------------------- models
interface BenchModel {
  name: string;
  dir: string;
  /** A directory laid out for transformers.js (models root, model name). */
  peerRoot: string;
  policyDir: string;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
}

async function prepare(name: string): Promise<BenchModel> {
  const peerRoot = path.join(WORK, 'peer-models');
  const policyDir = path.join(WORK, `policies-${name}`);
  await fsp.mkdir(policyDir, { recursive: true });
  const m = await modelFor(name, ROOT, log);
  await fsp.writeFile(path.join(policyDir, 'default.yaml'), m.policyYaml);
  await peerModel(m, peerRoot, MAX_LENGTH);
  return { name, dir: m.dir, peerRoot, policyDir };
}

// ---------------------------------------------------------------- raw onnxruntime
interface RawResult {
  label: string;
  perSecond: number;
  batchMs: number;
}

/**
 * onnxruntime alone on pre-tokenized text: no HTTP, no tokenizer, no database. `sorted` batches texts of
 * similar length together (what the service's length bucketing approximates under load); `workers` runs
 * that many sessions in worker threads, as the service does, each with `threads` intra-op threads.
 */
async function rawThroughput(model: ModelDir, corpus: string[], o: { batch: number; sorted: boolean; workers: number; threads: number }): Promise<RawResult> {
  const enc = new SequenceEncoder(model.tokenizerJson, Math.min(MAX_LENGTH, model.maxLength ?? Infinity));
  let encoded = corpus.map((t) => enc.encode(t));
  if (o.sorted) encoded = [...encoded].sort((a, b) => a.ids.length - b.ids.length);
  const batches = Array.from({ length: Math.floor(encoded.length / o.batch) }, (_, i) => encoded.slice(i * o.batch, (i + 1) * o.batch));
  const pool = await WorkerPool.start(
    // onnxruntime's own defaults (its thread pools spin while they wait), as a program calling it plainly would have.
    { onnxPath: model.onnxPath, providers: PROVIDERS, threads: o.threads, allowSpinning: true, featuresOutput: model.featuresOutput, logitsOutput: model.logitsOutput, tokenizerJson: model.tokenizerJson, maxLength: enc.maxLength },
    o.workers,
    log,
  );
  try {
    let next = 0;
    const one = () => pool.run(SequenceEncoder.pad(batches[next++ % batches.length], enc.padId));
    await Promise.all(Array.from({ length: o.workers }, one)); // warm-up
    let done = 0;
    let runs = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: o.workers }, async () => {
        while (performance.now() - t0 < DURATION * 1000) {
          await one();
          done += o.batch;
          runs++;
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    const label = `${o.workers} session${o.workers > 1 ? 's' : ''} × ${o.threads} thread${o.threads > 1 ? 's' : ''}, batch ${o.batch}, ${o.sorted ? 'length-sorted' : 'arrival order'}`;
    return { label, perSecond: done / s, batchMs: (s * 1000 * o.workers) / runs };
  } finally {
    await pool.stop();
  }
}

// ---------------------------------------------------------------- servers

const PG_URL = process.env.BENCH_DATABASE_URL;
type Db = 'pglite' | 'postgres';
/** Embedded PGlite always; PostgreSQL too when BENCH_DATABASE_URL is set (`--databases` narrows it). */
const DATABASES: Db[] = (values.databases ?? (PG_URL ? 'pglite,postgres' : 'pglite')).split(',').map((d) => {
  if (d !== 'pglite' && d !== 'postgres') throw new Error(`--databases: unknown '${d}' (pglite, postgres)`);
  if (d === 'postgres' && !PG_URL) throw new Error('--databases postgres needs BENCH_DATABASE_URL');
  return d;
});

/** A fresh PostgreSQL database per service start when BENCH_DATABASE_URL is set (dropped when it stops), else embedded PGlite. */
async function databaseEnv(db: Db): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  if (db === 'pglite' || !PG_URL) return { env: {}, drop: async () => undefined };
  const scratch = await createScratchDatabase(PG_URL, 'modtune_bench_score');
  return { env: { DATABASE_URL: scratch.url }, drop: () => scratch.drop() };
}

let provider = 'unknown';

async function startService(m: BenchModel, env: Record<string, string>, db: Db) {
  const dataDir = await fsp.mkdtemp(path.join(WORK, 'data-'));
  const port = await freePort();
  const database = await databaseEnv(db);
  const profile = values['cpu-prof'] && db === DATABASES[0] && !env.BATCH_MAX_SIZE ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(values['cpu-prof'], `${m.name}-${db}`)] : [];
  const started = startProcess(
    process.execPath,
    [...profile, '--import', 'tsx', 'src/main.ts'],
    {
      MODEL_DIR: m.dir,
      MODEL_AUTO_BUILD: 'false',
      POLICY_DIR: m.policyDir,
      DATA_DIR: dataDir,
      PORT: String(port),
      MODTUNE_ADMIN_KEY: ADMIN,
      LOG_LEVEL: 'warn',
      MAX_SEQUENCE_LENGTH: String(MAX_LENGTH),
      TRAINING_SCHEDULER: 'false',
      // One key drives all the load here; the per-key limit would measure itself.
      RATE_LIMIT_PER_SECOND: '0',
      ...database.env,
      ...env,
    },
    null,
  );
  const { child } = await started;
  for (;;) {
    if (child.exitCode !== null) {
      await database.drop();
      throw new Error('the service exited during start-up');
    }
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => (r.ok ? (r.json() as Promise<{ model: { provider: string } }>) : null), () => null);
    if (ready) {
      provider = ready.model.provider;
      return {
        child,
        port,
        stop: async () => {
          await stop(child);
          await database.drop();
        },
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------- load
interface LoadResult {
  clients: number;
  perSecond: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
}

function pct(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function load(port: number, corpus: string[], clients: number, opts: { rate?: number; seconds?: number; auth?: boolean } = {}): Promise<LoadResult> {
  let k = Math.floor(Math.random() * corpus.length);
  const latencies: number[] = [];
  let errors = 0;
  let finish!: (r: autocannon.Result) => void;
  const finished = new Promise<autocannon.Result>((resolve) => (finish = resolve));
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: clients,
    duration: opts.seconds ?? DURATION,
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [
      {
        method: 'POST',
        path: '/v1/moderate',
        headers: { 'content-type': 'application/json', ...(opts.auth === false ? {} : { authorization: `Bearer ${ADMIN}` }) },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ input: corpus[k++ % corpus.length] }) }),
      },
    ],
  }, (err, result) => finish(err ? ({ errors: 1, timeouts: 0, duration: 1 } as autocannon.Result) : result));
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) latencies.push(ms);
    else errors++;
  });
  const result = await finished;
  errors += result.errors + result.timeouts;
  latencies.sort((a, b) => a - b);
  return { clients, perSecond: latencies.length / result.duration, p50: pct(latencies, 50), p95: pct(latencies, 95), p99: pct(latencies, 99), errors };
}

/**
 * Open-loop load at a fixed rate, evenly spaced (autocannon's rate limit sends each second's requests in
 * a burst). Latency counts from the scheduled send time, so a slow server cannot hide its queue
 * (no coordinated omission).
 */
async function openLoop(port: number, corpus: string[], rate: number, seconds: number): Promise<LoadResult> {
  const http = await import('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const latencies: number[] = [];
  let errors = 0;
  let k = Math.floor(Math.random() * corpus.length);
  const total = Math.floor(rate * seconds);
  const t0 = performance.now();
  const pending: Promise<void>[] = [];
  const send = (due: number) =>
    new Promise<void>((resolve) => {
      const body = JSON.stringify({ input: corpus[k++ % corpus.length] });
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/v1/moderate', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}`, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode && res.statusCode < 300) latencies.push(performance.now() - due);
            else errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait - 0.5));
    pending.push(send(due));
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { clients: 0, perSecond: latencies.length / ((performance.now() - t0) / 1000), p50: pct(latencies, 50), p95: pct(latencies, 95), p99: pct(latencies, 99), errors };
}

async function scrape(port: number): Promise<{ batchCount: number; batchSum: number; sizeSum: number; target: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const num = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? 0);
  return {
    batchCount: num('modtune_inference_batch_seconds_count'),
    batchSum: num('modtune_inference_batch_seconds_sum'),
    sizeSum: num('modtune_inference_batch_size_sum'),
    target: num('modtune_inference_batch_target_size'),
  };
}

async function warm(port: number, corpus: string[], auth = true) {
  await load(port, corpus, 8, { seconds: 2, auth });
}

// ---------------------------------------------------------------- main
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const row = (label: string, r: LoadResult) =>
  `| ${label} | ${r.clients} | ${f1(r.perSecond)} | ${f1(r.p50)} | ${f1(r.p95)} | ${f1(r.p99)} | ${r.errors} |`;

/** What one load at the reference client count cost, per text, by thread group (from /proc). */
interface Profiled {
  load: LoadResult;
  cpu: CpuSample | null;
  meanBatch: number;
  targetBatch: number;
  rssMb: number;
  peakMb: number;
}

async function profiledLoad(svc: { child: ChildProcess; port: number }, corpus: string[], clients: number): Promise<Profiled> {
  const before = await scrape(svc.port);
  const m = procCpu.available() ? procCpu.meter(svc.child.pid!) : null;
  const gen0 = process.cpuUsage();
  const r = await load(svc.port, corpus, clients);
  const cpu = m?.read() ?? null;
  const gen = process.cpuUsage(gen0);
  process.stdout.write(`  load generator: ${f1((gen.user + gen.system) / 10 / (DURATION * 1000))}% of one core\n`);
  const after = await scrape(svc.port);
  const mem = procCpu.available() ? procCpu.memory(svc.child.pid!) : { rssMb: NaN, peakMb: NaN };
  return { load: r, cpu, meanBatch: (after.sizeSum - before.sizeSum) / (after.batchCount - before.batchCount), targetBatch: after.target, ...mem };
}

function cpuLine(label: string, p: Profiled, db: 'pglite' | 'postgres'): { line: string; ratio: number } {
  const n = p.load.perSecond * DURATION;
  const c = p.cpu;
  if (!c) return { line: `| ${label} | /proc not available | | | | | |`, ratio: NaN };
  const per = (ms: number) => ms / n;
  const database = db === 'postgres' ? c.postgres : c.pglite;
  const requestPath = c.main + c.otherThreads + database;
  const ratio = requestPath / c.inference;
  return {
    line: `| ${label} | ${f2(per(c.inference))} | ${f2(per(c.main))} | ${f2(per(c.otherThreads))} | ${f2(per(database))} (${db === 'postgres' ? 'PostgreSQL processes' : 'mt-pglite thread'}) | ${f2(ratio)} | ${f1(p.meanBatch)} / ${p.targetBatch} | ${Math.round(p.rssMb)} (peak ${Math.round(p.peakMb)}) |`,
    ratio,
  };
}

async function benchModel(name: string, corpus: string[]): Promise<string[]> {
  const m = await prepare(name);
  const model = await loadModelDir(m.dir);
  const lines: string[] = [];
  process.stdout.write(`\n== ${name}: raw onnxruntime\n`);
  const layout = { workers: Math.min(CORES, 4), threads: Math.max(1, Math.floor(CORES / Math.min(CORES, 4))) };
  const raws: RawResult[] = [];
  for (const o of [
    { batch: 32, sorted: false, workers: 1, threads: CORES },
    { batch: 1, sorted: false, workers: 1, threads: CORES },
    { batch: 8, sorted: true, workers: 1, threads: CORES },
    { batch: 1, sorted: false, ...layout },
    { batch: 8, sorted: true, ...layout },
    { batch: 32, sorted: true, ...layout },
  ]) {
    raws.push(await rawThroughput(model, corpus, o));
  }
  const raw = raws.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
  lines.push(
    `### ${name} (${model.labels.length} labels, ${model.baseHead.dim}-d features, ${path.relative(ROOT, m.dir)})`,
    '',
    'Raw onnxruntime-node on pre-tokenized text (worker threads, no HTTP, tokenizer or database):',
    '',
    '| configuration | texts/s | ms per batch |',
    '|---|---|---|',
  );
  for (const r of raws) lines.push(`| ${r.label} | ${f1(r.perSecond)} | ${f1(r.batchMs)} |`);
  lines.push('', '| server | clients | texts/s | p50 ms | p95 ms | p99 ms | errors |', '|---|---|---|---|---|---|---|');

  const cpuRows: string[] = [];
  const ref = CLIENTS.includes(32) ? 32 : Math.max(...CLIENTS);
  const at = (rs: LoadResult[], c: number) => rs.find((r) => r.clients === c)?.perSecond ?? NaN;
  const summary: string[] = [];
  let onFirst: LoadResult[] = [];
  const rss: number[] = [];
  for (const db of DATABASES) {
    process.stdout.write(`== ${name}: service on ${db}, batching on${SERVICE_ENV_TEXT ? ` (${SERVICE_ENV_TEXT})` : ''}\n`);
    const on = await startService(m, SERVICE_ENV, db);
    await warm(on.port, corpus);
    const onResults: LoadResult[] = [];
    let batchTimeMs = NaN;
    for (const c of CLIENTS) {
      const before = await scrape(on.port);
      const p = c === ref ? await profiledLoad(on, corpus, c) : null;
      const r = p?.load ?? (await load(on.port, corpus, c));
      const after = await scrape(on.port);
      if (c === Math.max(...CLIENTS)) batchTimeMs = ((after.batchSum - before.batchSum) / (after.batchCount - before.batchCount)) * 1000;
      if (p) {
        const { line, ratio } = cpuLine(`modtune, ${db}, ${c} clients`, p, db);
        cpuRows.push(line);
        rss.push(p.rssMb);
        summary.push(
          `${db}: service / best raw = ${f2(r.perSecond / raw.perSecond)}; request-path CPU / inference CPU = ${f2(ratio)}; ` +
            `mean batch ${f1(p.meanBatch)} against the calibrated ${p.targetBatch} (${f2(p.meanBatch / p.targetBatch)})`,
        );
      }
      onResults.push(r);
      lines.push(row(`modtune (${db}, batching on)`, r));
      process.stdout.write(`  ${c} clients: ${f1(r.perSecond)}/s p99 ${f1(r.p99)} ms\n`);
    }
    const saturation = Math.max(...onResults.map((r) => r.perSecond));
    process.stdout.write(`== ${name}: half of saturation (${f1(saturation / 2)}/s)\n`);
    const half = await openLoop(on.port, corpus, saturation / 2, DURATION);
    lines.push(row(`modtune (${db}) at half saturation, open loop (${f1(saturation / 2)}/s evenly spaced)`, half).replace('| 0 |', '| – |'));
    summary.push(`${db}: p99 at half saturation ${f1(half.p99)} ms (batch time at saturation ${f1(batchTimeMs)} ms)`);
    await on.stop();
    if (onFirst.length === 0) onFirst = onResults;
  }

  process.stdout.write(`== ${name}: service on ${DATABASES[0]}, batching off\n`);
  const off = await startService(m, { BATCH_MAX_SIZE: '1', BATCH_MAX_WAIT_MS: '0' }, DATABASES[0]);
  await warm(off.port, corpus);
  const offResults: LoadResult[] = [];
  for (const c of CLIENTS.filter((x) => x >= 32)) {
    const r = await load(off.port, corpus, c);
    offResults.push(r);
    lines.push(row(`modtune (${DATABASES[0]}, batching off)`, r));
  }
  await off.stop();

  let peerRss = NaN;
  const peerResults: LoadResult[] = [];
  if (!values['no-peer']) {
    process.stdout.write(`== ${name}: transformers.js peer\n`);
    const peerDir = path.join(ROOT, 'bench/peer');
    if (!fs.existsSync(path.join(peerDir, 'node_modules/@huggingface/transformers'))) run('npm', ['ci', '--prefix', peerDir, '--no-audit', '--no-fund']);
    const peer = await startProcess(process.execPath, [path.join(peerDir, 'server.mjs'), m.peerRoot, name, String(CORES)], {}, /"port":(\d+)/);
    await warm(peer.port, corpus, false);
    for (const c of CLIENTS) {
      const r = await load(peer.port, corpus, c, { auth: false });
      peerResults.push(r);
      lines.push(row('transformers.js pipeline (peer, stores nothing)', r));
      if (c === ref && procCpu.available()) peerRss = procCpu.memory(peer.child.pid!).rssMb;
    }
    await stop(peer.child);
  }

  lines.push(
    '',
    `CPU per text at ${ref} clients, in ms, from /proc (inference: the mt-infer threads, tokenizing included; other threads: V8 and libuv helpers; ` +
      'request path: main + other threads + database), mean batch against the calibrated size, service memory in MB after the load:',
    '',
    '| service | inference | main thread | other threads | database | request path / inference | mean / calibrated batch | RSS MB |',
    '|---|---|---|---|---|---|---|---|',
    ...cpuRows,
    '',
    `Ratios (this run; execution provider: ${provider}; best raw: ${raw.label}, ${f1(raw.perSecond)}/s):`,
    '',
    ...summary.map((x) => `- ${x}`),
    `- service (${DATABASES[0]}) / transformers.js peer at ${ref} clients = ${f2(at(onFirst, ref) / at(peerResults, ref))}`,
    `- batching on / off at ${ref} clients = ${f2(at(onFirst, ref) / at(offResults, ref))}` +
      (CLIENTS.includes(64) ? `, at 64 clients = ${f2(at(onFirst, 64) / at(offResults, 64))}` : ''),
    `- service RSS (${DATABASES[0]}) / peer RSS at ${ref} clients = ${f2(rss[0] / peerRss)} (${Math.round(rss[0])} MB / ${Math.round(peerRss)} MB)`,
    '',
  );
  return lines;
}

async function main() {
  const { texts: corpus, source } = await benchTexts(3000, 7);
  const out: string[] = [
    `bench:score — ${new Date().toISOString()} — ${os.cpus()[0]?.model ?? 'cpu'} × ${CORES}, Node ${process.version}, ${DURATION} s per load, max length ${MAX_LENGTH}, texts: ${source}` +
      (SERVICE_ENV_TEXT ? `; the service with batching on: ${SERVICE_ENV_TEXT}` : ''),
    '',
  ];
  try {
    for (const name of MODELS) out.push(...(await benchModel(name, corpus)));
  } finally {
    await fsp.rm(WORK, { recursive: true, force: true });
  }
  process.stdout.write(`\n${out.join('\n')}\n`);
}

await main();
