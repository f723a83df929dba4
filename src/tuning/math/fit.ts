/**
 * A training run's fit, pure: from the train cells to a candidate head. It reads top to bottom:
 *
 *   1. whiten    the backbone features of the train items (`standardize`: whiten, scale or none; folded
 *                back into the head at the end)
 *   2. experts   per category, two DPO rewards on separate inputs: the backbone's (transformed features) and
 *                the lexical one (the n-gram buckets its items use, seen in at least min_df of them)
 *   3. search    per expert, k-fold cross-validation over the L2 grid: out-of-fold rewards, scored by the
 *                one measure (AUPRC on items, see measure.ts)
 *   4. calibrate per category, on the out-of-fold predictions: one small logistic fit (calibration.ts)
 *                weighs the experts and the reference's logit (β) and Platt-scales the result
 *   5. fit       every expert of every category on all its cells at its chosen L2, one L-BFGS problem,
 *                logging the DPO metrics (TRL's names) per iteration
 *   6. head      the experts' weights back on raw features, weighed and calibrated, beside the reference's
 *
 * Why two experts and not one model over both inputs: they want very different regularisation (on
 * Davidson the backbone's reward is best at l2 ≈ 30, the n-grams' at ≈ 0.3), and one penalty for both
 * either starves the n-grams or lets the backbone's weights overfit; each expert picks its own by
 * cross-validation, and the calibration fit decides how much each adds, by likelihood on predictions
 * neither was trained on. The result is still one linear head: a sum of linear parts.
 *
 * Each category is its own problem (its own regularisation, β and calibration): a category with ten
 * thousand labels and one with forty want different settings. Deterministic: no Math.random, no clock.
 */
import { createHash } from 'node:crypto';
import type { Head, NgramHead } from '../../inference/head.js';
import type { NgramConfig, SparseRows } from '../../inference/ngrams.js';
import { fitLogistic } from './calibration.js';
import { logSigmoid, type LossType } from './dpo.js';
import { minimize } from './lbfgs.js';
import { cellLoss, ngramPenalty, objective, parameterCount, penalty, rewards, type CategoryObjective, type CategoryProblem } from './objective.js';
import { averagePrecision } from './stats.js';
import { fitScaling, fitWhitening, identityWhitening, unwhiten, whitenRows, type Standardize, type Whitening } from './whiten.js';

/** One trained category's cells over the train items. */
export interface FitCategory {
  category: string;
  /** The head row it trains. */
  row: number;
  /** The row its logit is measured against (a two-label softmax model's other label; absent: none). */
  base?: number | null;
  /** Per cell: its train item, s (±1), class weight and the reference head's logit (z_row − z_base). */
  item: Int32Array;
  sign: Int8Array;
  weight: Float64Array;
  zRef: Float64Array;
}

export interface FitData {
  dim: number;
  /** Row-major [items × dim]: the train items' backbone features. */
  features: Float32Array;
  /** The train items' fold keys (their text's hash): folds are drawn by a hash of (seed, key). */
  itemIds: string[];
  /** The train items' n-gram rows (settings.ngrams.config); null: no lexical part. */
  ngrams: SparseRows | null;
  categories: FitCategory[];
}

export interface FitSettings {
  /**
   * The DPO loss; 'none' leaves only the NLL term (with rpo_alpha 1 and a zero reference: a plain
   * logistic regression, the bench's supervised reference, fitted by the same machinery).
   */
  loss: LossType | 'none';
  labelSmoothing: number;
  /** 'auto': chosen per category with the calibration (needs rpo_alpha 0); else the values searched. */
  beta: 'auto' | number[];
  rpoAlpha: number;
  /** L2-SP strengths to search (each expert its own), in labelled items: λ = l2 / n. */
  l2: number[];
  /**
   * Which experts: the backbone's features, the n-grams, or both (the default); `joint`: one reward over
   * both inputs with one penalty instead of two experts (for comparison).
   */
  experts: { backbone: boolean; lexical: boolean; joint?: boolean };
  /**
   * How the backbone's features are transformed for training (folded back into the head afterwards):
   * `whiten` (decorrelated, unit variance), `scale` (each feature z-scored, correlations kept) or `none`
   * (as they are). Default `whiten`.
   */
  standardize?: Standardize;
  folds: number;
  /** false: no cross-validation: the first (strongest) l2 and β, calibrated on the training cells themselves. */
  select: boolean;
  calibration: 'platt' | 'none';
  ngrams: { config: NgramConfig; minDf: number; rarePenalty: number } | null;
  seed: number;
  maxIterations: number;
}

