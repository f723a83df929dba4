/**
 * The gate as a statistical promise, on the shipped settings (policies/default.yaml): over many random
 * eval sets on which the candidate is truly worse than the active head by more than a margin, it
 * promotes no more often than its intervals allow; on sets where it is truly better it mostly promotes.
 * "Truly" is measured on a population of 20,000 items drawn the same way as each eval set.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parsePolicy } from '../../src/policy/loader.js';
import { mulberry32 } from '../../src/random.js';
import { evaluateScores, gate, measureOptions, type EvalCells } from '../../src/tuning/math/evaluate.js';
import { measureHead, type MeasureCells } from '../../src/tuning/math/measure.js';

const shipped = parsePolicy('default', readFileSync('policies/default.yaml', 'utf8')).settings.gate;
const CATEGORIES = ['hate', 'violence'];

interface World {
  prevalence: number[];
  /** Per category: how far positives sit above negatives, for the active head and the candidate. */
  muA: number[];
  muC: number[];
  /** Correlation of the two heads' noise on the same item. */
  rho: number;
}

function gauss(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** n items of `w`, each with every category: truth and both heads' calibrated-looking scores (threshold 0.5). */
function draw(w: World, n: number, seed: number): { cells: EvalCells & MeasureCells; a: Float64Array; c: Float64Array } {
  const rng = mulberry32(seed);
  const m = n * CATEGORIES.length;
  const item = new Int32Array(m);
  const category: string[] = [];
  const truth: boolean[] = [];
  const a = new Float64Array(m);
  const c = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    CATEGORIES.forEach((cat, k) => {
      const j = i * CATEGORIES.length + k;
      const y = rng() < w.prevalence[k];
      const e1 = gauss(rng);
      const e2 = w.rho * e1 + Math.sqrt(1 - w.rho * w.rho) * gauss(rng);
      item[j] = i;
      category.push(cat);
      truth.push(y);
      // Each head's score is centred on its own midpoint, so 0.5 is its natural threshold.
      a[j] = sigmoid((y ? w.muA[k] : 0) + e1 - w.muA[k] / 2);
      c[j] = sigmoid((y ? w.muC[k] : 0) + e2 - w.muC[k] / 2);
    });
  }
  const cells = { items: { n }, item, category, truth, threshold: new Float64Array(m).fill(0.5), trusted: new Array<boolean>(m).fill(false), weight: new Float64Array(n).fill(1) };
  return { cells: { ...cells, items: n } as unknown as EvalCells & MeasureCells, a, c };
}

/** The population change (candidate − active) of both parts of the measure. */
function truth(w: World, seed: number): { auprc: number; accuracy: number } {
  const { cells, a, c } = draw(w, 20_000, seed);
  const mc = { ...cells, items: 20_000 } as MeasureCells;
  const ha = measureHead(mc, a, shipped.min_auprc_positives);
  const hc = measureHead(mc, c, shipped.min_auprc_positives);
  return { auprc: hc.auprc! - ha.auprc!, accuracy: hc.accuracy! - ha.accuracy! };
}

function world(rng: () => number, direction: -1 | 1): World {
  const muA = CATEGORIES.map(() => 0.8 + 2.2 * rng());
  return {
    prevalence: CATEGORIES.map(() => 0.08 + 0.4 * rng()),
    muA,
    muC: muA.map((mu) => Math.max(0.05, mu + direction * (0.2 + 1.2 * rng()))),
    rho: 0.3 + 0.65 * rng(),
  };
}

function gateOn(w: World, n: number, seed: number) {
  const { cells, a, c } = draw(w, n, seed);
  const report = evaluateScores({ ...cells, items: { n } }, a, c, measureOptions(shipped, seed));
  return gate(report, shipped);
}

test('property: a candidate truly worse beyond the margins is promoted no more often than the intervals allow', (tc) => {
  const rng = mulberry32(2026);
  let trials = 0;
  let promoted = 0;
  const missed: string[] = [];
  for (let t = 0; trials < 120 && t < 400; t++) {
    const w = world(rng, -1);
    const d = truth(w, 10_000 + t);
    // Only worlds where the candidate is worse beyond a margin by a clear distance.
    if (!(d.auprc < -(shipped.max_auprc_drop + 0.01) || d.accuracy < -(shipped.max_accuracy_drop + 0.005))) continue;
    trials++;
    const n = 100 + Math.floor(rng() * 700);
    const decision = gateOn(w, n, 20_000 + t);
    if (decision.passed) {
      promoted++;
      missed.push(`n ${n}: true ΔAUPRC ${d.auprc.toFixed(3)}, Δacc ${d.accuracy.toFixed(3)}; ${decision.evidence.verdict}`);
    }
  }
  tc.diagnostic(`promoted ${promoted} of ${trials} truly worse candidates`);
  assert.ok(trials >= 100, `only ${trials} worse worlds drawn`);
  // Each part's interval is a two-sided 95% one: a worse candidate clears its lower bound in at most ~2.5% of sets.
  assert.ok(promoted / trials <= 0.05, `promoted ${promoted} of ${trials}: ${missed.join(' | ')}`);
});

test('property: a candidate truly better mostly promotes once there are a few hundred items', (tc) => {
  const rng = mulberry32(7);
  let trials = 0;
  let promoted = 0;
  for (let t = 0; trials < 40 && t < 200; t++) {
    const w = world(rng, 1);
    const d = truth(w, 30_000 + t);
    if (!(d.auprc > 0.05 && d.accuracy > 0)) continue;
    trials++;
    if (gateOn(w, 600, 40_000 + t).passed) promoted++;
  }
  tc.diagnostic(`promoted ${promoted} of ${trials} truly better candidates`);
  assert.ok(trials >= 30, `only ${trials} better worlds drawn`);
  assert.ok(promoted / trials >= 0.8, `promoted ${promoted} of ${trials}`);
});

test('the gate on the defects once found: a 30-point recall drop on 20 positives, and a category given up for another', () => {
  // 400 items, hate on 20 of them: the candidate loses 6 of the active head's 20 catches and nothing else changes.
  const n = 400;
  const w: World = { prevalence: [0.05, 0.3], muA: [3, 3], muC: [3, 3], rho: 1 };
  const { cells, a } = draw(w, n, 5);
  const c = Float64Array.from(a);
  let lost = 0;
  cells.truth.forEach((y, j) => {
    if (y && cells.category[j] === 'hate' && a[j] >= 0.5 && lost < 6) {
      c[j] = 0.1;
      lost++;
    }
  });
  const positives = cells.truth.filter((y, j) => y && cells.category[j] === 'hate').length;
  const d = gate(evaluateScores({ ...cells, items: { n } }, a, c, measureOptions(shipped, 1)), shipped);
  assert.equal(d.passed, false, `${positives} positives: ${d.checks.map((x) => x.detail).join(' | ')}`);
  assert.ok(d.checks.some((x) => !x.passed && (x.check === 'max_recall_drop:hate' || x.check === 'auprc:hate' || x.check === 'evidence')));
});
