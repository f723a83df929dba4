/**
 * `npm run bench:loop [-- --dataset davidson|ethos --rounds N --per-round N --heldout N --seed N --set key=value]`:
 * the feedback loop on real data, on the shipped defaults. Labelled texts go through the running service
 * (in-process, real HTTP on a loopback port, models/default or $MODEL_DIR (the starter model is built
 * there if missing), in-memory PGlite): moderate → simulated moderators review every decision → a
 * training run → the gate's decision → quality of the active head on a fixed held-out set that never
 * trains. Then (Davidson) one round of inverted labels. A rejected candidate is also scored on the held-out
 * set (activated briefly, then rolled back) so the table shows whether rejecting it was right.
 *
 * Training and gate settings are the shipped policies/default.yaml's; `--set key=value` overrides one
 * (`--set rpo_alpha=0`, `--set lexical=false`, `--set gate.max_auprc_drop=0.01`) for ablations.
 * Results and discussion: docs/EXPERIMENTS.md.
 *
 * Needs the datasets (outside the repository: docs/EXPERIMENTS.md, "The data"; exits with code 2 when absent). Never
 * prints a text: only counts and metrics.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/logger.js';
import { parsePolicy } from '../src/policy/loader.js';
import type { Policy } from '../src/policy/policy.js';
import { ModtuneServer } from '../src/server.js';
import { mulberry32 } from '../src/random.js';
import { termsOf, type DriftRow, type NearRow } from '../src/tuning/math/drift.js';
import { auroc, averagePrecision } from '../src/tuning/math/stats.js';
import { fitSupervised, type Labelled } from './supervised.js';
import { DAVIDSON_PATH, HATE, labelsFor, loadDavidson, moderatorClass, NEITHER, OFFENSIVE, type DavidsonClass } from './davidson.js';
import { ETHOS_DIR, loadEthos } from './ethos.js';

const USAGE = `usage: npm run bench:loop -- [--dataset davidson|ethos] [--rounds N] [--per-round N] [--heldout N] [--seed N]
  [--set key=value]...   override a training setting of policies/default.yaml (gate.key for the gate), e.g.
                         --set lexical=false  --set calibration=none --set beta=0.1  --set select=false
                         --set l2=1,0.1 (a list)  --set ngrams.min_df=1  --set gate.max_auprc_drop=0.05
  [--no-inverted] [--inverted-items N]   the bad-batch round (Davidson only by default)
  [--moderators N]       N moderators take turns on the queue (default 1)
  [--audit-reviews N]    each item is reviewed by N different moderators (review.audit_reviews_per_task; default 1);
                         an even split asks one more (ties: escalate), so N >= 2 needs --moderators N+1 or more
  [--bad-moderator]      one more round, before the inverted one, in which the last of the moderators inverts
                         every label it gives (needs --moderators 2 or more)
  [--keep-held]          leave held batches undecided (by default the bench discards them, as an admin would)
  [--all-data-first]     control: round 1 reviews all the rounds' items at once, later rounds only retrain
  [--force]              later control rounds retrain on the same labels ({"force": true})
  [--poison KIND]        after the clean rounds, an attack on the first category: inverted, never-flag,
                         flip-positives, term, author or slow (what each does: POISON_KINDS in bench/loop.ts);
                         without --rounds, as many clean rounds as the data leaves room for (up to the default)
  [--poison-items N]     items per attack round (default: --per-round; slow on ETHOS: what the data allows)
  [--slow-share F]       slow: the share of each night's items inverted (default 0.1)
  [--duplicates F]       a share F of each round's items are reposts of earlier ones (case and spacing changed);
                         the bench asserts every repost lands on its original's side of the split
  [--authors N]          items come from N authors (a few prolific), sent as author_id (the author poison sets 300)`;

function parseCli() {
  try {
    return parseArgs({
      options: {
        dataset: { type: 'string', default: 'davidson' },
        rounds: { type: 'string' },
        'per-round': { type: 'string' },
        heldout: { type: 'string' },
        seed: { type: 'string', default: '1' },
        set: { type: 'string', multiple: true, default: [] },
        'no-inverted': { type: 'boolean', default: false },
        'inverted-items': { type: 'string' },
        'all-data-first': { type: 'boolean', default: false },
        moderators: { type: 'string', default: '1' },
        'audit-reviews': { type: 'string', default: '1' },
        'bad-moderator': { type: 'boolean', default: false },
        'keep-held': { type: 'boolean', default: false },
        force: { type: 'boolean', default: false },
        poison: { type: 'string' },
        'poison-items': { type: 'string' },
        'slow-share': { type: 'string' },
        duplicates: { type: 'string' },
        authors: { type: 'string' },
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
const fail = (msg: string): never => {
  console.error(`${msg}\n${USAGE}`);
  process.exit(2);
};
const whole = (name: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive whole number, got '${v}'`);
  return n;
};

// ---------------------------------------------------------------- attacks

/**
 * The attacks `--poison` runs after the clean rounds, each on the first category (the target), each a
 * round of PER_ROUND new items unless said otherwise. The run after an attack round must not promote.
 */
const POISON_KINDS = {
  inverted: 'the existing moderator inverts every label of a round',
  'never-flag': 'a new moderator key labels a round truthfully except that the target category is never flagged',
  'flip-positives': "the existing moderator labels the target category's positives negative for a round",
  term: "the target category inverted on every text with one word (the round's commonest word among its target positives that is in at most a third of its texts)",
  author: "the target category inverted on the items of the round's most prolific authors (at least a tenth of the round; needs authors, 300 by default)",
  slow: "5 nights, each inverting the target category on a random 10 % (--slow-share) of the night's items, by the existing moderator (under the nightly threshold; the cumulative check's case)",
} as const;
type PoisonKind = keyof typeof POISON_KINDS;
const POISONS = Object.keys(POISON_KINDS) as PoisonKind[];

// ---------------------------------------------------------------- datasets

/** One labelled text: its truth per category, and how a simulated moderator labels it. */
interface Item {
  text: string;
  truth: Record<string, boolean>;
  /** A moderator's labels, from seeded uniform draws (the annotators' disagreement becomes the queue's). */
  draw: (rng: () => number) => Record<string, boolean>;
  /** The held-out set is stratified by this. */
  stratum: string;
  /** --duplicates: the original's index, shared by its reposts (whose text differs in case and spacing). */
  group?: number;
  /** --authors: who posted it. */
  author?: string;
}

interface BenchDataset {
  name: string;
  file: string;
  categories: string[];
  items: Item[];
  defaults: { heldout: number; perRound: number; rounds: number; inverted: boolean };
  /** A reading of the category decisions as one class, where the data has classes (Davidson). */
  classOf?: (flags: Record<string, boolean>) => string;
  describe: string;
}