export type ExpertKind = 'backbone' | 'lexical' | 'joint';

/** What the run chose for one expert of a category. */
export interface ExpertChoice {
  expert: ExpertKind;
  l2: number;
  /** Its weight in the served logit. */
  scale: number;
  /** AUPRC of its out-of-fold reward (with the reference, calibrated): what chose its l2; null without a search. */
  auprc: number | null;
  /** Per l2 value searched: that AUPRC. */
  grid: { l2: number; auprc: number }[];
  /** n-gram buckets with a weight (the lexical expert). */
  ngram_columns?: number;
}

/** What the run chose for one category, and why. */
export interface CategoryChoice {
  category: string;
  cells: number;
  positives: number;
  negatives: number;
  experts: ExpertChoice[];
  /**
   * DPO's β of the head: z = z_ref + u/β with u the experts' rewards mixed by their scales (Platt-scaled
   * by reference_weight); 0: the reference was left out (β → 0); null: the rewards were (β → ∞).
   */
  beta: number | null;
  /** The served logit is Σ scale_k · u_k + reference_weight · z_ref + offset. */
  reference_weight: number;
  offset: number;
  /** Folds of the search; 0 without one. */
  folds: number;
  /** AUPRC of the out-of-fold served scores; null without a search. */
  auprc: number | null;
  /** With a list of β: the AUPRC of each. */
  beta_grid?: { beta: number; auprc: number }[];
}

export interface FitStep {
  step: number;
  loss: number;
  'rewards/chosen': number;
  'rewards/rejected': number;
  'rewards/margins': number;
  'rewards/accuracies': number;
  grad_norm: number;
  nll_loss?: number;
  l2_loss: number;
}

/** A category's out-of-fold served logits: each train cell scored by a head whose fit never saw it. */
export interface OutOfFold {
  category: string;
  /** Train item of each cell (FitCategory.item). */
  item: Int32Array;
  /** The served logit of the calibrated combination, from the fold models' rewards. */
  logit: Float64Array;
}

export interface FitResult {
  head: Head;
  choices: CategoryChoice[];
  /** Per searched category: out-of-fold logits (evidence the gate can pool with the eval split). */
  outOfFold: OutOfFold[];
  steps: FitStep[];
  iterations: number;
  /** Why the final fit stopped (see LbfgsResult.reason). */
  stopped: string;
}

export interface FitHooks {
  onProgress?: (message: string) => void;
  onStep?: (s: FitStep) => void;
  shouldStop?: () => boolean;
}

/** A category trains with at least this many labels on each side (fewer: no ranking to learn). */
export const MIN_LABELS_PER_SIDE = 3;
/** Log at most this many iterations of the final fit. */
const MAX_LOGGED_STEPS = 200;

class Stopped extends Error {
  constructor() {
    super('training was stopped');
  }
}

interface Expert {
  kind: ExpertKind;
  problem: CategoryProblem;
  /** Global bucket id of each local n-gram column (lexical expert). */
  buckets: Int32Array;
  df: Int32Array;
}

interface Prepared {
  cat: FitCategory;
  experts: Expert[];
  positives: number;
  n: number;
  truth: boolean[];
}

function hash32(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0);
}

