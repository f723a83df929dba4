/**
 * `npm run bench:train-run [-- --items 10000 --preset minilm-l6]`: what a training run on a real-sized
 * backbone costs, end to end through the service (in-process, real HTTP, in-memory PGlite). A synthetic
 * MiniLM-L6-shaped BERT (6 layers, hidden 384, random weights: the cost of a real one, not its quality) is
 * imported; `--items` Davidson tweets (or generated texts without the dataset) are moderated on the
 * starter model and every one reviewed; then the BERT is activated and three runs are timed:
 *   1. the first run on the BERT: every reviewed item's features recomputed (the starter scored them);
 *   2. a second run on the same labels: the features read back from item_features, nothing recomputed;
 *   3. after as many new items scored by the BERT itself: their features read from their decisions.
 * Prints each run's wall time, the fit's time (the worker's) and the feature counts from its snapshot.
 * The drift check is off (a random-weight head's agreement with moderators means nothing); the gate is on.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/logger.js';
import { importModel } from '../src/models/import/importer.js';
import { parsePolicy } from '../src/policy/loader.js';
import { mulberry32 } from '../src/random.js';
import { ModtuneServer } from '../src/server.js';
import { buildTransformerClassifier, type PresetName } from '../tools/synthetic/index.js';
import { labelsFor, loadDavidson } from './davidson.js';
import { starterModel } from './models.js';

const { values } = parseArgs({ options: { items: { type: 'string', default: '10000' }, preset: { type: 'string', default: 'minilm-l6' } } });
const N = Number(values.items);
const say = (m: string) => process.stderr.write(`[bench:train-run] ${m}\n`);
const CATEGORIES = ['hate', 'harassment', 'violence'];

// The texts and their labels: Davidson's majority class where it is here, else generated texts.
const davidson = await loadDavidson(process.env.DAVIDSON_CSV ? path.resolve(process.env.DAVIDSON_CSV) : undefined);
const rng = mulberry32(1);
const pool = davidson
  ? davidson.map((t) => ({ text: t.text, ...labelsFor(t.cls) }))
  : Array.from({ length: 2 * N }, (_, i) => ({ text: `item ${i} ${['calm', 'rude', 'hateful', 'kind', 'plain'][i % 5]} words ${Math.floor(rng() * 1e6)}`, hate: i % 5 === 2, harassment: i % 5 === 1 }));
if (pool.length < 2 * N) throw new Error(`the data has ${pool.length} texts; --items ${N} needs ${2 * N}`);
for (let i = pool.length - 1; i > 0; i--) {
  const j = Math.floor(rng() * (i + 1));
  [pool[i], pool[j]] = [pool[j], pool[i]];
}
say(`${davidson ? 'Davidson' : 'generated texts (no dataset found)'}: ${N} items per phase`);

// The backbone: a MiniLM-shaped BERT in the models directory, next to the starter.
const modelsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-train-run-'));
// The starter (models/default, built here on a fresh clone), or MODEL_DIR's.
const starterDir = process.env.MODEL_DIR ? path.resolve(process.env.MODEL_DIR) : starterModel(path.resolve('.'));
await fs.symlink(starterDir, path.join(modelsDir, 'default'));
const src = path.join(modelsDir, 'src');
await buildTransformerClassifier({ arch: 'bert', preset: values.preset as PresetName, labels: CATEGORIES, problemType: 'multi_label_classification' }, src);
const logger = createLogger(process.env.BENCH_LOG_LEVEL ?? 'error');
const imported = await importModel({ sourceDir: src, outDir: path.join(modelsDir, 'minilm'), logger });
say(`backbone: ${values.preset} BERT, ${imported.classifier.hidden} features`);

const ADMIN = `mt_bench_${randomBytes(24).toString('hex')}`;
const policy = parsePolicy(
  'default',
  [
    'categories:',
    ...CATEGORIES.map((c) => `  ${c}: { flag: 0.5, block: 0.95 }`),
    'review: { audit_rate: 1, reviews_per_task: 1, audit_reviews_per_task: 1, blind: none, confirm_block_rate: 0 }',
    // A timing bench: a random-weight backbone's base head flags at random, so its agreement with the
    // labels says nothing and the drift check would hold phase 3's batch for it.
    'drift: { enabled: false }',
  ].join('\n'),
);
const config = loadConfig({
  MODEL_DIR: path.join(modelsDir, 'default'),
  MODEL_AUTO_BUILD: 'true',
  MODTUNE_ADMIN_KEY: ADMIN,
  EXECUTION_PROVIDERS: 'cpu',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'error',
  TRAINING_SCHEDULER: 'false',
  RATE_LIMIT_PER_SECOND: '0',
});
const database = await openDatabase({ dataDir: 'memory://', logger });
const server = await ModtuneServer.create(config, { database, logger, policies: new Map([[policy.name, policy]]) });
const { port } = await server.start();
const base = `http://127.0.0.1:${port}`;

async function call<T = any>(method: string, url: string, key: string, body?: unknown, ok = [200, 201, 202]): Promise<T> {
  const res = await fetch(base + url, { method, headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = (await res.json()) as T & { error?: { message: string } };
  if (!ok.includes(res.status)) throw new Error(`${method} ${url}: ${res.status} ${json.error?.message ?? ''}`);
  return json;
}
const CLIENT = (await call<{ key: string }>('POST', '/v1/admin/api-keys', ADMIN, { name: 'bench client', role: 'client' })).key;
const MODERATOR = (await call<{ key: string }>('POST', '/v1/admin/api-keys', ADMIN, { name: 'bench moderator', role: 'moderator' })).key;

/** Moderates the items and reviews every task with the items' labels. */
async function moderateAndReview(items: typeof pool): Promise<number> {
  const t = performance.now();
  const byTask = new Map<string, (typeof pool)[number]>();
  for (let i = 0; i < items.length; i += 64) {
    const chunk = items.slice(i, i + 64);
    const r = await call<{ results: { review_task_id: string }[] }>('POST', '/v1/moderate', CLIENT, { input: chunk.map((x) => x.text) });
    r.results.forEach((x, k) => byTask.set(x.review_task_id, chunk[k]));
  }
  for (;;) {
    const claimed = await call<{ data: { id: string }[] }>('POST', '/v1/review/claim', MODERATOR, { limit: 50 });
    if (claimed.data.length === 0) break;
    await Promise.all(
      claimed.data.map((task) => {
        const x = byTask.get(task.id)!;
        return call('POST', `/v1/review/tasks/${task.id}/verdict`, MODERATOR, { categories: { hate: x.hate, harassment: x.harassment, violence: false } });
      }),
    );
  }
  return (performance.now() - t) / 1000;
}