async function loadDataset(name: string): Promise<BenchDataset | null> {
  if (name === 'davidson') {
    const file = process.env.DAVIDSON_CSV ? path.resolve(process.env.DAVIDSON_CSV) : DAVIDSON_PATH;
    const tweets = await loadDavidson(file);
    if (!tweets) return null;
    const className = (c: DavidsonClass) => (c === HATE ? 'hate' : c === OFFENSIVE ? 'offensive' : 'neither');
    return {
      name,
      file,
      categories: ['hate', 'harassment'],
      items: tweets.map((t) => ({
        text: t.text,
        truth: { ...labelsFor(t.cls) },
        draw: (rng) => ({ ...labelsFor(moderatorClass(t.votes, rng())) }),
        stratum: className(t.cls),
      })),
      defaults: { heldout: 1000, perRound: 2000, rounds: 5, inverted: true },
      classOf: (f) => (f.hate ? 'hate' : f.harassment ? 'offensive' : 'neither'),
      describe:
        'Davidson et al. (2017) tweets; hate speech → hate and harassment, offensive language → harassment, neither → nothing; ' +
        'each moderator draws a class with the annotators’ proportions',
    };
  }
  if (name === 'ethos') {
    const dir = process.env.ETHOS_DIR ? path.resolve(process.env.ETHOS_DIR) : ETHOS_DIR;
    const comments = await loadEthos(dir);
    if (!comments) return null;
    return {
      name,
      file: dir,
      categories: ['hate', 'violence'],
      items: comments.map((c) => ({
        text: c.text,
        truth: { hate: c.hate >= 0.5, violence: c.hate >= 0.5 && c.violence >= 0.5 },
        draw: (rng) => {
          const hate = rng() < c.hate;
          const u = rng();
          return { hate, violence: hate && u < c.violence };
        },
        stratum: c.hate >= 0.5 ? 'hate' : 'not hate',
      })),
      defaults: { heldout: 298, perRound: 175, rounds: 4, inverted: false },
      describe:
        'ETHOS (Mollas et al. 2022) YouTube and Reddit comments; hate = isHate ≥ 0.5, violence = hate and violence ≥ 0.5; ' +
        'each moderator flags hate with the annotators’ fraction, and violence (given hate) with theirs',
    };
  }
  return fail(`--dataset must be davidson or ethos, got '${name}'`);
}

const dataset = await loadDataset(args.dataset!);
if (!dataset) {
  console.error(
    `bench:loop needs the ${args.dataset} dataset, which is not in the repository and was not found: set ` +
      `${args.dataset === 'ethos' ? 'ETHOS_DIR to the folder holding the Ethos_Dataset_*.csv files' : 'DAVIDSON_CSV to labeled_data.csv'} ` +
      '(where to get it: docs/EXPERIMENTS.md, "The data"). The experiment cannot run without it.',
  );
  process.exit(2);
}
const D = dataset;
const PER_ROUND = whole('per-round', args['per-round'], D.defaults.perRound);
const HELDOUT = whole('heldout', args.heldout, D.defaults.heldout);
const SEED = Number(args.seed);
if (!Number.isFinite(SEED)) fail(`--seed must be a number, got '${args.seed}'`);
const INVERTED = args['no-inverted'] || args.poison !== undefined
  ? 0
  : args['inverted-items'] !== undefined
    ? whole('inverted-items', args['inverted-items'], 0)
    : D.defaults.inverted
      ? PER_ROUND
      : 0;
const POISON = args.poison as PoisonKind | undefined;
if (POISON !== undefined && !POISONS.includes(POISON)) fail(`--poison must be one of ${POISONS.join(', ')}, got '${POISON}'`);
const POISON_ROUNDS = POISON === 'slow' ? 5 : POISON ? 1 : 0;
const SLOW_SHARE = args['slow-share'] === undefined ? 0.1 : Number(args['slow-share']);
if (!(SLOW_SHARE > 0 && SLOW_SHARE <= 1)) fail(`--slow-share must be a share in (0, 1], got '${args['slow-share']}'`);
if (args['slow-share'] !== undefined && POISON !== 'slow') fail('--slow-share is for --poison slow');
const DUPLICATES = args.duplicates === undefined ? 0 : Number(args.duplicates);
if (!(DUPLICATES >= 0 && DUPLICATES < 1)) fail(`--duplicates must be a share in [0, 1), got '${args.duplicates}'`);
/** Originals a number of round places uses (the rest are reposts). */
const originalsFor = (places: number) => Math.ceil(places * (1 - DUPLICATES));
const POISON_ITEMS = whole(
  'poison-items',
  args['poison-items'],
  POISON === 'slow' ? Math.max(1, Math.min(PER_ROUND, Math.floor((D.items.length - HELDOUT - PER_ROUND) / POISON_ROUNDS))) : PER_ROUND,
);
/** Without --rounds and with an attack: as many clean rounds as the data leaves room for, up to the default. */
const ROUNDS =
  args.rounds !== undefined || !POISON
    ? whole('rounds', args.rounds, D.defaults.rounds)
    : Math.max(1, Math.min(D.defaults.rounds, Math.floor((D.items.length - HELDOUT - originalsFor(POISON_ROUNDS * POISON_ITEMS)) / originalsFor(PER_ROUND))));
const AUTHORS = args.authors !== undefined ? whole('authors', args.authors, 0) : POISON === 'author' ? 300 : 0;
const MODERATORS = whole('moderators', args.moderators, 1);
const AUDIT_REVIEWS = whole('audit-reviews', args['audit-reviews'], 1);
if (AUDIT_REVIEWS < 1) fail('--audit-reviews must be 1 or more');
if (AUDIT_REVIEWS > 1 && POISON === 'never-flag') fail('--audit-reviews above 1 does not combine with --poison never-flag (its new key reviews every item alone)');
if (AUDIT_REVIEWS > 1 && MODERATORS < AUDIT_REVIEWS + 1) fail(`--audit-reviews ${AUDIT_REVIEWS} needs --moderators ${AUDIT_REVIEWS + 1} or more (a tie asks one more moderator)`);
const BAD_MODERATOR = args['bad-moderator'];
if (BAD_MODERATOR && MODERATORS < 2) fail('--bad-moderator needs --moderators 2 or more');
const CHUNK = 64; // MAX_INPUTS default
const MODEL_DIR = path.resolve(process.env.MODEL_DIR ?? 'models/default');
const needed = HELDOUT + originalsFor((ROUNDS + (BAD_MODERATOR ? 1 : 0)) * PER_ROUND + POISON_ROUNDS * POISON_ITEMS) + INVERTED;
if (needed > D.items.length) fail(`the experiment needs ${needed} items (held-out + rounds) but ${D.name} has ${D.items.length}; use fewer or smaller rounds`);