/** Step 2: the category's experts, each on its own inputs (or one joint expert over both). */
function prepare(data: FitData, dense: Float64Array, D: number, cat: FitCategory, s: FitSettings): Prepared {
  const n = cat.item.length;
  let positives = 0;
  for (let i = 0; i < n; i++) if (cat.sign[i] > 0) positives++;
  const base = { n, sign: cat.sign, weight: cat.weight, zRef: cat.zRef };
  const none = { buckets: new Int32Array(0), df: new Int32Array(0) };
  let rows: Float64Array | null = null;
  if (s.experts.backbone && D > 0) {
    rows = new Float64Array(n * D);
    for (let i = 0; i < n; i++) rows.set(dense.subarray(cat.item[i] * D, (cat.item[i] + 1) * D), i * D);
  }
  let lexical: { sparse: NonNullable<CategoryProblem['sparse']>; buckets: Int32Array; df: Int32Array } | null = null;
  if (s.experts.lexical && data.ngrams) {
    const g = data.ngrams;
    const minDf = s.ngrams?.minDf ?? 1;
    const count = new Map<number, number>();
    for (let i = 0; i < n; i++) for (let k = g.offsets[cat.item[i]]; k < g.offsets[cat.item[i] + 1]; k++) count.set(g.index[k], (count.get(g.index[k]) ?? 0) + 1);
    // Most frequent first: the hot weights sit together in memory.
    const cols = [...count.entries()].filter(([, d]) => d >= minDf).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const local = new Map(cols.map(([b], i) => [b, i]));
    const offsets = new Int32Array(n + 1);
    const index: number[] = [];
    const value: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let k = g.offsets[cat.item[i]]; k < g.offsets[cat.item[i] + 1]; k++) {
        const c = local.get(g.index[k]);
        if (c !== undefined) {
          index.push(c);
          value.push(g.value[k]);
        }
      }
      offsets[i + 1] = index.length;
    }
    lexical = { sparse: { offsets, index: Int32Array.from(index), value: Float32Array.from(value) }, buckets: Int32Array.from(cols, ([b]) => b), df: Int32Array.from(cols, ([, d]) => d) };
  }
  const experts: Expert[] = [];
  if (s.experts.joint && rows && lexical) {
    experts.push({ kind: 'joint', problem: { ...base, dim: D, dense: rows, sparse: lexical.sparse, sparseSize: lexical.buckets.length }, buckets: lexical.buckets, df: lexical.df });
  } else {
    if (rows) experts.push({ kind: 'backbone', problem: { ...base, dim: D, dense: rows, sparse: null, sparseSize: 0 }, ...none });
    if (lexical) {
      experts.push({ kind: 'lexical', problem: { ...base, dim: 0, dense: new Float64Array(0), sparse: lexical.sparse, sparseSize: lexical.buckets.length }, buckets: lexical.buckets, df: lexical.df });
    }
  }
  return { cat, experts, positives, n, truth: Array.from(cat.sign, (x) => x > 0) };
}

function objectiveFor(e: Expert, s: FitSettings, l2: number, beta: number): CategoryObjective {
  const lambda = l2 / e.problem.n;
  return {
    beta,
    loss: s.loss === 'none' ? null : { type: s.loss, beta, labelSmoothing: s.labelSmoothing },
    rpoAlpha: s.rpoAlpha,
    denseL2: lambda,
    sparseL2: e.problem.sparseSize > 0 ? ngramPenalty(e.df, lambda, s.ngrams?.rarePenalty ?? 0) : null,
  };
}

/**
 * Stratified folds over keys: each label's distinct item keys in the order of a hash of (seed, key),
 * dealt round-robin (flagged first), so every fold gets its share of both labels and all cells of one
 * key (a repeated text) share a fold.
 */
