/**
 * `npm run bench:train [-- --cells 100000,1000000 --dim 384 --nnz 200]`: the trainer's cost on one core
 * for synthetic cells (dense backbone features of `dim` values and `nnz` n-gram features per item, over
 * a vocabulary of 100,000 columns). Two numbers per size:
 *   - one pass of the objective and its gradient over every cell (what each L-BFGS iteration costs),
 *     against the target of a pass over 1M cells in ≤ 10 s;
 *   - a whole fit of one category (5-fold search over 6 L2 values, calibration, final solve) and how many
 *     passes it took.
 */
import { parseArgs } from 'node:util';
import { mulberry32 } from '../src/random.js';
import { sparseRows, type SparseRow } from '../src/inference/ngrams.js';
import { fitHead } from '../src/tuning/math/fit.js';
import { ngramPenalty, objective, type CategoryProblem } from '../src/tuning/math/objective.js';

const { values } = parseArgs({
  options: {
    cells: { type: 'string', default: '100000,1000000' },
    dim: { type: 'string', default: '384' },
    nnz: { type: 'string', default: '200' },
    'fit-cells': { type: 'string', default: '10000' },
  },
});
const D = Number(values.dim);
const NNZ = Number(values.nnz);
const V = 100_000;
const sizes = values.cells!.split(',').map(Number);

function synthetic(n: number, seed: number): { problem: CategoryProblem; rows: SparseRow[]; features: Float32Array } {
  const rng = mulberry32(seed);
  const features = Float32Array.from({ length: n * D }, () => rng() * 2 - 1);
  // Zipf-ish columns: a few frequent n-grams, a long tail.
  const rows: SparseRow[] = Array.from({ length: n }, () => {
    const cols = [...new Set(Array.from({ length: NNZ }, () => Math.min(V - 1, Math.floor(Math.exp(rng() * Math.log(V))))))].sort((a, b) => a - b);
    return { index: Int32Array.from(cols), value: Float32Array.from(cols, () => 1 / Math.sqrt(cols.length)) };
  });
  const sparse = sparseRows(rows);
  const truth = Float64Array.from({ length: n }, (_, i) => features[i * D] + 0.5 * (rng() - 0.5));
  return {
    problem: {
      n,
      dim: D,
      dense: Float64Array.from(features),
      sparse,
      sparseSize: V,
      sign: Int8Array.from(truth, (t) => (t > 0 ? 1 : -1)),
      weight: new Float64Array(n).fill(1),
      zRef: new Float64Array(n),
    },
    rows,
    features,
  };
}

console.log(`Trainer cost on one core (Node ${process.version}): ${D} dense features, ${NNZ} n-gram features per item over ${V} columns`);
console.log('cells       s/pass   cells/s      vs 1M-cells-in-10s target');
for (const n of sizes) {
  const { problem } = synthetic(n, 1);
  const o = { beta: 1, loss: { type: 'sigmoid' as const, beta: 1, labelSmoothing: 0 }, rpoAlpha: 0, denseL2: 1e-4, sparseL2: ngramPenalty(new Int32Array(V).fill(5), 1e-4, 0) };
  const x = new Float64Array(1 + D + V);
  const g = new Float64Array(x.length);
  objective(problem, o, x, g); // warm-up (JIT)
  const passes = 3;
  const t = performance.now();
  for (let k = 0; k < passes; k++) objective(problem, o, x, g);
  const s = (performance.now() - t) / 1000 / passes;
  const perSecond = n / s;
  console.log(`${String(n).padEnd(11)} ${s.toFixed(3).padStart(7)}   ${Math.round(perSecond).toLocaleString('en').padStart(10)}   ${(perSecond / 100_000).toFixed(2)}× (1M cells → ${(1_000_000 / perSecond).toFixed(1)} s a pass)`);
}

const fitN = Number(values['fit-cells']);
const { rows, features, problem } = synthetic(fitN, 2);
const C = 2;
const t = performance.now();
const r = fitHead(
  { numLabels: C, dim: D, weight: new Float32Array(C * D), bias: new Float32Array(C), lexical: null },
  {
    dim: D,
    features,
    itemIds: Array.from({ length: fitN }, (_, i) => `item-${i}`),
    ngrams: sparseRows(rows),
    categories: [{ category: 'a', row: 0, item: Int32Array.from({ length: fitN }, (_, i) => i), sign: problem.sign, weight: problem.weight, zRef: problem.zRef }],
  },
  {
    loss: 'sigmoid',
    labelSmoothing: 0,
    beta: 'auto',
    rpoAlpha: 0,
    l2: [3, 1, 0.3, 0.1, 0.03, 0.01],
    experts: { backbone: true, lexical: true },
    folds: 5,
    select: true,
    calibration: 'platt',
    ngrams: { config: { buckets: 1 << 18, word: [1, 2], char: [2, 5] }, minDf: 2, rarePenalty: 0 },
    seed: 1,
    maxIterations: 1000,
  },
);
const seconds = (performance.now() - t) / 1000;
console.log(`\nA whole fit of one category on ${fitN} cells (5 folds × 6 L2 values, calibration, final solve): ${seconds.toFixed(1)} s; final solve ${r.iterations} iterations`);