function shuffled<T>(xs: T[], rng: () => number): T[] {
  const a = xs.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** A held-out set stratified like the data (so a rare class is represented as it is), the rest shuffled. */
function split(all: Item[], heldout: number, seed: number): { heldout: Item[]; pool: Item[] } {
  const rng = mulberry32(seed);
  const strata = [...new Set(all.map((x) => x.stratum))].sort();
  const by = strata.map((s) => shuffled(all.filter((x) => x.stratum === s), rng));
  const take = by.map((xs) => Math.round((heldout * xs.length) / all.length));
  const biggest = take.indexOf(Math.max(...take));
  take[biggest] += heldout - take.reduce((a, b) => a + b, 0);
  return { heldout: by.flatMap((xs, k) => xs.slice(0, take[k])), pool: shuffled(by.flatMap((xs, k) => xs.slice(take[k])), rng) };
}

const { heldout, pool: originals } = split(D.items, HELDOUT, SEED);

/** A repost: the same words, in other case and spacing (what a copy-paste or a bot does). */
function repost(text: string, rng: () => number): string {
  const words = text.split(/\s+/).filter(Boolean);
  const cased = words.map((w) => (rng() < 0.5 ? w.toUpperCase() : w.toLowerCase()));
  return (rng() < 0.5 ? '  ' : '') + cased.join(rng() < 0.5 ? '   ' : ' \t ') + (rng() < 0.5 ? '\n' : ' ');
}

/**
 * The pool the rounds draw from, in order. With --duplicates, a share of each round's places are reposts
 * of items met so far (this round's or earlier), with the original's truth (each reviewed on its own).
 * With --authors, each item gets an author: a few prolific ones (Zipf's law), as on a real platform.
 */
function buildPool(): Item[] {
  const rng = mulberry32((SEED * 104729 + 17) >>> 0);
  const withAuthors = originals.map((x, i) => {
    if (AUTHORS === 0) return { ...x, group: i };
    // Zipf over AUTHORS: author k (1-based) with weight 1/k.
    const h = 1 / Array.from({ length: AUTHORS }, (_, k) => 1 / (k + 1)).reduce((a, b) => a + b, 0);
    let u = rng() / h;
    let k = 1;
    while (k < AUTHORS && (u -= 1 / k) > 0) k++;
    return { ...x, group: i, author: `author-${k}` };
  });
  if (DUPLICATES === 0) return withAuthors;
  const out: Item[] = [];
  let next = 0;
  while (next < withAuthors.length) {
    if (out.length > 0 && rng() < DUPLICATES) {
      const of = out[Math.floor(rng() * out.length)];
      out.push({ ...of, text: repost(of.text, rng) });
    } else out.push(withAuthors[next++]);
  }
  return out;
}
const pool = buildPool();

// ---------------------------------------------------------------- policies

/** `--set key=value`: numbers, lists of numbers (a,b), true/false, or words. */
function overrides(): { training: Record<string, unknown>; gate: Record<string, unknown> } {
  const out = { training: {} as Record<string, unknown>, gate: {} as Record<string, unknown> };
  for (const s of args.set as string[]) {
    const eq = s.indexOf('=');
    if (eq < 1) fail(`--set takes key=value, got '${s}'`);
    const key = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    const value = raw === 'true' ? true : raw === 'false' ? false : raw.includes(',') ? raw.split(',').map(Number) : Number.isFinite(Number(raw)) && raw !== '' ? Number(raw) : raw;
    if (key.startsWith('gate.')) out.gate[key.slice(5)] = value;
    else if (key.startsWith('ngrams.')) out.training.ngrams = { ...((out.training.ngrams as object) ?? {}), [key.slice(7)]: value };
    else out.training[key] = value;
  }
  return out;
}

const shipped = parseYaml(await fs.readFile(path.resolve('policies/default.yaml'), 'utf8')) as { training: Record<string, unknown>; gate: Record<string, unknown> };
const SET = overrides();
const TRAINING = {
  ...shipped.training,
  ...SET.training,
  ...(SET.training.ngrams ? { ngrams: { ...(shipped.training.ngrams as object), ...(SET.training.ngrams as object) } } : {}),
};
const GATE = { ...shipped.gate, ...SET.gate };

const policyYaml = (o: { review: Record<string, unknown>; block: number | null; extra?: string[] }) =>
  [
    `description: bench:loop (${D.name} replay)`,
    'categories:',
    ...D.categories.map((c) => `  ${c}: { flag: 0.5, block: ${o.block === null ? 'null' : o.block} }`),
    `review: ${JSON.stringify(o.review)}`,
    ...(o.extra ?? []),
  ].join('\n');

// Every decision is audited (and so reviewed) once; the default eval_fraction (20%) of reviewed items
// form the gate's eval split. Training and gate: the shipped defaults, plus any --set.
const mainPolicy = parsePolicy(
  'default',
  policyYaml({
    review: { audit_rate: 1, reviews_per_task: 1, audit_reviews_per_task: AUDIT_REVIEWS },
    block: null,
    extra: [`training: ${JSON.stringify(TRAINING)}`, `gate: ${JSON.stringify(GATE)}`],
  }),
);
// Held-out scoring must open no review task: no audit, no uncertainty band, and block = flag so that a
// flagged item is "block" (with confirm_block_rate 0: no confirmation task) rather than "review", which
// the service always routes to a human.
const heldoutPolicy = parsePolicy('heldout', policyYaml({ review: { audit_rate: 0, uncertainty_margin: 0, confirm_block_rate: 0 }, block: 0.5 }));

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
  // A fixed split salt: a rerun splits the same texts the same way (a deployment makes a secret one).
  SPLIT_SALT: 'bench:loop',
  LOG_LEVEL: logLevel,
  TRAINING_SCHEDULER: 'false',
  HEAD_POLL_MS: '1000',
  SHUTDOWN_TIMEOUT_MS: '5000',
});

const say = (msg: string) => process.stderr.write(`[bench:loop] ${msg}\n`);
const t0 = performance.now();
say(`${D.name}: ${D.items.length} items; held-out ${heldout.length}, ${ROUNDS} rounds of ${PER_ROUND}${INVERTED ? ` + 1 inverted round of ${INVERTED}` : ''}`);
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

/**
 * A request to the service. A reused keep-alive socket the server has just closed fails with a reset before
 * any answer (seen on this 2-core machine while another process held the CPU); a request the service can
 * replay (a GET, or a moderation or verdict sent with an Idempotency-Key) is then sent again, up to 3 times,
 * and the service answers a repeat with the stored response, so nothing is counted twice. Anything else
 * fails the bench.
 */
async function call<T = any>(method: string, url: string, key: string, body?: unknown, expect = [200]): Promise<T> {
  const replayable = method === 'GET' || url === '/v1/moderate' || /^\/v1\/review\/tasks\/[^/]+\/verdict$/.test(url);
  const headers: Record<string, string> = { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) };
  if (replayable && method !== 'GET') headers['Idempotency-Key'] = randomBytes(16).toString('hex');
  let res: Response;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      break;
    } catch (err) {
      if (!replayable || attempt >= 3) throw err;
      say(`${method} ${url}: ${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}; sending it again (attempt ${attempt + 1})`);
    }
  }
  const json = (await res.json()) as T & { error?: { code: string; message: string } };
  if (!expect.includes(res.status)) throw new Error(`${method} ${url}: HTTP ${res.status} ${json.error ? `${json.error.code}: ${json.error.message}` : ''}`);
  return json;
}

const newKey = async (role: 'client' | 'moderator') =>
  (await call<{ key: string }>('POST', '/v1/admin/api-keys', ADMIN_KEY, { name: `bench:loop ${role}`, role }, [201])).key;
