/**
 * `npm run bench:loop [-- --rounds 5 --per-round 2000 --heldout 1000 --seed 1]`: the feedback loop on
 * real data. Davidson et al. (2017) tweets go through the running service (in-process, real HTTP on a
 * loopback port, models/default or $MODEL_DIR (the starter model is built there if missing), in-memory
 * PGlite): moderate → simulated moderators review
 * every decision → a DPO training run → the gate's decision → accuracy of the active head on a fixed
 * held-out set that never trains. Then one round of inverted labels, which the gate should reject; a
 * rejected candidate is also scored on the held-out set (activated briefly, then rolled back) so the
 * table shows whether rejecting it was right. `--all-data-first` is the control for "more runs on the
 * same pairs" versus "more feedback". Results and discussion: docs/EXPERIMENTS.md.
 *
 * Needs ../shared/datasets/davidson-2017/labeled_data.csv (outside the repository; exits with code 2
 * when it is absent). Never prints a tweet: only counts and metrics.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/logger.js';
import { parsePolicy } from '../src/policy/loader.js';
import type { Policy } from '../src/policy/policy.js';
import { ModtuneServer } from '../src/server.js';
import { mulberry32 } from '../src/random.js';
import { DAVIDSON_PATH, HATE, labelsFor, loadDavidson, moderatorClass, NEITHER, OFFENSIVE, type DavidsonClass, type PolicyLabels, type Tweet } from './davidson.js';

const USAGE = `usage: npm run bench:loop -- [--rounds N] [--per-round N] [--heldout N] [--seed N]
  [--epochs N] [--learning-rate X] [--beta X] [--batch-size N] [--anchor-weight X] [--min-improvement X] [--no-inverted]
  [--all-data-first]   control: round 1 reviews all the rounds' tweets at once, later rounds only retrain
  [--inverted-tweets N] size of the inverted round (default: --per-round)`;

const CATEGORIES = ['hate', 'harassment'] as const;
type Category = (typeof CATEGORIES)[number];

function parseCli() {
  try {
    return parseArgs({
      options: {
        rounds: { type: 'string', default: '5' },
        'per-round': { type: 'string', default: '2000' },
        heldout: { type: 'string', default: '1000' },
        seed: { type: 'string', default: '1' },
        epochs: { type: 'string', default: '30' },
        'learning-rate': { type: 'string', default: '0.05' },
        beta: { type: 'string', default: '0.1' },
        'batch-size': { type: 'string', default: '32' },
        'anchor-weight': { type: 'string', default: '0.1' },
        'min-improvement': { type: 'string', default: '0.005' },
        'no-inverted': { type: 'boolean', default: false },
        'all-data-first': { type: 'boolean', default: false },
        'inverted-tweets': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const { values: args } = parseCli();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const num = (name: keyof typeof args, integer = false): number => {
  const v = Number(args[name]);
  if (!Number.isFinite(v) || (integer && (!Number.isInteger(v) || v < 1))) {
    console.error(`--${name} must be a ${integer ? 'positive whole number' : 'number'}, got '${String(args[name])}'\n${USAGE}`);
    process.exit(2);
  }
  return v;
};
const ROUNDS = num('rounds', true);
const PER_ROUND = num('per-round', true);
const HELDOUT = num('heldout', true);
const SEED = num('seed');
const INVERTED = args['no-inverted'] ? 0 : args['inverted-tweets'] === undefined ? PER_ROUND : num('inverted-tweets', true);
const TRAINING = {
  loss: 'sigmoid',
  beta: num('beta'),
  learning_rate: num('learning-rate'),
  epochs: num('epochs', true),
  batch_size: num('batch-size', true),
  anchor_weight: num('anchor-weight'),
  min_pairs: 50,
  seed: 42,
};
const GATE = { min_eval_items: 50, min_improvement: num('min-improvement'), max_recall_drop: 0.05, max_p_value: null };
const CHUNK = 64; // MAX_INPUTS default
const MODEL_DIR = path.resolve(process.env.MODEL_DIR ?? 'models/default');

// ---------------------------------------------------------------- data

const DATA_FILE = process.env.DAVIDSON_CSV ? path.resolve(process.env.DAVIDSON_CSV) : DAVIDSON_PATH;
const tweets = await loadDavidson(DATA_FILE);
if (!tweets) {
  console.error(
    `bench:loop needs the Davidson et al. (2017) dataset at ${DATA_FILE} (outside the repository; see ` +
      '../shared/datasets/README.md). It is not there, so the experiment cannot run.',
  );
  process.exit(2);
}
const needed = HELDOUT + ROUNDS * PER_ROUND + INVERTED;
if (needed > tweets.length) {
  console.error(`the experiment needs ${needed} tweets (held-out + rounds) but the dataset has ${tweets.length}; use fewer rounds or smaller rounds`);
  process.exit(2);
}

function shuffled<T>(xs: T[], rng: () => number): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** A held-out set stratified by majority class (so the rare hate class is represented as in the data), the rest shuffled. */
function split(all: Tweet[], heldout: number, seed: number): { heldout: Tweet[]; pool: Tweet[] } {
  const rng = mulberry32(seed);
  const byClass = [HATE, OFFENSIVE, NEITHER].map((c) => shuffled(all.filter((t) => t.cls === c), rng));
  const take = byClass.map((ts) => Math.round((heldout * ts.length) / all.length));
  take[OFFENSIVE] += heldout - take.reduce((a, b) => a + b, 0);
  const held = byClass.flatMap((ts, c) => ts.slice(0, take[c]));
  const rest = byClass.flatMap((ts, c) => ts.slice(take[c]));
  return { heldout: held, pool: shuffled(rest, rng) };
}

