/**
 * `npm run bench:soak [-- --minutes 10 --database-url postgres://... --clients 16 --moderators 2
 *                        --train-every 2 --sample-every 30 --warmup 2 --out results.json]`
 *
 * A mixed-load soak against the real server process (`node dist/main.js`, built by `npm run build`, the starter model
 * in models/default, embedded PGlite in a fresh temporary directory, or with --database-url a fresh
 * database on that PostgreSQL server, dropped at the end,
 * the shipped policies): moderation from `--clients` concurrent clients with mixed batch sizes,
 * moderators claiming and submitting verdicts, appeals now and then, and a training run every
 * `--train-every` minutes. It reads the server's resident memory and used V8 heap from /metrics
 * (`modtune_process_resident_memory_bytes`, `modtune_nodejs_heap_size_used_bytes`) and counts answers by
 * status. At the end: a table per minute (memory, requests, errors by status, moderation latency) and a
 * verdict on memory after the warm-up and on errors.
 *
 * Memory verdict: /metrics is read once a second; each --sample-every window keeps its last RSS and
 * the floor (lowest reading) of the used V8 heap. A single heap reading is nearly meaningless: under
 * this load it swings between ~50 and ~350 MB within seconds (the GC sawtooth). The floor is what the
 * last major GC left, so a window must be long enough to hold one: with 15-s windows, a window during a
 * training run (which loads its pairs on the main thread) sometimes held no major GC and its "floor" was
 * 130-220 MB, so 15-s floors had a standard deviation of ~30 MB and the slope an error of ±2.3 MB/min;
 * 30-s windows (the default) always held one in the 10-minute runs recorded in docs/RELIABILITY.md, and
 * their floors vary by about 5 MB. The verdict is the least-squares slope (MB/min) of RSS and heap floor
 * over the windows after the warm-up, with its standard error. The heap is "flat" when |slope| ≤ 1
 * MB/min. Why 1 MB/min: with 5 MB of noise per window, a 10-minute run's 16 post-warm-up windows fix
 * the slope to about ±0.5 MB/min (one standard error), so 1 MB/min is the smallest trend it can resolve
 * (two standard errors); a leak below that adds under 1.5 GB a day and needs a longer soak to see. A
 * slope above the bound is "GROWING" only if it is more than two standard errors above it, otherwise
 * "inconclusive" (short runs have few windows and an error of several MB/min). RSS is reported, not
 * judged: it includes the ONNX sessions' arenas and, with PGlite, the embedded database's WebAssembly
 * memory, which grows with its cache and never shrinks.
 *
 * Texts are tweets from Davidson (DAVIDSON_CSV, or datasets/davidson-2017 in the clone) when present (never printed), otherwise
 * generated sentences. Exits 1 if any request answered 5xx or hung, the server died, or the heap grew.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { mulberry32 } from '../src/random.js';
import { baseEnv, sleep, startService, type ServiceProcess } from '../test/helpers/process.js';
import { createScratchDatabase } from '../test/helpers/scratch-database.js';
import { loadDavidson } from './davidson.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'database-url': { type: 'string' },
    clients: { type: 'string', default: '16' },
    moderators: { type: 'string', default: '2' },
    'train-every': { type: 'string', default: '2' },
    'sample-every': { type: 'string', default: '30' },
    warmup: { type: 'string', default: '2' },
    'model-dir': { type: 'string', default: 'models/default' },
    out: { type: 'string' },
    seed: { type: 'string', default: '1' },
  },
});
const MINUTES = Number(values.minutes);
const CLIENTS = Number(values.clients);
const MODERATORS = Number(values.moderators);
const TRAIN_EVERY_MS = Number(values['train-every']) * 60_000;
const SAMPLE_EVERY_MS = Number(values['sample-every']) * 1_000;
const WARMUP_MIN = Number(values.warmup);
const MODEL_DIR = path.resolve(values['model-dir']!);
const SEED = Number(values.seed);
const ADMIN = `mt_soak_${'k'.repeat(40)}`;
/** The heap's slope bound for "flat" (see the header for why). */
const FLAT_MB_PER_MIN = 1;
/** A request still open after this is a hang (the service's own deadline is 30 s). */
const HANG_MS = 60_000;

for (const [name, v] of Object.entries({ minutes: MINUTES, clients: CLIENTS, moderators: MODERATORS, 'train-every': TRAIN_EVERY_MS, 'sample-every': SAMPLE_EVERY_MS })) {
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`bench:soak: --${name} must be a positive number\n`);
    process.exit(2);
  }
}

