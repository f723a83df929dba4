import assert from 'node:assert/strict';
import { test } from 'node:test';
import { calibrate, candidateLayouts, candidateSizes, chooseBatchSize, chooseLayout } from '../../src/inference/calibrate.js';

test('the smallest size within the tolerance of the cheapest per text wins', () => {
  const cpu = [
    { size: 1, msPerText: 5.6 },
    { size: 2, msPerText: 4.4 },
    { size: 4, msPerText: 4.1 },
    { size: 8, msPerText: 3.7 },
    { size: 16, msPerText: 3.6 },
    { size: 32, msPerText: 3.8 },
  ];
  assert.equal(chooseBatchSize(cpu), 8, '3.7 is within 10% of the cheapest (3.6); 4.1 is not');
  assert.equal(chooseBatchSize(cpu, 0.2), 4);
  assert.equal(chooseBatchSize(cpu, 0), 16);
  const gpu = [1, 2, 4, 8, 16, 32, 64, 128].map((size) => ({ size, msPerText: 2 / size + 0.01 }));
  assert.equal(chooseBatchSize(gpu), 128, 'per-text cost still falling: the largest');
  assert.throws(() => chooseBatchSize([]), /no calibration points/);
});

test('sizes tried are powers of two up to the configured maximum, which is always tried', () => {
  assert.deepEqual(candidateSizes(32), [1, 2, 4, 8, 16, 32]);
  assert.deepEqual(candidateSizes(24), [1, 2, 4, 8, 16, 24]);
  assert.deepEqual(candidateSizes(1), [1]);
});

/** A simulated backbone on a fake clock: a batch of n texts costs fixed + n·perText (+ a penalty past `knee`). */
function simulated(fixed: number, perText: number, knee = Infinity) {
  let clock = 0;
  const sizes: number[] = [];
  return {
    sizes,
    now: () => clock,
    run: async (inputs: { text: string }[]) => {
      sizes.push(inputs.length);
      clock += fixed + inputs.length * perText + Math.max(0, inputs.length - knee) * perText;
    },
  };
}

test('calibration on a CPU-like cost curve stops once larger batches cost more per text, and picks the knee', async () => {
  const sim = simulated(4, 3, 8); // per text: 7, 5, 4, 3.5, then rising past 8
  const c = await calibrate({ maxBatch: 128, workers: 2, run: sim.run, now: sim.now, minMsPerSize: 0, minRounds: 3 });
  assert.equal(c.size, 8);
  assert.ok(!sim.sizes.includes(64), 'stopped before trying 64');
  assert.deepEqual(c.points.map((p) => p.size), [1, 2, 4, 8, 16], '16 costs 4.75 per text, 1.36× the best: no further sizes');
  // The fake clock runs the two workers' batches one after the other: 2 × 28 ms per round of 2 × 8 texts.
  assert.ok(Math.abs(c.points[3].msPerText - 3.5) < 1e-9, `per text ${c.points[3].msPerText}`);
  assert.ok(sim.sizes.every((s) => s <= 128));
});

test('calibration on a GPU-like cost curve (fixed cost dominates) chooses the largest batch by itself', async () => {
  const sim = simulated(10, 0.05);
  const c = await calibrate({ maxBatch: 128, workers: 1, run: sim.run, now: sim.now, minMsPerSize: 0 });
  assert.equal(c.size, 128);
});

test('a run that fails fails the calibration (the runtime then refuses the model rather than guessing)', async () => {
  await assert.rejects(calibrate({ maxBatch: 8, workers: 1, run: () => Promise.reject(new Error('boom')) }), /boom/);
});

test('a burst of other work during one measurement does not decide: each size is measured twice, the cheaper kept', async () => {
  const sim = simulated(4, 3, 8); // per text: 7, 5, 4, 3.5 (the knee), then rising
  let burstLeft = 8; // the first pass's runs at size 8 (warm-up and rounds, both workers) cost 3× as long
  const run = async (inputs: { text: string }[]) => {
    await sim.run(inputs);
    if (inputs.length === 8 && burstLeft-- > 0) {
      await sim.run(inputs);
      await sim.run(inputs);
    }
  };
  const c = await calibrate({ maxBatch: 32, workers: 2, run, now: sim.now, minMsPerSize: 0, minRounds: 3 });
  // One pass alone would have seen 8 at 10.5 ms per text, stopped there and chosen 4.
  assert.equal(c.size, 8, `per text: ${c.points.map((p) => `${p.size}: ${p.msPerText.toFixed(2)}`).join(', ')}`);
  assert.ok(Math.abs(c.points.find((p) => p.size === 8)!.msPerText - 3.5) < 1e-9);
});

test('layouts tried: 1, 2 and 4 sessions, at most one per core, the cores split evenly', () => {
  assert.deepEqual(candidateLayouts(1), [{ workers: 1, threads: 1 }]);
  assert.deepEqual(candidateLayouts(2), [
    { workers: 1, threads: 2 },
    { workers: 2, threads: 1 },
  ]);
  assert.deepEqual(candidateLayouts(16), [
    { workers: 1, threads: 16 },
    { workers: 2, threads: 8 },
    { workers: 4, threads: 4 },
  ]);
});

test('the fewest sessions within 15 % or 0.1 ms of the fastest layout win: a session that buys a few percent is not worth a copy of the weights', () => {
  const twoCores = [
    { workers: 1, threads: 2, size: 16, msPerText: 3.36 },
    { workers: 2, threads: 1, size: 8, msPerText: 3.17 },
  ];
  assert.equal(chooseLayout(twoCores).workers, 1, '6 % slower with one session');
  assert.equal(chooseLayout(twoCores, 0.05, 0).workers, 2, 'not within 5 % (and no floor)');
  const manyCores = [
    { workers: 1, threads: 16, size: 8, msPerText: 1.0 },
    { workers: 2, threads: 8, size: 8, msPerText: 0.8 },
    { workers: 4, threads: 4, size: 8, msPerText: 0.75 },
  ];
  assert.equal(chooseLayout(manyCores).workers, 2, 'one session scales badly (33 % slower); two are within 15 % of four');
  const embeddingBag = [
    { workers: 1, threads: 2, size: 32, msPerText: 0.034 },
    { workers: 2, threads: 1, size: 32, msPerText: 0.018 },
  ];
  assert.equal(chooseLayout(embeddingBag).workers, 1, '89 % slower, but by 0.016 ms a text: under the 0.1 ms floor');
  assert.equal(chooseLayout(embeddingBag, 0.15, 0).workers, 2, 'without the floor, the relative rule alone');
  assert.throws(() => chooseLayout([]), /no layout points/);
});