const { heldout, pool } = split(tweets, HELDOUT, SEED);

// ---------------------------------------------------------------- policies

const policyYaml = (o: { review: Record<string, unknown>; block: number | null; extra?: string[] }) =>
  [
    'description: bench:loop (Davidson et al. 2017 replay)',
    'categories:',
    ...CATEGORIES.map((c) => `  ${c}: { flag: 0.5, block: ${o.block === null ? 'null' : o.block} }`),
    `review: ${JSON.stringify(o.review)}`,
    ...(o.extra ?? []),
  ].join('\n');

// Every decision is audited (and so reviewed) once; 20% of reviewed items form the gate's eval split.
const mainPolicy = parsePolicy(
  'default',
  policyYaml({
    review: { audit_rate: 1, reviews_per_task: 1, audit_reviews_per_task: 1, eval_fraction: 0.2 },
    block: null,
    extra: [`training: ${JSON.stringify(TRAINING)}`, `gate: ${JSON.stringify(GATE)}`],
  }),
);
// Held-out scoring must open no review task: no audit, no uncertainty band, and block = flag so that a
// flagged item is "block" (with confirm_block_rate 0: no confirmation task) rather than "review", which
// the service always routes to a human.
const heldoutPolicy = parsePolicy(
  'heldout',
  policyYaml({ review: { audit_rate: 0, uncertainty_margin: 0, confirm_block_rate: 0 }, block: 0.5 }),
);

// ---------------------------------------------------------------- the service

const ADMIN_KEY = `mt_bench_${randomBytes(24).toString('hex')}`;
const logLevel = process.env.BENCH_LOG_LEVEL ?? 'error';
const logger = createLogger(logLevel);
const config = loadConfig({
  MODEL_DIR,
  MODEL_AUTO_BUILD: 'true',
  MODTUNE_ADMIN_KEY: ADMIN_KEY,
  EXECUTION_PROVIDERS: process.env.EXECUTION_PROVIDERS ?? 'cpu',
  ...(process.env.INFERENCE_WORKERS ? { INFERENCE_WORKERS: process.env.INFERENCE_WORKERS } : {}),
  ...(process.env.ORT_THREADS ? { ORT_THREADS: process.env.ORT_THREADS } : {}),
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: logLevel,
  TRAINING_SCHEDULER: 'false',
  HEAD_POLL_MS: '1000',
  SHUTDOWN_TIMEOUT_MS: '5000',
});

