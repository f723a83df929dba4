/**
 * `npm run bench:train [-- --pairs 100000,1000000 --batch 64,1024]`: DPO epoch time on one core for
 * synthetic pairs (d = 384, 13 labels: every item carries all its categories' labels), with and without
 * a lexical part, the core loop only (no database). Target: 1M pairs per epoch in ≤ 10 s. Prints seconds
 * per epoch, pairs per second and the ratio to the target.
 */
import { parseArgs } from 'node:util';
import { trainDpo, type Params, type TrainSet } from '../src/tuning/trainer.js';
import { mulberry32 } from '../src/random.js';

const { values } = parseArgs({
  options: {
    pairs: { type: 'string', default: '100000,1000000' },
    batch: { type: 'string', default: '64,1024' },
    dim: { type: 'string', default: '384' },
    tokens: { type: 'string', default: '30' },
    vocab: { type: 'string', default: '30000' },
  },
});
const D = Number(values.dim);
const C = 13;
const L = Number(values.tokens);
const V = Number(values.vocab);
const sizes = values.pairs!.split(',').map(Number);
const batches = values.batch!.split(',').map(Number);

/** n pairs: every item carries all 13 categories' settled labels, as a reviewed item does. */
function synthetic(n: number, lexical: boolean): TrainSet {
  const rng = mulberry32(42);
  const items = Math.ceil(n / C);
  const features = new Float32Array(items * D);
  for (let i = 0; i < features.length; i++) features[i] = rng() * 2 - 1;
  const offsets = Int32Array.from({ length: items + 1 }, (_, k) => k * L);
  // Zipf-ish token draws: a few frequent tokens, a long tail.
  const index = Int32Array.from({ length: items * L }, () => Math.min(V - 1, Math.floor(Math.exp(rng() * Math.log(V)))));
  return {
    dim: D,
    numLabels: C,
    features,
    tokens: lexical ? { offsets, index } : null,
    item: Int32Array.from({ length: n }, (_, i) => Math.floor(i / C)),
    row: Int32Array.from({ length: n }, (_, i) => i % C),
    sign: Int8Array.from({ length: n }, () => (rng() < 0.5 ? 1 : -1)),
    weight: new Float32Array(n).fill(1),
    zRef: new Float64Array(n),
  };
}

const reference = (lexical: boolean): Params => ({
  weight: Float64Array.from({ length: C * D }, (_, i) => Math.sin(i) * 0.05),
  bias: new Float64Array(C),
  lexical: lexical ? new Float64Array(V * C) : null,
});

console.log(`DPO epoch on one core: d = ${D}, ${C} labels, ${L} tokens per item (vocabulary ${V}), sigmoid loss + NLL + L2-SP, Adam (Node ${process.version})`);
console.log('pairs       batch   lexical   s/epoch   pairs/s      vs 1M-in-10s target');
for (const n of sizes) {
  for (const lexical of [false, true]) {
    const set = synthetic(n, lexical);
    for (const batchSize of batches) {
      const opts = { objective: { loss: { type: 'sigmoid' as const, beta: 0.1, labelSmoothing: 0 }, rpoAlpha: 1, l2: 1e-6, lexicalL2: 1e-5 }, learningRate: 0.2, epochs: 1, batchSize, seed: 1 };
      trainDpo(reference(lexical), synthetic(Math.min(n, 5000), lexical), opts); // warm-up (JIT)
      const t = performance.now();
      trainDpo(reference(lexical), set, opts);
      const s = (performance.now() - t) / 1000;
      const perSecond = n / s;
      const target = 1_000_000 / 10;
      console.log(
        `${String(n).padEnd(11)} ${String(batchSize).padEnd(7)} ${String(lexical).padEnd(9)} ${s.toFixed(2).padStart(7)}   ${Math.round(perSecond).toLocaleString('en').padStart(10)}   ${(perSecond / target).toFixed(2)}× (1M pairs → ${(1_000_000 / perSecond).toFixed(1)} s)`,
      );
    }
  }
}