export function stratifiedFolds(itemKeys: readonly string[], item: Int32Array, sign: Int8Array, k: number, seed: number): Int32Array {
  const foldOf = new Map<string, number>();
  for (const side of [1, -1]) {
    const keys = [...new Set([...sign.keys()].filter((i) => sign[i] === side).map((i) => itemKeys[item[i]]))].filter((key) => !foldOf.has(key));
    const ordered = keys.map((key) => ({ key, h: hash32(`${seed}:${key}`) })).sort((a, b) => a.h - b.h || (a.key < b.key ? -1 : 1));
    ordered.forEach(({ key }, r) => foldOf.set(key, r % k));
  }
  return Int32Array.from(item, (it) => foldOf.get(itemKeys[it])!);
}

/** The L2 grid from strong to weak: each fit starts from the previous one's optimum. */
function path(l2: number[]): number[] {
  return [...new Set(l2)].sort((a, b) => b - a);
}

/** How the served logit is made of the experts' rewards u_k and the reference's logit. */
interface Combination {
  scales: number[];
  referenceWeight: number;
  offset: number;
  beta: number | null;
}

/**
 * Step 4: the served logit Σ a_k u_k + b z_ref + c. With β 'auto', a logistic fit with a_k, b ≥ 0 (β
 * = b / Σ a_k); with a number, b = β Σ a_k is tied (the head is z_ref + u/β, Platt-scaled); without
 * calibration, a_k = 1/β and b = 1.
 */
function combine(us: Float64Array[], zRef: Float64Array, truth: boolean[], beta: number | 'auto', s: FitSettings): Combination {
  if (beta === 'auto') {
    const f = fitLogistic([...us, zRef], truth, [...us.keys(), us.length]);
    const scales = f.coef.slice(0, us.length);
    const a = scales.reduce((x, y) => x + y, 0);
    const b = f.coef[us.length];
    return { scales, referenceWeight: b, offset: f.intercept, beta: a > 0 ? b / a : b > 0 ? null : 0 };
  }
  if (s.calibration === 'none') return { scales: us.map(() => 1 / beta), referenceWeight: 1, offset: 0, beta };
  const cols = us.map((u) => Float64Array.from(u, (x, i) => x + beta * zRef[i]));
  const f = fitLogistic(cols, truth, [...cols.keys()]);
  const a = f.coef.reduce((x, y) => x + y, 0);
  return { scales: f.coef, referenceWeight: beta * a, offset: f.intercept, beta };
}

function servedScores(c: Combination, us: Float64Array[], zRef: Float64Array): Float64Array {
  return Float64Array.from(zRef, (z, i) => us.reduce((acc, u, k) => acc + c.scales[k] * u[i], c.referenceWeight * z + c.offset));
}

interface ExpertSearch {
  l2: number;
  /** Out-of-fold rewards at the chosen l2; null without a search. */
  oof: Float64Array | null;
  auprc: number | null;
  grid: { l2: number; auprc: number }[];
}

/** Step 3 for one expert: out-of-fold rewards along the L2 path, each scored with the reference. */
function searchExpert(p: Prepared, e: Expert, fold: Int32Array | null, k: number, s: FitSettings, hooks: FitHooks): ExpertSearch {
  const l2s = path(s.l2);
  if (!fold) return { l2: l2s[0], oof: null, auprc: null, grid: [] };
  // The search's β: the one fitted with (auto) or the first listed; with the NLL term the reward depends on it.
  const fitBeta = s.beta === 'auto' ? 1 : s.beta[0];
  const oof = l2s.map(() => new Float64Array(e.problem.n));
  for (let f = 0; f < k; f++) {
    const include = Uint8Array.from(fold, (x) => (x === f ? 0 : 1));
    let x: Float64Array = new Float64Array(parameterCount(e.problem));
    l2s.forEach((l2, li) => {
      if (hooks.shouldStop?.()) throw new Stopped();
      const o = objectiveFor(e, s, l2, fitBeta);
      x = minimize((v, g) => objective(e.problem, o, v, g, include), x, { maxIterations: s.maxIterations, gradientTolerance: 0.1 / e.problem.n }).x;
      const u = rewards(e.problem, x);
      for (let i = 0; i < e.problem.n; i++) if (!include[i]) oof[li][i] = u[i];
    });
  }
  let best = 0;
  const grid = l2s.map((l2, li) => {
    const c = combine([oof[li]], p.cat.zRef, p.truth, s.beta === 'auto' ? 'auto' : s.beta[0], s);
    return { l2, auprc: averagePrecision(p.truth, servedScores(c, [oof[li]], p.cat.zRef)) ?? 0 };
  });
  // Ties go to the stronger penalty (earlier on the path).
  grid.forEach((g, li) => {
    if (g.auprc > grid[best].auprc + 1e-12) best = li;
  });
  hooks.onProgress?.(`${p.cat.category}: ${e.kind} expert, ${l2s.length} L2 values on ${k} folds: l2 ${l2s[best]} (AUPRC ${grid[best].auprc.toFixed(4)})`);
  return { l2: l2s[best], oof: oof[best], auprc: grid[best].auprc, grid };
}