const say = (msg: string) => process.stderr.write(`[bench:loop] ${msg}\n`);
const t0 = performance.now();
say(`${tweets.length} tweets read; held-out ${heldout.length}, ${ROUNDS} rounds of ${PER_ROUND}${INVERTED ? ` + 1 inverted round of ${INVERTED}` : ''}`);
say(`starting the service (model ${path.relative(process.cwd(), MODEL_DIR) || MODEL_DIR}, in-memory PGlite)`);
const database = await openDatabase({ dataDir: 'memory://', logger: logger.child({ subsystem: 'db' }) });
const server = await ModtuneServer.create(config, {
  database,
  logger,
  policies: new Map<string, Policy>([
    [mainPolicy.name, mainPolicy],
    [heldoutPolicy.name, heldoutPolicy],
  ]),
});
const { port } = await server.start();
const base = `http://127.0.0.1:${port}`;
say(`service ready in ${((performance.now() - t0) / 1000).toFixed(1)} s on port ${port}`);

async function call<T = any>(method: string, url: string, key: string, body?: unknown, expect = [200]): Promise<T> {
  const res = await fetch(base + url, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as T & { error?: { code: string; message: string } };
  if (!expect.includes(res.status)) throw new Error(`${method} ${url}: HTTP ${res.status} ${json.error ? `${json.error.code}: ${json.error.message}` : ''}`);
  return json;
}

const newKey = async (role: 'client' | 'moderator') =>
  (await call<{ key: string }>('POST', '/v1/admin/api-keys', ADMIN_KEY, { name: `bench:loop ${role}`, role }, [201])).key;
const CLIENT = await newKey('client');
const MODERATOR = await newKey('moderator');

interface ModerateResult {
  item_id: string;
  categories: Record<string, boolean>;
  category_scores: Record<string, number>;
  review_task_id: string | null;
}

async function moderate(texts: string[], policy: string): Promise<ModerateResult[]> {
  const out: ModerateResult[] = [];
  for (let i = 0; i < texts.length; i += CHUNK) {
    const r = await call<{ results: ModerateResult[] }>('POST', '/v1/moderate', CLIENT, { input: texts.slice(i, i + CHUNK), policy });
    out.push(...r.results);
  }
  return out;
}

const activeHead = async () => (await call<{ model: { head_id: string; head_version: number } }>('GET', '/readyz', ADMIN_KEY)).model;

// ---------------------------------------------------------------- held-out accuracy

interface CategoryMetrics {
  accuracy: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  flagged: number;
  /** Threshold-free: does the head rank this category's true items above the others? */
  auroc: number | null;
}
interface HeldOut {
  /** Three-way: predicted class (hate if hate is flagged, else offensive if harassment is, else neither) vs majority class. */
  classAccuracy: number;
  /** Mean over the two category decisions (comparable to the gate's cell accuracy). */
  cellAccuracy: number;
  categories: Record<Category, CategoryMetrics>;
  openedTasks: number;
}

/** Area under the ROC curve by ranks (ties share their mean rank). */
function auroc(truth: boolean[], score: number[]): number | null {
  const idx = score.map((_, i) => i).sort((a, b) => score[a] - score[b]);
  const rank = new Float64Array(score.length);
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && score[idx[j + 1]] === score[idx[i]]) j++;
    for (let k = i; k <= j; k++) rank[idx[k]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  const pos = truth.filter(Boolean).length;
  const neg = truth.length - pos;
  if (pos === 0 || neg === 0) return null;
  let sum = 0;
  truth.forEach((t, i) => {
    if (t) sum += rank[i];
  });
  return (sum - (pos * (pos + 1)) / 2) / (pos * neg);
}

function categoryMetrics(truth: boolean[], pred: boolean[], score: number[]): CategoryMetrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  truth.forEach((t, i) => {
    if (pred[i] && t) tp++;
    else if (pred[i]) fp++;
    else if (t) fn++;
    else tn++;
  });
  const precision = tp + fp ? tp / (tp + fp) : null;
  const recall = tp + fn ? tp / (tp + fn) : null;
  const f1 = precision !== null && recall !== null && precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : null;
  return { accuracy: (tp + tn) / truth.length, precision, recall, f1, flagged: tp + fp, auroc: auroc(truth, score) };
}