// ---------------------------------------------------------------- texts
async function texts(): Promise<{ texts: string[]; source: string }> {
  const rng = mulberry32(SEED);
  const rows = await loadDavidson();
  if (rows) return { texts: rows.map((r) => r.text), source: `${rows.length} tweets from davidson-2017` };
  const words = 'the a you we they people weather today tomorrow help thanks great terrible stupid idea movie game team city night morning news kill hate love idiot nice'.split(' ');
  const out = Array.from({ length: 5000 }, () => Array.from({ length: 4 + Math.floor(rng() * 24) }, () => words[Math.floor(rng() * words.length)]).join(' '));
  return { texts: out, source: 'generated sentences (davidson-2017 not found)' };
}

// ---------------------------------------------------------------- bookkeeping
interface Sample {
  /** Minutes since the load started (end of the window). */
  t: number;
  /** Resident memory at the end of the window. */
  rssMb: number;
  /** The lowest used heap read in the window (polled every second): the floor the last GC left. */
  heapMb: number;
  /** The highest used heap read in the window: the top of the GC sawtooth. */
  heapPeakMb: number;
}

class Tally {
  /** Per minute: requests, statuses (non-2xx), moderation latencies. */
  minutes: { requests: number; errors: Map<string, number>; moderateMs: number[]; decisions: number }[] = [];
  total = new Map<string, number>();
  errorBodies = new Map<string, string>();
  constructor(private readonly t0: number) {}

  private minute(at: number) {
    // Requests still in flight at the end count in the last minute.
    const m = Math.min(Math.ceil(MINUTES) - 1, Math.max(0, Math.floor((at - this.t0) / 60_000)));
    while (this.minutes.length <= m) this.minutes.push({ requests: 0, errors: new Map(), moderateMs: [], decisions: 0 });
    return this.minutes[m];
  }

  record(route: string, status: string, ms: number, body?: string): void {
    const m = this.minute(Date.now());
    m.requests++;
    const key = `${route} ${status}`;
    this.total.set(key, (this.total.get(key) ?? 0) + 1);
    if (!status.startsWith('2')) {
      m.errors.set(status, (m.errors.get(status) ?? 0) + 1);
      if (body && !this.errorBodies.has(key)) this.errorBodies.set(key, body.slice(0, 300));
    }
    if (route === 'moderate' && status.startsWith('2')) m.moderateMs.push(ms);
  }

  decisions(n: number): void {
    this.minute(Date.now()).decisions += n;
  }
}

interface Ctx {
  base: string;
  tally: Tally;
  stopAt: number;
}