interface Run {
  status: string;
  metrics: { seconds: number } | null;
  data_snapshot: { train_items?: number; features_recomputed: number; features_cached?: number; cells?: number } & Record<string, unknown>;
}
async function timedRun(force: boolean): Promise<{ run: Run; wall: number }> {
  const t = performance.now();
  const { id } = await call<{ id: string }>('POST', '/v1/training/runs', ADMIN, { force });
  for (;;) {
    const run = await call<Run & { id: string }>('GET', `/v1/training/runs/${id}`, ADMIN);
    if (!['queued', 'running'].includes(run.status)) return { run, wall: (performance.now() - t) / 1000 };
    await new Promise((r) => setTimeout(r, 200));
  }
}

const rows: string[] = [];
const row = (what: string, r: { run: Run; wall: number }) => {
  const s = r.run.data_snapshot;
  if (!['promoted', 'rejected'].includes(r.run.status)) say(`${what}: ${r.run.status}: ${JSON.stringify((r.run as { error?: string }).error ?? '')}`);
  rows.push(`| ${what} | ${r.run.status} | ${s.features_recomputed} | ${s.features_cached ?? 0} | ${r.wall.toFixed(1)} | ${r.run.metrics?.seconds !== undefined ? r.run.metrics.seconds.toFixed(1) : '–'} |`);
  say(rows.at(-1)!);
};
try {
  say(`phase 1: ${N} items moderated on the starter and reviewed in ${(await moderateAndReview(pool.slice(0, N))).toFixed(0)} s`);
  const reg = await call<{ base_head: { id: string } }>('POST', '/v1/models/backbones', ADMIN, { path: path.join(modelsDir, 'minilm'), name: 'minilm' });
  await call('POST', `/v1/models/${reg.base_head.id}/activate`, ADMIN, {});
  row('1. first run on the BERT (features recomputed)', await timedRun(false));
  row('2. again, same labels (features kept)', await timedRun(true));
  say(`phase 2: ${N} more items moderated on the BERT and reviewed in ${(await moderateAndReview(pool.slice(N, 2 * N))).toFixed(0)} s`);
  row(`3. with ${N} items the BERT scored (features from their decisions)`, await timedRun(false));
  process.stdout.write(
    [
      `bench:train-run — ${N} reviewed items per phase, ${values.preset} BERT (${imported.classifier.hidden} features), ${os.cpus().length} cores, Node ${process.version}`,
      '',
      '| run | outcome | features recomputed | features kept (read back) | wall s | fit s (worker) |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
    ].join('\n'),
  );
} finally {
  await server.destroy();
  // The server leaves a database it was given open; its thread would keep the bench alive.
  await database.destroy();
  await fs.rm(modelsDir, { recursive: true, force: true });
}