const CLIENT = await newKey('client');
/** The moderators, taking turns on the queue; with --bad-moderator the last one inverts in its round. */
const MODERATOR_KEYS: { key: string; id: string; name: string }[] = [];
for (let m = 1; m <= MODERATORS; m++) {
  const r = await call<{ key: string; id: string }>('POST', '/v1/admin/api-keys', ADMIN_KEY, { name: `moderator ${m}`, role: 'moderator' }, [201]);
  MODERATOR_KEYS.push({ key: r.key, id: r.id, name: `moderator ${m}` });
}
/** Keys made later (an attack's new moderator), by id. */
const EXTRA_NAMES = new Map<string, string>();
const moderatorName = (id: string | null) => (id === null ? 'all moderators' : (MODERATOR_KEYS.find((m) => m.id === id)?.name ?? EXTRA_NAMES.get(id) ?? id));

interface ModerateResult {
  item_id: string;
  categories: Record<string, boolean>;
  category_scores: Record<string, number>;
  review_task_id: string | null;
}

async function moderate(texts: (string | { text: string; author_id: string })[], policy: string): Promise<ModerateResult[]> {
  const out: ModerateResult[] = [];
  for (let i = 0; i < texts.length; i += CHUNK) {
    const r = await call<{ results: ModerateResult[] }>('POST', '/v1/moderate', CLIENT, { input: texts.slice(i, i + CHUNK), policy });
    out.push(...r.results);
  }
  return out;
}

const activeHead = async () => (await call<{ model: { head_id: string; head_version: number } }>('GET', '/readyz', ADMIN_KEY)).model;

// ---------------------------------------------------------------- held-out quality

interface CategoryMetrics {
  accuracy: number;
  precision: number | null;
  recall: number | null;
  f1: number | null;
  flagged: number;
  /** Threshold-free: does the head rank this category's true items above the others? */
  auroc: number | null;
  /** Average precision: how well the top of the ranking holds the true items. */
  auprc: number | null;
}
interface HeldOut {
  /** Where the data has classes: the decisions read back as a class (Davidson) against the majority class. */
  classAccuracy: number | null;
  /** Mean over the category decisions (comparable to the gate's cell accuracy). */
  cellAccuracy: number;
  categories: Record<string, CategoryMetrics>;
  openedTasks: number;
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
  return { accuracy: (tp + tn) / truth.length, precision, recall, f1, flagged: tp + fp, auroc: auroc(truth, score), auprc: averagePrecision(truth, score) };
}

async function scoreHeldout(): Promise<HeldOut> {
  const results = await moderate(
    heldout.map((t) => t.text),
    heldoutPolicy.name,
  );
  const categories: Record<string, CategoryMetrics> = {};
  for (const c of D.categories) {
    categories[c] = categoryMetrics(
      heldout.map((t) => t.truth[c]),
      results.map((r) => r.categories[c]),
      results.map((r) => r.category_scores[c]),
    );
  }
  let classAccuracy: number | null = null;
  if (D.classOf) {
    let right = 0;
    results.forEach((r, i) => {
      if (D.classOf!(r.categories) === D.classOf!(heldout[i].truth)) right++;
    });
    classAccuracy = right / heldout.length;
  }
  return {
    classAccuracy,
    cellAccuracy: D.categories.reduce((s, c) => s + categories[c].accuracy, 0) / D.categories.length,
    categories,
    openedTasks: results.filter((r) => r.review_task_id !== null).length,
  };
}

// ---------------------------------------------------------------- one round

interface RoundStats {
  items: number;
  /** Verdict cells and how they compare with the truth and with the model's decision. */
  cells: number;
  moderatorMatchesTruth: number;
  moderatorMatchesModel: number;
  /** Settled labels (training pairs) and, of those, where moderators overruled the model. */
  labels: number;
  disagreements: number;
  /** Disagreements per category and direction: "+" the moderator flagged what the model did not, "−" the reverse. */
  disagreementsBy: Record<string, { up: number; down: number }>;
  evalItems: number;
  seconds: { moderate: number; review: number };
}

/** An attack round: who reviews it (a new key, or the moderators as usual) and what the attacker changes. */
interface Attack {
  reviewer?: { key: string; id: string; name: string };
  /** The labels the attacker gives (by the reviewer, or by the first moderator); `k` is the item's place in the round. */
  label: (item: Item, honest: Record<string, boolean>, k: number) => Record<string, boolean>;
  /** Target labels the attack changed this round. */
  changed: number;
}

/** Every repost group's side of the split, as the service answered: a group on both sides fails the bench. */
const SIDE = new Map<number, string>();
let repostsChecked = 0;