async function scoreHeldout(): Promise<HeldOut> {
  const results = await moderate(
    heldout.map((t) => t.text),
    heldoutPolicy.name,
  );
  const categories = {} as Record<Category, CategoryMetrics>;
  for (const c of CATEGORIES) {
    categories[c] = categoryMetrics(
      heldout.map((t) => labelsFor(t.cls)[c]),
      results.map((r) => r.categories[c]),
      results.map((r) => r.category_scores[c]),
    );
  }
  let right = 0;
  results.forEach((r, i) => {
    const predicted: DavidsonClass = r.categories.hate ? HATE : r.categories.harassment ? OFFENSIVE : NEITHER;
    if (predicted === heldout[i].cls) right++;
  });
  return {
    classAccuracy: right / heldout.length,
    cellAccuracy: (categories.hate.accuracy + categories.harassment.accuracy) / 2,
    categories,
    openedTasks: results.filter((r) => r.review_task_id !== null).length,
  };
}

// ---------------------------------------------------------------- one round

interface RoundStats {
  tweets: number;
  /** Verdict cells and how they compare with the majority class and with the model's decision. */
  cells: number;
  moderatorMatchesMajority: number;
  moderatorMatchesModel: number;
  newPairs: number;
  /** New pairs per category and direction: "+" the moderator flagged what the model did not, "−" the reverse. */
  pairsBy: Record<Category, { up: number; down: number }>;
  evalItems: number;
  seconds: { moderate: number; review: number };
}

async function moderateAndReview(batch: Tweet[], round: number, invert: boolean): Promise<RoundStats> {
  // The moderators' draws are made here, in batch order, so the queue's order cannot change them.
  const rng = mulberry32((SEED * 7919 + round) >>> 0);
  const labels = new Map<string, { mod: PolicyLabels; majority: PolicyLabels }>();
  let t = performance.now();
  const results = await moderate(
    batch.map((x) => x.text),
    mainPolicy.name,
  );
  const moderateSeconds = (performance.now() - t) / 1000;
  results.forEach((r, i) => {
    if (!r.review_task_id) throw new Error('the main policy audits every decision, yet a decision opened no review task');
    const drawn = labelsFor(moderatorClass(batch[i].votes, rng()));
    const mod = invert ? { hate: !drawn.hate, harassment: !drawn.harassment } : drawn;
    labels.set(r.review_task_id, { mod, majority: labelsFor(batch[i].cls) });
  });

  const stats: RoundStats = { tweets: batch.length, cells: 0, moderatorMatchesMajority: 0, moderatorMatchesModel: 0, newPairs: 0, pairsBy: { hate: { up: 0, down: 0 }, harassment: { up: 0, down: 0 } }, evalItems: 0, seconds: { moderate: moderateSeconds, review: 0 } };
  t = performance.now();
  for (;;) {
    // Only audit tasks: the ones this round's moderation opened (held-out scoring opens none).
    const claimed = await call<{ data: { id: string; decision: { categories: Record<string, boolean> } }[] }>('POST', '/v1/review/claim', MODERATOR, { reasons: ['audit'], limit: 50 });
    if (claimed.data.length === 0) break;
    for (const task of claimed.data) {
      const l = labels.get(task.id);
      if (!l) throw new Error(`claimed review task ${task.id}, which this round did not open`);
      labels.delete(task.id);
      const v = await call<{ preference_pairs: number; split?: string; labels?: { category: string; label: boolean | null; model_label: boolean }[] }>('POST', `/v1/review/tasks/${task.id}/verdict`, MODERATOR, { categories: l.mod });
      stats.newPairs += v.preference_pairs;
      for (const x of v.labels ?? []) {
        if (x.label === null || x.label === x.model_label) continue;
        const by = stats.pairsBy[x.category as Category];
        if (x.label) by.up++;
        else by.down++;
      }
      if (v.split === 'eval') stats.evalItems++;
      for (const c of CATEGORIES) {
        stats.cells++;
        if (l.mod[c] === l.majority[c]) stats.moderatorMatchesMajority++;
        if (l.mod[c] === task.decision.categories[c]) stats.moderatorMatchesModel++;
      }
    }
  }
  stats.seconds.review = (performance.now() - t) / 1000;
  if (labels.size > 0) throw new Error(`${labels.size} review tasks of this round were never claimed`);
  return stats;
}