async function call(ctx: Ctx, route: string, method: string, url: string, key: string, body?: unknown): Promise<{ status: number; body: any } | null> {
  const started = performance.now();
  try {
    const res = await fetch(`${ctx.base}${url}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(HANG_MS),
    });
    const text = await res.text();
    ctx.tally.record(route, String(res.status), performance.now() - started, res.ok ? undefined : text);
    return { status: res.status, body: text ? JSON.parse(text) : null };
  } catch (err) {
    const what = (err as Error).name === 'TimeoutError' ? 'hang' : 'network error';
    ctx.tally.record(route, what, performance.now() - started, (err as Error).message);
    return null;
  }
}

/** Batch sizes as integrations send them: mostly single texts, some small batches, a few large ones. */
function batchSize(rng: () => number): number {
  const u = rng();
  if (u < 0.5) return 1;
  if (u < 0.85) return 2 + Math.floor(rng() * 7);
  return 16 + Math.floor(rng() * 17);
}

async function moderationClient(ctx: Ctx, key: string, pool: string[], i: number, recent: string[]): Promise<void> {
  const rng = mulberry32(SEED * 1000 + i);
  while (Date.now() < ctx.stopAt) {
    const n = batchSize(rng);
    const input = Array.from({ length: n }, (_, k) => {
      const text = pool[Math.floor(rng() * pool.length)];
      return rng() < 0.2 ? { text, context: `reply in thread ${i}-${k}`, external_id: `soak-${i}-${Date.now()}-${k}` } : text;
    });
    const r = await call(ctx, 'moderate', 'POST', '/v1/moderate', key, { input });
    if (r?.status === 200) {
      const results = r.body.results as { decision_id: string }[];
      ctx.tally.decisions(results.length);
      recent.push(results[0].decision_id);
      if (recent.length > 500) recent.splice(0, recent.length - 500);
    } else {
      await sleep(100);
    }
  }
}

async function moderator(ctx: Ctx, key: string, i: number): Promise<void> {
  const rng = mulberry32(SEED * 2000 + i);
  while (Date.now() < ctx.stopAt) {
    const claimed = await call(ctx, 'claim', 'POST', '/v1/review/claim', key, { limit: 10 });
    const tasks = (claimed?.status === 200 ? claimed.body.data : []) as { id: string; policy: { categories: string[] }; start: Record<string, boolean> }[];
    if (tasks.length === 0) {
      await sleep(500);
      continue;
    }
    for (const task of tasks) {
      if (Date.now() >= ctx.stopAt) return;
      // Mostly keeps where the task starts (the model's labels; nothing on a blind audit), sometimes not.
      const categories = Object.fromEntries(task.policy.categories.map((c) => [c, rng() < 0.15 ? !task.start[c] : task.start[c] === true]));
      await call(ctx, 'verdict', 'POST', `/v1/review/tasks/${task.id}/verdict`, key, { categories, ...(rng() < 0.1 ? { notes: 'soak' } : {}) });
      await sleep(20);
    }
  }
}

async function appeals(ctx: Ctx, key: string, recent: string[]): Promise<number> {
  const rng = mulberry32(SEED * 3000);
  let made = 0;
  while (Date.now() < ctx.stopAt) {
    await sleep(2_000 + rng() * 4_000);
    const id = recent[Math.floor(rng() * recent.length)];
    if (!id || Date.now() >= ctx.stopAt) continue;
    const r = await call(ctx, 'appeal', 'POST', `/v1/decisions/${id}/appeal`, key, { reason: 'the author says this was taken out of context' });
    if (r?.status === 201) made++;
  }
  return made;
}

async function trainer(ctx: Ctx): Promise<string[]> {
  const runs: string[] = [];
  while (Date.now() + TRAIN_EVERY_MS < ctx.stopAt) {
    await sleep(TRAIN_EVERY_MS);
    const r = await call(ctx, 'training', 'POST', '/v1/training/runs', ADMIN, {});
    if (r?.status === 202) runs.push(r.body.id);
  }
  return runs;
}

async function sampleMemory(base: string): Promise<{ rssMb: number; heapMb: number } | null> {
  try {
    const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
    const read = (name: string) => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) / 2 ** 20 : NaN;
    };
    return { rssMb: read('modtune_process_resident_memory_bytes'), heapMb: read('modtune_nodejs_heap_size_used_bytes') };
  } catch {
    return null;
  }
}

/** Least-squares slope of y over x and its standard error. */
function slope(xs: number[], ys: number[]): { slope: number; se: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const b = sxy / sxx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (ys[i] - (my + b * (xs[i] - mx))) ** 2;
  return { slope: b, se: n > 2 ? Math.sqrt(sse / (n - 2) / sxx) : NaN };
}

const pct = (a: number[], p: number) => {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  if (!fs.existsSync(path.join(MODEL_DIR, 'config.json'))) {
    console.log(`building the starter model into ${MODEL_DIR} ...`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/build-model.ts', '--out', MODEL_DIR], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm run model:build failed');
  }
  const { texts: pool, source } = await texts();
  const work = await fsp.mkdtemp(path.join(os.tmpdir(), 'modtune-soak-'));
  // A fresh database on the given server, dropped at the end: the soak writes hundreds of thousands of rows.
  const scratch = values['database-url'] ? await createScratchDatabase(values['database-url'], 'modtune_soak') : null;
  const dbUrl = scratch?.url;
  const started = Date.now();
  const server: ServiceProcess = await startService(
    baseEnv({
      DATABASE_URL: dbUrl,
      DATA_DIR: path.join(work, 'data'),
      MODEL_DIR,
      MODEL_AUTO_BUILD: 'false',
      PORT: '0',
      MODTUNE_ADMIN_KEY: ADMIN,
      // One key serves all the clients here; production clients would each have their own limit.
      RATE_LIMIT_PER_SECOND: '0',
      // Training runs come from this script, on its own clock.
      TRAINING_SCHEDULER: 'false',
      LOG_LEVEL: 'info',
      EXECUTION_PROVIDERS: process.env.EXECUTION_PROVIDERS,
      INFERENCE_WORKERS: process.env.INFERENCE_WORKERS,
    }),
    { timeoutMs: 120_000 },
  );
  const base = server.baseUrl;
  const mkKey = async (name: string, role: string): Promise<string> => {
    const r = await fetch(`${base}/v1/admin/api-keys`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${ADMIN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, role }),
    });
    if (r.status !== 201) throw new Error(`creating a ${role} key: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { key: string }).key;
  };
  const clientKey = await mkKey('soak-client', 'client');
  const moderatorKeys = await Promise.all(Array.from({ length: MODERATORS }, (_, i) => mkKey(`soak-moderator-${i}`, 'moderator')));
  const cores = os.availableParallelism();
  console.log(
    `soak: ${MINUTES} min, ${CLIENTS} moderation clients, ${MODERATORS} moderators, appeals every 2–6 s, a training run every ${TRAIN_EVERY_MS / 60_000} min; ` +
      `${dbUrl ? 'PostgreSQL' : 'embedded PGlite'}; ${source}; ${cores} cores; server up in ${Date.now() - started} ms (pid ${server.pid})`,
  );

  const t0 = Date.now();
  const ctx: Ctx = { base, tally: new Tally(t0), stopAt: t0 + MINUTES * 60_000 };
  const samples: Sample[] = [];
  // /metrics is read every second; each window of --sample-every seconds keeps its last RSS and the
  // floor and peak of the used heap, since a single heap reading lands anywhere on the GC sawtooth.
  let window: { rss: number; heapMin: number; heapMax: number } | null = null;
  const poll = async () => {
    const m = await sampleMemory(base);
    if (!m) return;
    window = { rss: m.rssMb, heapMin: Math.min(window?.heapMin ?? Infinity, m.heapMb), heapMax: Math.max(window?.heapMax ?? 0, m.heapMb) };
  };
  const close = () => {
    if (!window) return;
    const s: Sample = { t: (Date.now() - t0) / 60_000, rssMb: window.rss, heapMb: window.heapMin, heapPeakMb: window.heapMax };
    samples.push(s);
    window = null;
    process.stdout.write(`  ${f1(s.t)} min: RSS ${f1(s.rssMb)} MB, heap floor ${f1(s.heapMb)} MB (peak ${f1(s.heapPeakMb)} MB)\n`);
  };
  const sampler = (async () => {
    let next = t0 + SAMPLE_EVERY_MS;
    while (Date.now() < ctx.stopAt) {
      await sleep(1_000);
      await poll();
      if (Date.now() >= next || Date.now() >= ctx.stopAt) {
        close();
        next += SAMPLE_EVERY_MS;
      }
    }
  })();
  const recent: string[] = [];
  const [, , appealsMade, runIds] = await Promise.all([
    Promise.all(Array.from({ length: CLIENTS }, (_, i) => moderationClient(ctx, clientKey, pool, i, recent))),
    Promise.all(moderatorKeys.map((k, i) => moderator(ctx, k, i))),
    appeals(ctx, clientKey, recent),
    trainer(ctx),
    sampler,
  ]);
  const loadMs = Date.now() - t0;

  // Training runs: how each ended (wait a little for the last one).
  const runStatus = new Map<string, string>();
  const deadline = Date.now() + 60_000;
  for (const id of runIds) {
    for (;;) {
      const r = await fetch(`${base}/v1/training/runs/${id}`, { headers: { Authorization: `Bearer ${ADMIN}` } });
      const body = (await r.json()) as { status: string; data?: { pairs?: number } };
      if (!['queued', 'running'].includes(body.status) || Date.now() > deadline) {
        runStatus.set(id, body.status);
        break;
      }
      await sleep(500);
    }
  }
  const stopT = Date.now();
  const exit = await server.stop('SIGTERM');
  const shutdownMs = Date.now() - stopT;
  await fsp.rm(work, { recursive: true, force: true });
  await scratch?.drop();

  // ------------------------------------------------------------ report
  const tally = ctx.tally;
  console.log('\nminute | RSS MB | heap floor MB | heap peak MB | requests | decisions | moderate p50/p99 ms | errors by status');
  console.log('-------|--------|---------------|--------------|----------|-----------|---------------------|-----------------');
  tally.minutes.forEach((m, i) => {
    const inMin = samples.filter((s) => Math.min(Math.ceil(MINUTES) - 1, Math.floor(s.t - 1e-9)) === i);
    const rss = inMin.length ? inMin[inMin.length - 1].rssMb : NaN;
    const floor = Math.min(...inMin.map((s) => s.heapMb));
    const peak = Math.max(...inMin.map((s) => s.heapPeakMb));
    const errors = [...m.errors].map(([k, v]) => `${k}: ${v}`).join(', ') || '0';
    console.log(
      `${String(i + 1).padStart(6)} | ${f1(rss).padStart(6)} | ${f1(floor).padStart(13)} | ${f1(peak).padStart(12)} | ${String(m.requests).padStart(8)} | ${String(m.decisions).padStart(9)} | ${`${Math.round(pct(m.moderateMs, 50))}/${Math.round(pct(m.moderateMs, 99))}`.padStart(19)} | ${errors}`,
    );
  });
  console.log('(RSS at the end of the minute; heap floor and peak: lowest and highest used heap read in it, once a second)\n');

  console.log('requests by route and status:');
  for (const [k, v] of [...tally.total].sort()) console.log(`  ${k}: ${v}`);
  for (const [k, v] of tally.errorBodies) console.log(`  first ${k} answer: ${v}`);
  const runs = [...runStatus.values()].reduce((m, s) => m.set(s, (m.get(s) ?? 0) + 1), new Map<string, number>());
  console.log(`training runs: ${runIds.length} started (${[...runs].map(([k, v]) => `${k}: ${v}`).join(', ') || 'none'}); appeals opened: ${appealsMade}`);
  console.log(`server: SIGTERM → exit ${exit.code ?? exit.signal} in ${shutdownMs} ms`);

  const post = samples.filter((s) => s.t >= WARMUP_MIN);
  const statuses = [...tally.total].map(([k, v]) => ({ status: k.split(' ').slice(1).join(' '), v }));
  const fivexx = statuses.filter((s) => s.status.startsWith('5')).reduce((a, s) => a + s.v, 0);
  const hangs = statuses.filter((s) => s.status === 'hang' || s.status === 'network error').reduce((a, s) => a + s.v, 0);
  let heapVerdict = 'too short to judge (fewer than 3 samples after the warm-up)';
  let growing = false;
  let summary: Record<string, unknown> = {};
  console.log('\nverdict:');
  if (post.length >= 3) {
    const rss = slope(post.map((s) => s.t), post.map((s) => s.rssMb));
    const heap = slope(post.map((s) => s.t), post.map((s) => s.heapMb));
    const first = post[0];
    const last = post[post.length - 1];
    growing = heap.slope - 2 * heap.se > FLAT_MB_PER_MIN;
    heapVerdict =
      Math.abs(heap.slope) <= FLAT_MB_PER_MIN
        ? `flat (|slope| ≤ ${FLAT_MB_PER_MIN} MB/min)`
        : heap.slope < -FLAT_MB_PER_MIN
          ? 'falling (no growth)'
          : growing
            ? `GROWING (more than 2 standard errors above ${FLAT_MB_PER_MIN} MB/min)`
            : `inconclusive (above ${FLAT_MB_PER_MIN} MB/min but within 2 standard errors: run longer)`;
    console.log(`  memory after the ${WARMUP_MIN}-min warm-up (${post.length} samples, ${f1(first.t)}–${f1(last.t)} min):`);
    console.log(`    RSS  ${f1(first.rssMb)} → ${f1(last.rssMb)} MB, slope ${signed(rss.slope)} ± ${rss.se.toFixed(2)} MB/min`);
    console.log(`    heap floor ${f1(first.heapMb)} → ${f1(last.heapMb)} MB, slope ${signed(heap.slope)} ± ${heap.se.toFixed(2)} MB/min → ${heapVerdict}`);
    summary = { rssSlope: rss, heapSlope: heap };
  } else {
    console.log(`  memory: ${heapVerdict}`);
  }
  const decisions = tally.minutes.reduce((a, m) => a + m.decisions, 0);
  console.log(`  load: ${decisions} decisions in ${f1(loadMs / 60_000)} min (${f1(decisions / (loadMs / 1000))}/s)`);
  console.log(`  errors: ${fivexx} 5xx (expected 0), ${hangs} hung or failed connections (expected 0)`);
  const died = exit.code !== 0;
  if (died) console.log(`  the server did not shut down cleanly; its last output:\n${server.tail().split('\n').slice(-20).join('\n')}`);
  const problems = [...server.problemCounts()];
  if (problems.length) console.log(`  server warnings/errors: ${problems.map(([k, v]) => `${v}× ${k}`).join(' | ')}`);

  if (values.out) {
    await fsp.writeFile(
      values.out,
      JSON.stringify({ minutes: MINUTES, clients: CLIENTS, moderators: MODERATORS, database: dbUrl ? 'postgres' : 'pglite', source, samples, perMinute: tally.minutes.map((m) => ({ requests: m.requests, decisions: m.decisions, errors: Object.fromEntries(m.errors), p50: pct(m.moderateMs, 50), p99: pct(m.moderateMs, 99) })), totals: Object.fromEntries(tally.total), runs: Object.fromEntries(runs), appeals: appealsMade, ...summary }, null, 2),
    );
  }
  process.exitCode = fivexx > 0 || hangs > 0 || died || growing ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`bench:soak: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