async function moderateAndReview(batch: Item[], round: number, invert: boolean, badModerator = false, attack?: Attack): Promise<RoundStats> {
  // The moderators' draws are made here, in batch order, so the queue's order cannot change them.
  const rng = mulberry32((SEED * 7919 + round) >>> 0);
  // With --audit-reviews N each item has N + 1 draws (one per moderator who may review it, a tie's third included).
  const labels = new Map<string, { item: Item; k: number; text: string; draws: Record<string, boolean>[]; reviews: number; truth: Record<string, boolean>; model: Record<string, boolean> }>();
  let t = performance.now();
  const results = await moderate(
    batch.map((x) => (x.author ? { text: x.text, author_id: x.author } : x.text)),
    mainPolicy.name,
  );
  const moderateSeconds = (performance.now() - t) / 1000;
  results.forEach((r, i) => {
    if (!r.review_task_id) throw new Error('the main policy audits every decision, yet a decision opened no review task');
    const draws = Array.from({ length: AUDIT_REVIEWS === 1 ? 1 : AUDIT_REVIEWS + 1 }, () => {
      const drawn = batch[i].draw(rng);
      return invert ? Object.fromEntries(D.categories.map((c) => [c, !drawn[c]])) : drawn;
    });
    // The model's decision comes from the moderation response: audit tasks are blind by default.
    labels.set(r.review_task_id, { item: batch[i], k: i, text: batch[i].text, draws, reviews: 0, truth: batch[i].truth, model: r.categories });
  });

  const stats: RoundStats = {
    items: batch.length,
    cells: 0,
    moderatorMatchesTruth: 0,
    moderatorMatchesModel: 0,
    labels: 0,
    disagreements: 0,
    disagreementsBy: Object.fromEntries(D.categories.map((c) => [c, { up: 0, down: 0 }])),
    evalItems: 0,
    seconds: { moderate: moderateSeconds, review: 0 },
  };
  t = performance.now();
  // Only audit tasks: the ones this round's moderation opened (held-out scoring opens none). The
  // moderators take turns, 50 tasks at a time; the round ends when none of them can claim one (a task a
  // moderator reviewed already is not theirs to claim again).
  for (let turn = 0, idle = 0; ; turn++) {
    const moderator = attack?.reviewer ?? MODERATOR_KEYS[turn % MODERATOR_KEYS.length];
    const inverts = badModerator && moderator === MODERATOR_KEYS[MODERATOR_KEYS.length - 1];
    const claimed = await call<{ data: { id: string }[] }>('POST', '/v1/review/claim', moderator.key, { reasons: ['audit'], limit: 50 });
    if (claimed.data.length === 0) {
      if (attack?.reviewer || ++idle >= MODERATOR_KEYS.length) break;
      continue;
    }
    idle = 0;
    for (const task of claimed.data) {
      const l = labels.get(task.id);
      if (!l) throw new Error(`claimed review task ${task.id}, which this round did not open`);
      let mod = l.draws[l.reviews++];
      if (!mod) throw new Error(`review task ${task.id} asked for more reviews than the bench drew labels for`);
      if (inverts) mod = Object.fromEntries(D.categories.map((c) => [c, !mod[c]]));
      if (attack && (attack.reviewer || moderator === MODERATOR_KEYS[0])) {
        const poisoned = attack.label(l.item, mod, l.k);
        attack.changed += D.categories.filter((c) => poisoned[c] !== mod[c]).length;
        mod = poisoned;
      }
      const v = await call<{ task_status: string; preference_pairs: number; disagreements: number; split?: string; labels?: { category: string; label: boolean | null; model_label: boolean }[] }>(
        'POST',
        `/v1/review/tasks/${task.id}/verdict`,
        moderator.key,
        { categories: mod },
      );
      const done = v.task_status === 'done';
      if (done) labels.delete(task.id);
      stats.labels += v.preference_pairs;
      stats.disagreements += v.disagreements;
      for (const x of v.labels ?? []) {
        if (x.label === null || x.label === x.model_label) continue;
        const by = stats.disagreementsBy[x.category];
        if (x.label) by.up++;
        else by.down++;
      }
      if (v.split && l.item.group !== undefined) {
        const side = SIDE.get(l.item.group);
        if (side === undefined) SIDE.set(l.item.group, v.split);
        else {
          repostsChecked++;
          if (side !== v.split) throw new Error(`a repost landed on the ${v.split} side and its original on the ${side} side: the split leaks`);
        }
      }
      if (done && v.split === 'eval') stats.evalItems++;
      // The supervised reference learns from exactly the train-split labels the loop was given: the
      // settled ones (one review: the moderator's own).
      else if (done && v.split === 'train') {
        const settled = AUDIT_REVIEWS === 1 ? mod : Object.fromEntries((v.labels ?? []).map((x) => [x.category, x.label]));
        if (D.categories.every((c) => typeof settled[c] === 'boolean')) GIVEN.push({ text: l.text, labels: { ...(settled as Record<string, boolean>) } });
      }
      for (const c of D.categories) {
        stats.cells++;
        if (mod[c] === l.truth[c]) stats.moderatorMatchesTruth++;
        if (mod[c] === l.model[c]) stats.moderatorMatchesModel++;
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
  active_head_id: string | null;
  data_snapshot: { pairs?: number; eval_items: number; drift?: { rows: (DriftRow & { threshold?: number; finding?: boolean })[] } } | null;
  metrics: {
    seconds: number;
    categories?: { category: string; beta: number | null; experts: { expert: string; l2: number; scale: number }[]; auprc: number | null; folds: number }[];
    ngram_weights?: number;
  } | null;
  eval_report: {
    active: { accuracy: number | null; categories: Record<string, { recall: number | null }> };
    candidate: { accuracy: number | null; categories: Record<string, { recall: number | null }> };
    mcnemar: { p_value: number };
    measure: { items: number; active: { auprc: number | null; accuracy: number | null }; candidate: { auprc: number | null; accuracy: number | null } };
  } | null;
  gate: {
    passed: boolean;
    evidence?: {
      verdict: string;
      items: number;
      sources: { eval_items: number; new_train_items: number };
      change: { auprc: { estimate: number; lower: number; upper: number } | null; accuracy: { estimate: number; lower: number; upper: number } | null };
    };
    checks: { check: string; passed: boolean; detail: string }[];
    reasons: string[];
    drift_near?: Pick<NearRow, 'slice' | 'against' | 'region' | 'p_value' | 'threshold'>[];
  } | null;
}

async function train(force: boolean): Promise<Run> {
  const { id } = await call<{ id: string }>('POST', '/v1/training/runs', ADMIN_KEY, force ? { force: true } : {}, [202]);
  const deadline = Date.now() + 30 * 60_000;
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
    if (Date.now() > deadline) throw new Error(`training run ${id} did not finish in 30 minutes`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const pct = (x: number | null | undefined, digits = 1) => (x === null || x === undefined ? 'n/a' : `${(100 * x).toFixed(digits)}%`);
const auc = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;

/** The gate's evidence in a few words: "better, AUPRC +0.12 [+0.03, +0.21], acc +2.1 [+0.4, +3.9] on 35 + 140 items". */
function evidence(run: Run): string {
  const e = run.gate?.evidence;
  if (!e) return '—';
  const pts = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`;
  const au = e.change.auprc ? `, AUPRC ${signed(e.change.auprc.estimate)} [${signed(e.change.auprc.lower)}, ${signed(e.change.auprc.upper)}]` : '';
  const ac = e.change.accuracy ? `, acc ${pts(e.change.accuracy.estimate)} [${pts(e.change.accuracy.lower)}, ${pts(e.change.accuracy.upper)}]` : '';
  return `${e.verdict.replace('_', ' ')}${au}${ac} on ${e.sources.eval_items} + ${e.sources.new_train_items} items`;
}

/** The failed gate checks, short: "evidence undecided", "hate recall −7.2pp", "held: …". */
function shortReasons(run: Run): string {
  if (run.status === 'held') {
    const holds = heldBy.get(run.id) ?? [];
    return `held: ${holds.map((h) => `${h.category} (${moderatorName(h.moderator_key_id)}, ${h.labels} verdicts)`).join(', ') || 'see the run'}`;
  }
  if (!run.gate) return run.error ? run.error.slice(0, 60) : '';
  const failed = run.gate.checks.filter((c) => !c.passed);
  // The drift check's slices nearest a hold (not held): "author, flags ranked against scores, p 8.9e-4 / 1.0e-3".
  const near = (run.gate.drift_near ?? []).map(
    (n) =>
      `${n.slice.kind === 'term' ? 'word' : n.slice.kind}, ${n.against === 'ranking' ? 'flags ranked against scores' : n.against === 'expected' ? 'flags vs expected' : n.against === 'moderators' ? 'against co-reviewers' : 'agreement'}` +
      `${n.region === 'model_yes' ? ', flagged items' : n.region === 'model_no' ? ', cleared items' : ''}, p ${n.p_value.toExponential(1)} / ${n.threshold.toExponential(1)}`,
  );
  const nearly = near.length ? `; nearest a hold, not held: ${near.join('; ')}` : '';
  if (failed.length === 0) return `—${nearly}`;
  const r = run.eval_report!;
  return failed
    .map((c) => {
      if (c.check === 'evidence') return `evidence ${run.gate!.evidence?.verdict ?? ''}`;
      if (c.check === 'accuracy') return `acc ${pct(r.measure.candidate.accuracy)} vs ${pct(r.measure.active.accuracy)}`;
      if (c.check.startsWith('max_recall_drop:')) {
        const cat = c.check.slice('max_recall_drop:'.length);
        const drop = (r.candidate.categories[cat]?.recall ?? 0) - (r.active.categories[cat]?.recall ?? 0);
        return `${cat} recall ${drop >= 0 ? '+' : '−'}${Math.abs(100 * drop).toFixed(1)}pp`;
      }
      return c.check;
    })
    .join('; ') + nearly;
}

/** What each category's search chose: "hate: b 30 ×0.30, l 0.3 ×0.97, β 0.010". */
function chosen(run: Run | null): string {
  const cats = run?.metrics?.categories;
  if (!cats?.length) return '—';
  const beta = (b: number | null) => (b === null ? '∞' : b < 0.001 ? b.toExponential(1) : b.toFixed(3));
  return cats.map((c) => `${c.category}: ${c.experts.map((e) => `${e.expert[0]} ${e.l2} ×${e.scale.toFixed(2)}`).join(', ')}, β ${beta(c.beta)}`).join('; ');
}

// ---------------------------------------------------------------- the experiment

/** Held-out ranking of the supervised reference, per category. */
type Reference = Record<string, { auroc: number | null; auprc: number | null }>;

interface Row {
  round: string;
  stats: RoundStats | null;
  run: Run | null;
  heldout: HeldOut;
  /** The supervised reference trained on the train-split labels given so far; null before any. */
  reference: Reference | null;
  referenceSeconds: number;
  headVersion: number;
  heldoutSeconds: number;
  /** A rejected candidate's held-out quality (what promoting it would have done); null otherwise. */
  rejectedCandidate: HeldOut | null;
}

const rows: Row[] = [];
const rank = (m: { auroc: number | null; auprc: number | null } | undefined) => (m ? `${auc(m.auroc)} / ${auc(m.auprc)}` : '—');
const summary = (h: HeldOut) => [h.classAccuracy !== null ? pct(h.classAccuracy) : null, ...D.categories.map((c) => rank(h.categories[c]))].filter((x) => x !== null).join(' · ');
const summaryName = [...(D.classOf ? ['class acc'] : []), ...D.categories.map((c) => `${c} AUROC / AUPRC`)].join(' · ');
const HEADER = [
  'round',
  'items',
  'new labels (disagreements)',
  'train pairs',
  'run',
  'gate evidence (95% intervals; eval + new train items)',
  'gate reasons',
  ...D.categories.map((c) => `held-out ${c} AUROC / AUPRC: loop`),
  ...D.categories.map((c) => `${c}: supervised reference`),
  ...(D.classOf ? ['class acc'] : []),
  `rejected cand. held-out ${summaryName}`,
  'chosen',
  'train s',
];

function cells(row: Row): string[] {
  const s = row.stats;
  const run = row.run;
  return [
    row.round,
    s ? String(s.items) : run ? '0' : '—',
    s ? `${s.labels} (${s.disagreements})` : run ? '0' : '—',
    run?.data_snapshot?.pairs !== undefined ? String(run.data_snapshot.pairs) : '—',
    run ? run.status : '—',
    run ? evidence(run) : '—',
    run ? shortReasons(run) : '—',
    ...D.categories.map((c) => rank(row.heldout.categories[c])),
    ...D.categories.map((c) => rank(row.reference?.[c])),
    ...(D.classOf ? [pct(row.heldout.classAccuracy)] : []),
    row.rejectedCandidate ? summary(row.rejectedCandidate) : '—',
    chosen(run),
    typeof run?.metrics?.seconds === 'number' ? run.metrics.seconds.toFixed(1) : '—',
  ];
}

interface Hold {
  id: string;
  training_run_id: string;
  category: string;
  moderator_key_id: string | null;
  labels: number;
  status: string;
}
const heldBy = new Map<string, Hold[]>();

/** Which batches a held run held; then (unless --keep-held) an admin discards them, so the next round trains without them. */
async function decideHolds(run: Run): Promise<void> {
  const holds = (await call<{ data: Hold[] }>('GET', '/v1/label-holds?status=held', ADMIN_KEY)).data.filter((h) => h.training_run_id === run.id);
  heldBy.set(run.id, holds);
  if (args['keep-held']) return;
  for (const h of holds) await call('POST', `/v1/label-holds/${h.id}/discard`, ADMIN_KEY, { note: 'bench:loop: a bad batch' });
}

async function activate(headId: string, reason: string): Promise<void> {
  await call('POST', `/v1/models/${headId}/activate`, ADMIN_KEY, { reason });
  while ((await activeHead()).head_id !== headId) await new Promise((r) => setTimeout(r, 50));
}

/**
 * What if the gate had promoted a rejected candidate? Activate it through the admin API, score the
 * held-out set, and put the head the run started from back.
 */
async function heldoutIfPromoted(run: Run): Promise<HeldOut | null> {
  if (run.status !== 'rejected' || !run.candidate_head_id || !run.active_head_id) return null;
  await activate(run.candidate_head_id, 'bench:loop: held-out what-if for a rejected candidate');
  try {
    return await scoreHeldout();
  } finally {
    await activate(run.active_head_id, 'bench:loop: back to the head the gate kept');
  }
}

/** Every train-split label the rounds gave the loop so far (what the supervised reference learns from). */
const GIVEN: Labelled[] = [];

/** The supervised reference (bench/supervised.ts) on GIVEN, scored on the held-out set. */
function reference(): Reference | null {
  if (GIVEN.length === 0) return null;
  const t = mainPolicy.settings.training;
  const score = fitSupervised(GIVEN, D.categories, {
    l2: t.l2,
    folds: t.folds,
    seed: t.seed,
    ngrams: { config: { buckets: t.ngrams.buckets, word: t.ngrams.word, char: t.ngrams.char }, minDf: t.ngrams.min_df },
  });
  const scores = score(heldout.map((x) => x.text));
  return Object.fromEntries(
    D.categories.map((c) => {
      const truth = heldout.map((x) => x.truth[c]);
      const s = scores.map((r) => r[c]);
      return [c, s.some(Number.isNaN) ? { auroc: null, auprc: null } : { auroc: auroc(truth, s), auprc: averagePrecision(truth, s) }];
    }),
  );
}

async function record(round: string, stats: RoundStats | null, run: Run | null): Promise<void> {
  const t = performance.now();
  const h = await scoreHeldout();
  const heldoutSeconds = (performance.now() - t) / 1000;
  if (h.openedTasks > 0) say(`warning: held-out scoring opened ${h.openedTasks} review tasks`);
  const headVersion = (await activeHead()).head_version;
  const rejectedCandidate = run ? await heldoutIfPromoted(run) : null;
  const tr = performance.now();
  const ref = reference();
  const referenceSeconds = (performance.now() - tr) / 1000;
  const row: Row = { round, stats, run, heldout: h, reference: ref, referenceSeconds, headVersion, heldoutSeconds, rejectedCandidate };
  rows.push(row);
  console.log(cells(row).join(' | '));
}

console.log(HEADER.join(' | '));
await record('0 (starter head)', null, null);

// The control (--all-data-first) sees the same items and makes as many training runs, but all the
// feedback arrives before the first run: it separates "more feedback" from "more runs on the same labels".
const ALL_FIRST = args['all-data-first'];
let offset = 0;
const badRound = BAD_MODERATOR ? ROUNDS + 1 : 0;
const cleanRounds = ROUNDS + (BAD_MODERATOR ? 1 : 0);
const totalRounds = cleanRounds + (INVERTED ? 1 : 0);
for (let round = 1; round <= totalRounds; round++) {
  const invert = round > cleanRounds;
  const bad = round === badRound;
  const size = invert ? INVERTED : ALL_FIRST ? (round === 1 ? ROUNDS * PER_ROUND : round === badRound ? PER_ROUND : 0) : PER_ROUND;
  const batch = pool.slice(offset, offset + size);
  offset += size;
  let stats: RoundStats | null = null;
  const label = invert ? `${round} (inverted)` : bad ? `${round} (${MODERATOR_KEYS[MODERATOR_KEYS.length - 1].name} inverts)` : String(round);
  if (batch.length > 0) {
    say(`round ${label}: moderating and reviewing ${batch.length} items`);
    stats = await moderateAndReview(batch, round, invert, bad);
    say(`round ${round}: moderate ${stats.seconds.moderate.toFixed(1)} s, review ${stats.seconds.review.toFixed(1)} s, ${stats.labels} new labels; training`);
  } else {
    say(`round ${round}: no new feedback (control); training again on the same labels`);
  }
  const run = await train(batch.length === 0 && args.force);
  if (run.error) say(`round ${round}: run ${run.status}: ${run.error.slice(0, 300).replace(/the word "[^"]*"/g, 'the word (not printed)')}`);
  if (run.status === 'held') await decideHolds(run);
  await record(label, stats, run);
}

// ---------------------------------------------------------------- attacks after the clean rounds

const TARGET = D.categories[0];
const flip = (h: Record<string, boolean>, cats: string[]) => ({ ...h, ...Object.fromEntries(cats.map((c) => [c, !h[c]])) });
/** An item's words as the drift check's word slices see them. */
const wordsOf = (text: string) => new Set(termsOf(text));

async function attackFor(kind: PoisonKind, batch: Item[], night: number): Promise<{ attack: Attack; what: string }> {
  if (kind === 'inverted') return { attack: { label: (_i, h) => flip(h, D.categories), changed: 0 }, what: 'every label inverted' };
  if (kind === 'never-flag') {
    const r = await call<{ key: string; id: string }>('POST', '/v1/admin/api-keys', ADMIN_KEY, { name: 'new moderator (never flags)', role: 'moderator' }, [201]);
    const reviewer = { key: r.key, id: r.id, name: 'new moderator' };
    EXTRA_NAMES.set(r.id, reviewer.name);
    return { attack: { reviewer, label: (_i, h) => ({ ...h, [TARGET]: false }), changed: 0 }, what: `${TARGET} never flagged by a new key` };
  }
  if (kind === 'flip-positives') return { attack: { label: (i, h) => (i.truth[TARGET] ? { ...h, [TARGET]: false } : h), changed: 0 }, what: `${TARGET} positives labelled negative` };
  if (kind === 'term') {
    const df = new Map<string, number>();
    const pos = new Map<string, number>();
    for (const x of batch) for (const w of wordsOf(x.text)) {
      df.set(w, (df.get(w) ?? 0) + 1);
      if (x.truth[TARGET]) pos.set(w, (pos.get(w) ?? 0) + 1);
    }
    const [term] = [...pos].filter(([w]) => df.get(w)! <= batch.length / 3).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0];
    const n = df.get(term)!;
    return { attack: { label: (i, h) => (wordsOf(i.text).has(term) ? flip(h, [TARGET]) : h), changed: 0 }, what: `${TARGET} inverted on the ${n} texts with one word (not printed)` };
  }
  if (kind === 'author') {
    const count = new Map<string, number>();
    for (const x of batch) if (x.author) count.set(x.author, (count.get(x.author) ?? 0) + 1);
    const ranked = [...count].sort((a, b) => b[1] - a[1]);
    const chosen = new Set<string>();
    let covered = 0;
    for (const [a, n] of ranked) {
      if (covered >= batch.length / 10) break;
      chosen.add(a);
      covered += n;
    }
    return { attack: { label: (i, h) => (i.author && chosen.has(i.author) ? flip(h, [TARGET]) : h), changed: 0 }, what: `${TARGET} inverted on the ${covered} items of ${chosen.size} authors` };
  }
  // slow: a seeded share of the night's items (10 % unless --slow-share).
  const rng = mulberry32((SEED * 6007 + night) >>> 0);
  const hit = batch.map(() => rng() < SLOW_SHARE);
  return { attack: { label: (_i, h, k) => (hit[k] ? flip(h, [TARGET]) : h), changed: 0 }, what: `night ${night}: ${TARGET} inverted on ${Math.round(SLOW_SHARE * 100)} % of the items` };
}

const POISONED: { round: string; kind: PoisonKind; what: string; changed: number; status: string; holds: string[]; reasons: string }[] = [];
if (POISON) {
  for (let night = 1; night <= POISON_ROUNDS; night++) {
    const round = totalRounds + night;
    const batch = pool.slice(offset, offset + POISON_ITEMS);
    offset += POISON_ITEMS;
    const { attack, what } = await attackFor(POISON, batch, night);
    const label = `${round} (poison: ${POISON}${POISON_ROUNDS > 1 ? ` ${night}/${POISON_ROUNDS}` : ''})`;
    say(`round ${label}: ${what}; moderating and reviewing ${batch.length} items`);
    const stats = await moderateAndReview(batch, round, false, false, attack);
    const run = await train(false);
    if (run.status === 'held') await decideHolds(run);
    await record(label, stats, run);
    const holds = (heldBy.get(run.id) ?? []).map((h) => `${h.category} (${moderatorName(h.moderator_key_id)}, ${h.labels} verdicts)`);
    // A word slice's reason names the word: the bench prints none of the data's words.
    const reasons = (run.status === 'held' ? (run.error ?? '') : shortReasons(run)).replace(/the word "[^"]*"/g, 'the word (not printed)');
    POISONED.push({ round: label, kind: POISON, what, changed: attack.changed, status: run.status, holds, reasons });
    // The night's test of each moderator's flags against the serving head's expectation in the target
    // category: how near a hold it came (its p-value against the threshold), for attacks that stay under it.
    for (const r of run.data_snapshot?.drift?.rows ?? []) {
      // An author's or a word's ranking row that came near (the snapshot keeps those at p ≤ 0.01); no word is printed.
      if (r.category === TARGET && r.scope === 'batch' && r.against === 'ranking' && (r.slice.kind === 'author' || r.slice.kind === 'term')) {
        say(
          `round ${label}: ${r.slice.kind === 'author' ? `author ${r.slice.value}` : 'a word'}: ${r.batch.n} scored verdicts, ${r.batch.agree} flagged; ` +
            `AUC ${r.batch.rate?.toFixed(2)} ± ${r.se?.batch.toFixed(2)} against ${r.history.rate?.toFixed(2)} on ${r.history.n} earlier (p ${r.p_value?.toExponential(1)} against ${r.threshold?.toExponential(1)}: ${r.finding ? 'found' : 'not found'})`,
        );
      }
      if (r.category !== TARGET || r.scope !== 'batch' || r.slice.kind !== 'moderator' || r.against !== 'expected' || !r.expected) continue;
      say(
        `round ${label}: ${moderatorName(r.moderator)} flagged ${TARGET} on ${r.batch.agree} of ${r.batch.n} where the head expected ${r.expected.batch.toFixed(1)}; ` +
          `history ${r.history.agree} of ${r.history.n} where ${r.expected.history.toFixed(1)} (change ${((r.change ?? 0) * 100).toFixed(0)} %, p ${r.p_value?.toExponential(1)} against ${r.threshold?.toExponential(0)}: ${r.finding ? 'found' : 'not found'})`,
      );
    }
    say(`round ${label}: ${attack.changed} target labels changed; run ${run.status}${holds.length ? `: held ${holds.join(', ')}` : ''}`);
  }
}

// ---------------------------------------------------------------- report

const md = (header: string[], body: string[][]) =>
  [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const totalSeconds = (performance.now() - t0) / 1000;
const out: string[] = [];
out.push('', `## bench:loop results (${D.name})`, '');
const strata = [...new Set(heldout.map((x) => x.stratum))].sort();
out.push(
  `${D.describe}. Held-out: ${heldout.length} items, stratified (${strata.map((s) => `${heldout.filter((x) => x.stratum === s).length} ${s}`).join(' / ')}), ` +
    `never moderated for training. Rounds: ${ALL_FIRST ? `control, all ${ROUNDS * PER_ROUND} items reviewed before run 1, then ${ROUNDS - 1} more runs` : `${ROUNDS} × ${PER_ROUND} items`}` +
    `${BAD_MODERATOR ? ` + 1 round in which ${MODERATOR_KEYS[MODERATOR_KEYS.length - 1].name} of ${MODERATORS} inverts` : ''}` +
    `${INVERTED ? ` + 1 inverted round of ${INVERTED}` : ''}. ${MODERATORS} moderator${MODERATORS === 1 ? '' : 's'} taking turns. Seed ${SEED}.`,
);
out.push(`Training and gate: policies/default.yaml${(args.set as string[]).length ? `, with ${(args.set as string[]).map((s) => `--set ${s}`).join(' ')}` : ' as shipped'}.`, '');
out.push(md(HEADER, rows.map(cells)), '');
out.push('Held-out per category (precision / recall / F1 at the flag threshold, how many held-out items the head flags, AUROC of its scores):', '');
out.push(
  md(
    ['round', 'head v', ...D.categories.flatMap((c) => [`${c} P / R / F1`, `${c} flagged`, `${c} AUROC`]), 'cell acc'],
    rows.map((r) => {
      const prf = (m: CategoryMetrics) => `${pct(m.precision)} / ${pct(m.recall)} / ${pct(m.f1)}`;
      return [r.round, String(r.headVersion), ...D.categories.flatMap((c) => [prf(r.heldout.categories[c]), String(r.heldout.categories[c].flagged), auc(r.heldout.categories[c].auroc)]), pct(r.heldout.cellAccuracy)];
    }),
  ),
  '',
);
out.push(`The queue per round (verdict cells = items × ${D.categories.length} categories; "+": the moderator flagged what the model did not):`, '');
out.push(
  md(
    ['round', 'moderator = truth', 'moderator = model decision', ...D.categories.map((c) => `disagreements ${c} +/−`), 'eval-split items', 'n-gram weights', 'moderate s', 'review s', 'held-out scoring s', 'reference fit s'],
    rows
      .filter((r) => r.stats)
      .map((r) => {
        const s = r.stats!;
        return [
          r.round,
          pct(s.moderatorMatchesTruth / s.cells),
          pct(s.moderatorMatchesModel / s.cells),
          ...D.categories.map((c) => `${s.disagreementsBy[c].up} / ${s.disagreementsBy[c].down}`),
          String(s.evalItems),
          r.run?.metrics?.ngram_weights !== undefined ? String(r.run.metrics.ngram_weights) : '—',
          s.seconds.moderate.toFixed(1),
          s.seconds.review.toFixed(1),
          r.heldoutSeconds.toFixed(1),
          r.referenceSeconds.toFixed(1),
        ];
      }),
  ),
  '',
);
// The loop against the supervised reference after the last clean round, and the first run's gate.
const lastClean = rows.filter((r) => r.stats && !r.round.includes('(')).at(-1) ?? rows.at(-1)!;
const starter = rows[0];
const first = rows.find((r) => r.round === '1');
const result = {
  dataset: D.name,
  seed: SEED,
  set: args.set,
  model: path.relative(process.cwd(), MODEL_DIR) || MODEL_DIR,
  last_clean_round: lastClean.round,
  categories: Object.fromEntries(
    D.categories.map((c) => [
      c,
      {
        starter: starter.heldout.categories[c],
        loop: { auroc: lastClean.heldout.categories[c].auroc, auprc: lastClean.heldout.categories[c].auprc },
        reference: lastClean.reference?.[c] ?? null,
        round1_candidate: first ? (first.rejectedCandidate ?? first.heldout).categories[c] : null,
      },
    ]),
  ),
  round1: first?.run ? { status: first.run.status, evidence: first.run.gate?.evidence ?? null } : null,
  runs: rows.filter((r) => r.run).map((r) => ({ round: r.round, status: r.run!.status })),
  clean: {
    runs: rows.filter((r) => r.run && !r.round.includes('(')).length,
    promoted: rows.filter((r) => r.run && !r.round.includes('(') && r.run.status === 'promoted').length,
    held: rows.filter((r) => r.run && !r.round.includes('(') && r.run.status === 'held').length,
  },
  poison: POISON ? { kind: POISON, target: TARGET, rounds: POISONED, promoted: POISONED.filter((p) => p.status === 'promoted').length } : null,
  // A repost on the other side from its original stops the bench (moderateAndReview throws): a finished run had none.
  duplicates: DUPLICATES ? { share: DUPLICATES, reposts_checked: repostsChecked, groups: SIDE.size } : null,
  authors: AUTHORS,
  seconds: Math.round(totalSeconds),
};
out.push(
  `After round ${lastClean.round}: ` +
    D.categories
      .map((c) => `${c} loop ${rank(lastClean.heldout.categories[c])} vs supervised reference ${rank(lastClean.reference?.[c])}`)
      .join('; ') +
    '.',
  '',
);
out.push(`Total wall time: ${totalSeconds.toFixed(0)} s.`);
console.log(out.join('\n'));
// One line for scripts that collect seeds (scripts/quality-table.ts reads these).
console.log(`RESULT ${JSON.stringify(result)}`);

await server.destroy();
await database.destroy();
