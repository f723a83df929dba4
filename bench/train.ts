/**
 * `npm run bench:train [-- --pairs 100000,1000000 --batch 64,1024]`: DPO epoch time on one core for
 * synthetic pairs (d = 384, 13 labels), the core loop only (no database). Target: 1M pairs per epoch
 * in ≤ 10 s. Prints seconds per epoch, pairs per second and the ratio to the target.
 */
import { parseArgs } from 'node:util';
import { trainDpo } from '../src/tuning/trainer.js';
import { mulberry32 } from '../src/random.js';

const { values } = parseArgs({ options: { pairs: { type: 'string', default: '100000,1000000' }, batch: { type: 'string', default: '64,1024' }, dim: { type: 'string', default: '384' } } });
const D = Number(values.dim);
const C = 13;
const sizes = values.pairs!.split(',').map(Number);
const batches = values.batch!.split(',').map(Number);

function synthetic(n: number) {
  const rng = mulberry32(42);
  const features = new Float32Array(n * D);
  for (let i = 0; i < features.length; i++) features[i] = rng() * 2 - 1;
  const label = Int32Array.from({ length: n }, () => Math.floor(rng() * C));
  const sign = Int8Array.from({ length: n }, () => (rng() < 0.5 ? 1 : -1));
  return { features, label, sign };
}

const reference = {
  numLabels: C,
  dim: D,
  weight: Float32Array.from({ length: C * D }, (_, i) => Math.sin(i) * 0.05),
  bias: new Float32Array(C),
};

console.log(`DPO epoch on one core: d = ${D}, ${C} labels, sigmoid loss, AdamW (Node ${process.version})`);
console.log('pairs       batch   s/epoch   pairs/s      vs 1M-in-10s target');
for (const n of sizes) {
  const pairs = synthetic(n);
  for (const batchSize of batches) {
    const opts = { loss: { type: 'sigmoid' as const, beta: 0.1, labelSmoothing: 0 }, learningRate: 0.01, weightDecay: 0.01, epochs: 1, batchSize, anchorWeight: 0, seed: 1 };
    trainDpo(reference, synthetic(Math.min(n, 5000)), null, opts); // warm-up (JIT)
    const t = performance.now();
    trainDpo(reference, pairs, null, opts);
    const s = (performance.now() - t) / 1000;
    const perSecond = n / s;
    const target = 1_000_000 / 10;
    console.log(`${String(n).padEnd(11)} ${String(batchSize).padEnd(7)} ${s.toFixed(2).padStart(7)}   ${Math.round(perSecond).toLocaleString('en').padStart(10)}   ${(perSecond / target).toFixed(2)}× (1M pairs → ${(1_000_000 / perSecond).toFixed(1)} s)`);
  }
}