/** TRL's rewards for one pair at reward u: β(log π_θ(y) − log π_ref(y)), with the limits at β → 0 and ∞. */
function pairRewardsAt(u: number, zRef: number, s: number, beta: number | null): { chosen: number; rejected: number } {
  if (beta === null) {
    // β → ∞: β(log σ(x + d/β) − log σ(x)) → d σ(−x).
    return { chosen: s * u * sigmoidOf(-s * zRef), rejected: -s * u * sigmoidOf(s * zRef) };
  }
  if (beta === 0) return { chosen: Math.min(0, s * u), rejected: Math.min(0, -s * u) };
  const z = zRef + u / beta;
  return { chosen: beta * (logSigmoid(s * z) - logSigmoid(s * zRef)), rejected: beta * (logSigmoid(-s * z) - logSigmoid(-s * zRef)) };
}

function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

function sigmoidOf(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** The whole fit. `reference` is the frozen DPO reference head; untrained rows keep its weights. */
export function fitHead(reference: Head, data: FitData, s: FitSettings, hooks: FitHooks = {}): FitResult {
  const D = data.dim;
  const itemCount = data.itemIds.length;
  if (data.features.length !== itemCount * D) throw new Error(`features hold ${data.features.length} values, expected ${itemCount} items × ${D}`);
  if (s.beta === 'auto' && s.rpoAlpha > 0) throw new Error('beta auto needs rpo_alpha 0 (with the NLL term the reward depends on β)');
  if (s.beta === 'auto' && s.calibration === 'none') throw new Error('beta auto chooses β with the calibration: calibration none needs a numeric beta');
  // Step 1.
  const mode = s.standardize ?? 'whiten';
  const whitening = mode === 'none' ? identityWhitening(D) : mode === 'scale' ? fitScaling(data.features, itemCount, D) : fitWhitening(data.features, itemCount, D);
  const dense = whitenRows(whitening, data.features, itemCount);
  // Step 2.
  const prepared = data.categories.map((c) => prepare(data, dense, D, c, s));
  for (const p of prepared) {
    if (p.positives < MIN_LABELS_PER_SIDE || p.n - p.positives < MIN_LABELS_PER_SIDE) {
      throw new Error(`category '${p.cat.category}' has ${p.positives} flagged and ${p.n - p.positives} not-flagged labels; the caller must leave out categories with fewer than ${MIN_LABELS_PER_SIDE} of either`);
    }
    if (p.experts.length === 0) throw new Error('no expert to train: the backbone has no features and the lexical part is off');
  }

  // Steps 3–4 with a search: each expert's L2, then the combination on out-of-fold rewards.
  const searched = prepared.map((p) => {
    const k = Math.min(s.folds, p.positives, p.n - p.positives);
    const fold = s.select && k >= 2 ? stratifiedFolds(data.itemIds, p.cat.item, p.cat.sign, k, s.seed) : null;
    const experts = p.experts.map((e) => searchExpert(p, e, fold, k, s, hooks));
    let combination: Combination | null = null;
    let auprc: number | null = null;
    let betaGrid: { beta: number; auprc: number }[] | undefined;
    if (fold) {
      const us = experts.map((x) => x.oof!);
      const betas: (number | 'auto')[] = s.beta === 'auto' ? ['auto'] : s.beta;
      for (const beta of betas) {
        const c = combine(us, p.cat.zRef, p.truth, beta, s);
        const ap = averagePrecision(p.truth, servedScores(c, us, p.cat.zRef)) ?? 0;
        if (beta !== 'auto') (betaGrid ??= []).push({ beta, auprc: ap });
        if (auprc === null || ap > auprc + 1e-12) {
          combination = c;
          auprc = ap;
        }
      }
    }
    const outOfFold: OutOfFold | null = fold && combination ? { category: p.cat.category, item: p.cat.item, logit: servedScores(combination, experts.map((x) => x.oof!), p.cat.zRef) } : null;
    return { p, experts, folds: fold ? k : 0, combination, auprc, betaGrid, outOfFold };
  });

  // Step 5: one L-BFGS problem over every expert of every category (independent objectives; each weighs
  // by its category's share of the cells, split among its experts, so the logged loss is a mean over pairs).
  const blocks = searched.flatMap((sr) =>
    sr.p.experts.map((e, k) => {
      const beta = sr.combination?.beta ?? (s.beta === 'auto' ? 1 : s.beta[0]);
      const fitBeta = s.beta === 'auto' ? 1 : (sr.combination?.beta ?? s.beta[0]);
      return { sr, e, o: objectiveFor(e, s, sr.experts[k].l2, fitBeta ?? 1), loggedBeta: beta, size: parameterCount(e.problem) };
    }),
  );
  const totalWeight = prepared.reduce((a, p) => a + p.cat.weight.reduce((x, y) => x + y, 0), 0);
  const share = blocks.map((b) => b.sr.p.cat.weight.reduce((x, y) => x + y, 0) / totalWeight / b.sr.p.experts.length);
  const offsets = [0];
  for (const b of blocks) offsets.push(offsets.at(-1)! + b.size);
  const joint = (x: Float64Array, g: Float64Array) => {
    let f = 0;
    blocks.forEach((b, i) => {
      const xs = x.subarray(offsets[i], offsets[i + 1]);
      const gs = g.subarray(offsets[i], offsets[i + 1]);
      f += share[i] * objective(b.e.problem, b.o, xs, gs);
      for (let q = 0; q < gs.length; q++) gs[q] *= share[i];
    });
    return f;
  };
  const steps: FitStep[] = [];
  const record = (iteration: number, x: Float64Array, gradNorm: number) => {
    const m = { loss: 0, nll: 0, l2: 0, chosen: 0, rejected: 0, right: 0, cells: 0 };
    blocks.forEach((b, i) => {
      const xs = x.subarray(offsets[i], offsets[i + 1]);
      const pr = b.e.problem;
      const u = rewards(pr, xs);
      const W = pr.weight.reduce((a, y) => a + y, 0);
      for (let j = 0; j < pr.n; j++) {
        const c = cellLoss(u[j], pr.sign[j], pr.zRef[j], b.o);
        m.loss += (share[i] * pr.weight[j] * c.dpo) / W;
        m.nll += (share[i] * pr.weight[j] * c.nll) / W;
        const r = pairRewardsAt(u[j], pr.zRef[j], pr.sign[j], b.loggedBeta);
        m.chosen += r.chosen;
        m.rejected += r.rejected;
        if (r.chosen > r.rejected) m.right++;
        m.cells++;
      }
      m.l2 += share[i] * penalty(b.o, xs, null, pr.dim);
    });
    const n = Math.max(1, m.cells);
    const step: FitStep = {
      step: iteration,
      loss: m.loss,
      'rewards/chosen': m.chosen / n,
      'rewards/rejected': m.rejected / n,
      'rewards/margins': (m.chosen - m.rejected) / n,
      'rewards/accuracies': m.right / n,
      grad_norm: gradNorm,
      ...(s.rpoAlpha > 0 ? { nll_loss: m.nll } : {}),
      l2_loss: m.l2,
    };
    steps.push(step);
    hooks.onStep?.(step);
  };
  const x0 = new Float64Array(offsets.at(-1)!);
  const g0 = new Float64Array(x0.length);
  joint(x0, g0);
  record(0, x0, norm(g0));
  const cellsTotal = prepared.reduce((a, p) => a + p.n, 0);
  let logEvery = 1;
  const result = minimize(joint, x0, {
    maxIterations: s.maxIterations,
    gradientTolerance: 0.1 / Math.max(1, cellsTotal),
    onIteration: (it) => {
      if (it.iteration % logEvery === 0) record(it.iteration, it.x, it.gradientNorm);
      if (steps.length >= MAX_LOGGED_STEPS) {
        // Keep every other logged step and log half as often from here on.
        const kept = steps.filter((_, k) => k % 2 === 0);
        steps.length = 0;
        steps.push(...kept);
        logEvery *= 2;
      }
      return hooks.shouldStop?.() === true;
    },
  });
  if (result.reason === 'stopped') throw new Stopped();
  if (steps.at(-1)!.step !== result.iterations) {
    const g = new Float64Array(result.x.length);
    joint(result.x, g);
    record(result.iterations, result.x, norm(g));
  }

  // Step 4 without a search: the combination on the training cells' own rewards.
  const solved = blocks.map((b, i) => result.x.subarray(offsets[i], offsets[i + 1]));
  const trained: TrainedCategory[] = [];
  const choices: CategoryChoice[] = [];
  let at = 0;
  for (const sr of searched) {
    const xs = solved.slice(at, at + sr.p.experts.length);
    at += sr.p.experts.length;
    const combination =
      sr.combination ??
      combine(
        sr.p.experts.map((e, k) => rewards(e.problem, xs[k])),
        sr.p.cat.zRef,
        sr.p.truth,
        s.beta === 'auto' ? 'auto' : s.beta[0],
        s,
      );
    trained.push({ p: sr.p, xs, c: combination });
    choices.push({
      category: sr.p.cat.category,
      cells: sr.p.n,
      positives: sr.p.positives,
      negatives: sr.p.n - sr.p.positives,
      experts: sr.p.experts.map((e, k) => ({
        expert: e.kind,
        l2: sr.experts[k].l2,
        scale: combination.scales[k],
        auprc: sr.experts[k].auprc,
        grid: sr.experts[k].grid,
        ...(e.buckets.length > 0 ? { ngram_columns: e.buckets.length } : {}),
      })),
      beta: combination.beta,
      reference_weight: combination.referenceWeight,
      offset: combination.offset,
      folds: sr.folds,
      auprc: sr.auprc,
      ...(sr.betaGrid ? { beta_grid: sr.betaGrid } : {}),
    });
  }

  // Step 6.
  const head = buildHead(reference, whitening, trained, s.ngrams?.config ?? null);
  return { head, choices, outOfFold: searched.flatMap((sr) => (sr.outOfFold ? [sr.outOfFold] : [])), steps, iterations: result.iterations, stopped: result.reason };
}

interface TrainedCategory {
  p: Prepared;
  /** Each expert's solved reward weights, in the expert order of p. */
  xs: Float64Array[];
  c: Combination;
}

/**
 * Step 6: each trained row is Σ_k scale_k · (expert k's weights on raw inputs) + reference_weight ·
 * (the reference's row, every part of it) + offset; untrained rows are the reference's. A row measured
 * against a base row (two-label softmax) is base + reference_weight · (row − base) + the rest, so that
 * its logit minus the base's is what was fitted.
 */
function buildHead(reference: Head, whitening: Whitening, trained: TrainedCategory[], config: NgramConfig | null): Head {
  const C = reference.numLabels;
  const D = reference.dim;
  const weight = Float32Array.from(reference.weight);
  const bias = Float32Array.from(reference.bias);
  const lexical = reference.lexical ? { tokens: reference.lexical.tokens, weight: Float32Array.from(reference.lexical.weight) } : null;
  // n-gram weights by bucket, per head row: the reference's (scaled where trained) plus the experts'.
  const ngramRows = new Map<number, Map<number, number>>();
  const refNgrams = reference.ngrams;
  if (refNgrams) {
    refNgrams.rows.forEach((r, q) => {
      const m = new Map<number, number>();
      refNgrams.buckets.forEach((b, k) => {
        const w = refNgrams.weight[k * refNgrams.rows.length + q];
        if (w !== 0) m.set(b, w);
      });
      ngramRows.set(r, m);
    });
  }
  for (const { p, xs, c } of trained) {
    const r = p.cat.row;
    const q = p.cat.base ?? null;
    const rw = c.referenceWeight;
    // rw · (row − base) + base; without a base row, rw · row.
    const mix = (row: number, base: number) => rw * (row - base) + base;
    const w = new Float64Array(D);
    let b = (q === null ? rw * reference.bias[r] : mix(reference.bias[r], reference.bias[q])) + c.offset;
    for (let j = 0; j < D; j++) w[j] = q === null ? rw * reference.weight[r * D + j] : mix(reference.weight[r * D + j], reference.weight[q * D + j]);
    if (lexical) {
      for (let t = 0; t < lexical.tokens.length; t++) {
        lexical.weight[t * C + r] = q === null ? rw * lexical.weight[t * C + r] : mix(lexical.weight[t * C + r], lexical.weight[t * C + q]);
      }
    }
    const m = new Map<number, number>();
    for (const [bucket, v] of ngramRows.get(r) ?? []) m.set(bucket, rw * v);
    if (q !== null) {
      for (const [bucket, v] of ngramRows.get(q) ?? []) m.set(bucket, (m.get(bucket) ?? 0) + (1 - rw) * v);
    }
    p.experts.forEach((e, k) => {
      const x = xs[k];
      const a = c.scales[k];
      const dim = e.problem.dim;
      if (dim > 0) {
        const raw = unwhiten(whitening, x.subarray(1, 1 + dim), x[0]);
        for (let j = 0; j < D; j++) w[j] += a * raw.weight[j];
        b += a * raw.bias;
      } else b += a * x[0];
      e.buckets.forEach((bucket, q) => m.set(bucket, (m.get(bucket) ?? 0) + a * x[1 + dim + q]));
    });
    weight.set(w, r * D);
    bias[r] = b;
    ngramRows.set(r, m);
  }
  let ngrams: NgramHead | null = null;
  const rows = [...ngramRows.entries()].filter(([, m]) => [...m.values()].some((v) => v !== 0)).map(([r]) => r).sort((a, b) => a - b);
  const ngramConfig = refNgrams?.config ?? config;
  if (rows.length > 0 && ngramConfig) {
    const buckets = Int32Array.from(new Set(rows.flatMap((r) => [...ngramRows.get(r)!.entries()].filter(([, v]) => v !== 0).map(([bucket]) => bucket)))).sort();
    const wts = new Float32Array(buckets.length * rows.length);
    buckets.forEach((bucket, k) => rows.forEach((r, q) => (wts[k * rows.length + q] = ngramRows.get(r)!.get(bucket) ?? 0)));
    ngrams = { config: ngramConfig, rows: Int32Array.from(rows), buckets, weight: wts };
  }
  return { numLabels: C, dim: D, weight, bias, lexical, ngrams };
}