interface Run {
  id: string;
  status: string;
  error: string | null;
  candidate_head_id: string | null;
  reference_head_id: string | null;
  data_snapshot: { pairs: number; anchors: number; eval_items: number } | null;
  metrics: { seconds: number; pairs_per_second: number } | null;
  eval_report: {
    active: { accuracy: number | null; categories: Record<string, { recall: number | null }> };
    candidate: { accuracy: number | null; categories: Record<string, { recall: number | null }> };
    mcnemar: { p_value: number };
  } | null;
  gate: { passed: boolean; checks: { check: string; passed: boolean; detail: string }[]; reasons: string[] } | null;
}

async function train(): Promise<Run> {
  const { id } = await call<{ id: string }>('POST', '/v1/training/runs', ADMIN_KEY, {}, [202]);
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const run = await call<Run>('GET', `/v1/training/runs/${id}`, ADMIN_KEY);
    if (!['queued', 'running'].includes(run.status)) {
      if (run.status === 'promoted') {
        // The run is recorded as promoted before this process has swapped heads: wait for the swap.
        while ((await activeHead()).head_id !== run.candidate_head_id) {
          if (Date.now() > deadline) throw new Error(`the promoted head ${run.candidate_head_id} never became active`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      return run;
    }
    if (Date.now() > deadline) throw new Error(`training run ${id} did not finish in 15 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? 'n/a' : `${(100 * x).toFixed(digits)}%`);

/** The failed gate checks, short: "acc 80.1<80.6", "harassment recall −7.2pp", "eval items 40". */
function shortReasons(run: Run): string {
  if (!run.gate) return run.error ? run.error.slice(0, 60) : '';
  const failed = run.gate.checks.filter((c) => !c.passed);
  if (failed.length === 0) return '—';
  const r = run.eval_report!;
  return failed
    .map((c) => {
      if (c.check === 'min_improvement') return `acc ${pct(r.candidate.accuracy)} < ${pct(r.active.accuracy)}${GATE.min_improvement ? ` + ${pct(GATE.min_improvement)}` : ''}`;
      if (c.check.startsWith('max_recall_drop:')) {
        const cat = c.check.slice('max_recall_drop:'.length);
        const drop = (r.candidate.categories[cat]?.recall ?? 0) - (r.active.categories[cat]?.recall ?? 0);
        return `${cat} recall ${drop >= 0 ? '+' : '−'}${Math.abs(100 * drop).toFixed(1)}pp`;
      }
      if (c.check === 'min_eval_items') return `eval items < ${GATE.min_eval_items}`;
      return c.check;
    })
    .join('; ');
}

// ---------------------------------------------------------------- the experiment

interface Row {
  round: string;
  stats: RoundStats | null;
  run: Run | null;
  heldout: HeldOut;
  headVersion: number;
  heldoutSeconds: number;
  /** A rejected candidate's held-out accuracy (what promoting it would have done); null otherwise. */
  rejectedCandidate: HeldOut | null;
}

const rows: Row[] = [];
const HEADER = ['round', 'tweets', 'new pairs', 'train pairs', 'run', 'gate reasons', 'eval acc cand / active', 'held-out class acc', 'hate acc', 'harassment acc', 'rejected cand. held-out class / harassment acc', 'train s', 'pairs/s'];

function cells(row: Row): string[] {
  const s = row.stats;
  const run = row.run;
  const m = run?.metrics;
  return [
    row.round,
    s ? String(s.tweets) : run ? '0' : '—',
    s ? String(s.newPairs) : run ? '0' : '—',
    run?.data_snapshot ? String(run.data_snapshot.pairs) : '—',
    run ? run.status : '—',
    run ? shortReasons(run) : '—',
    run?.eval_report ? `${pct(run.eval_report.candidate.accuracy)} / ${pct(run.eval_report.active.accuracy)}` : '—',
    pct(row.heldout.classAccuracy),
    pct(row.heldout.categories.hate.accuracy),
    pct(row.heldout.categories.harassment.accuracy),
    row.rejectedCandidate ? `${pct(row.rejectedCandidate.classAccuracy)} / ${pct(row.rejectedCandidate.categories.harassment.accuracy)}` : '—',
    m ? m.seconds.toFixed(2) : '—',
    m ? Math.round(m.pairs_per_second).toLocaleString('en-US') : '—',
  ];
}

async function activate(headId: string, reason: string): Promise<void> {
  await call('POST', `/v1/models/${headId}/activate`, ADMIN_KEY, { reason });
  while ((await activeHead()).head_id !== headId) await new Promise((r) => setTimeout(r, 50));
}

/**
 * What if the gate had promoted a rejected candidate? Activate it through the admin API, score the
 * held-out set, and put the reference head back. (A side effect: the candidate's registry status
 * becomes "retired" instead of "rejected"; the run keeps its "rejected" outcome.)
 */
async function heldoutIfPromoted(run: Run): Promise<HeldOut | null> {
  if (run.status !== 'rejected' || !run.candidate_head_id || !run.reference_head_id) return null;
  await activate(run.candidate_head_id, 'bench:loop: held-out what-if for a rejected candidate');
  try {
    return await scoreHeldout();
  } finally {
    await activate(run.reference_head_id, 'bench:loop: back to the head the gate kept');
  }
}

async function record(round: string, stats: RoundStats | null, run: Run | null): Promise<void> {
  const t = performance.now();
  const h = await scoreHeldout();
  const heldoutSeconds = (performance.now() - t) / 1000;
  if (h.openedTasks > 0) say(`warning: held-out scoring opened ${h.openedTasks} review tasks`);
  const headVersion = (await activeHead()).head_version;
  const rejectedCandidate = run ? await heldoutIfPromoted(run) : null;
  const row: Row = { round, stats, run, heldout: h, headVersion, heldoutSeconds, rejectedCandidate };
  rows.push(row);
  console.log(cells(row).join(' | '));
}

console.log(HEADER.join(' | '));
await record('0 (starter head)', null, null);

// The control (--all-data-first) sees the same tweets and makes as many training runs, but all the
// feedback arrives before the first run: it separates "more feedback" from "more runs on the same pairs".
const ALL_FIRST = args['all-data-first'];
let offset = 0;
const totalRounds = ROUNDS + (INVERTED ? 1 : 0);
for (let round = 1; round <= totalRounds; round++) {
  const invert = round > ROUNDS;
  const size = invert ? INVERTED : ALL_FIRST ? (round === 1 ? ROUNDS * PER_ROUND : 0) : PER_ROUND;
  const batch = pool.slice(offset, offset + size);
  offset += size;
  let stats: RoundStats | null = null;
  if (batch.length > 0) {
    say(`round ${round}${invert ? ' (inverted labels)' : ''}: moderating and reviewing ${batch.length} tweets`);
    stats = await moderateAndReview(batch, round, invert);
    say(
      `round ${round}: moderate ${stats.seconds.moderate.toFixed(1)} s, review ${stats.seconds.review.toFixed(1)} s, ` +
        `${stats.newPairs} new pairs; training`,
    );
  } else {
    say(`round ${round}: no new feedback (control); training again on the same pairs`);
  }
  const run = await train();
  if (run.error) say(`round ${round}: run ${run.status}: ${run.error}`);
  await record(invert ? `${round} (inverted)` : String(round), stats, run);
}

// ---------------------------------------------------------------- report

const md = (header: string[], body: string[][]) =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const totalSeconds = (performance.now() - t0) / 1000;
const out: string[] = [];
out.push('', '## bench:loop results', '');
out.push(
  `Held-out: ${heldout.length} tweets, stratified by majority class (${[HATE, OFFENSIVE, NEITHER].map((c) => heldout.filter((t) => t.cls === c).length).join(' / ')} ` +
    `hate / offensive / neither), never moderated for training. Rounds: ${ALL_FIRST ? `control, all ${ROUNDS * PER_ROUND} tweets reviewed before run 1, then ${ROUNDS - 1} more runs on the same pairs` : `${ROUNDS} × ${PER_ROUND} tweets`}` +
    `${INVERTED ? ` + 1 inverted round of ${INVERTED}` : ''}. Seed ${SEED}.`,
);
out.push(`Training: ${JSON.stringify(TRAINING)}; gate: ${JSON.stringify(GATE)}.`, '');
{
  // What no model at all would score on this held-out set: the bar the tuned head has to clear.
  const n = heldout.length;
  const count = (c: DavidsonClass) => heldout.filter((t) => t.cls === c).length;
  out.push(
    `Trivial baselines on this held-out set: always "offensive" (harassment, not hate) scores class acc ${pct(count(OFFENSIVE) / n)}, ` +
      `hate acc ${pct(1 - count(HATE) / n)}, harassment acc ${pct((count(HATE) + count(OFFENSIVE)) / n)}.`,
    '',
  );
}
out.push(md(HEADER, rows.map(cells)), '');
out.push('Held-out per category (precision / recall / F1 at the flag threshold, how many of the held-out tweets the head flags, AUROC of its scores):', '');
out.push(
  md(
    ['round', 'head v', 'hate P / R / F1', 'hate flagged', 'hate AUROC', 'harassment P / R / F1', 'harassment flagged', 'harassment AUROC', 'cell acc'],
    rows.map((r) => {
      const h = r.heldout.categories;
      const prf = (m: CategoryMetrics) => `${pct(m.precision)} / ${pct(m.recall)} / ${pct(m.f1)}`;
      const auc = (m: CategoryMetrics) => (m.auroc === null ? 'n/a' : m.auroc.toFixed(3));
      return [r.round, String(r.headVersion), prf(h.hate), String(h.hate.flagged), auc(h.hate), prf(h.harassment), String(h.harassment.flagged), auc(h.harassment), pct(r.heldout.cellAccuracy)];
    }),
  ),
  '',
);
out.push('The queue per round (verdict cells = tweets × 2 categories):', '');
out.push(
  md(
    ['round', 'moderator = majority class', 'moderator = model decision', 'new pairs hate +/−', 'new pairs harassment +/−', 'eval-split items', 'anchors', 'McNemar p', 'moderate s', 'review s', 'held-out scoring s'],
    rows
      .filter((r) => r.stats)
      .map((r) => {
        const s = r.stats!;
        return [
          r.round,
          pct(s.moderatorMatchesMajority / s.cells),
          pct(s.moderatorMatchesModel / s.cells),
          `${s.pairsBy.hate.up} / ${s.pairsBy.hate.down}`,
          `${s.pairsBy.harassment.up} / ${s.pairsBy.harassment.down}`,
          String(s.evalItems),
          r.run?.data_snapshot ? String(r.run.data_snapshot.anchors) : '—',
          r.run?.eval_report ? r.run.eval_report.mcnemar.p_value.toPrecision(3) : '—',
          s.seconds.moderate.toFixed(1),
          s.seconds.review.toFixed(1),
          r.heldoutSeconds.toFixed(1),
        ];
      }),
  ),
  '',
);
out.push(`Total wall time: ${totalSeconds.toFixed(0)} s.`);
console.log(out.join('\n'));

await server.destroy();
await database.destroy();
