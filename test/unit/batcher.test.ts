import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DynamicBatcher, type BatchRunner } from '../../src/inference/batcher.js';
import type { RunResult } from '../../src/inference/pool.js';
import type { Batch, Encoded } from '../../src/inference/tokenizer.js';

const enc = (...ids: number[]): Encoded => ({ ids, typeIds: ids.map(() => 0), tokenCount: ids.length, truncated: false });

/** A fake backbone: the feature of a row is [first id, row length without padding], after `delayMs`. */
function fakeRunner(delayMs: number, size = 1, fail?: (b: Batch) => boolean) {
  const batches: Batch[] = [];
  const runner: BatchRunner = {
    size,
    async run(b: Batch): Promise<RunResult> {
      batches.push(b);
      await new Promise((r) => setTimeout(r, delayMs));
      if (fail?.(b)) throw new Error('backbone failed');
      const features = new Float32Array(b.size * 2);
      for (let r = 0; r < b.size; r++) {
        features[r * 2] = Number(b.inputIds[r * b.seqLen]);
        let n = 0;
        for (let i = 0; i < b.seqLen; i++) n += Number(b.attentionMask[r * b.seqLen + i]);
        features[r * 2 + 1] = n;
      }
      return { features, featureDim: 2, runMs: delayMs };
    },
  };
  return { runner, batches };
}

test('concurrent submissions are merged into one padded batch and each gets its own row back', async () => {
  const { runner, batches } = fakeRunner(5);
  const b = new DynamicBatcher(runner, { maxBatch: 8, maxWaitMs: 5, padId: 0 });
  const out = await Promise.all([b.submit(enc(7)), b.submit(enc(8, 8, 8)), b.submit(enc(9, 9))]);
  assert.deepEqual(out.map((f) => [...f]), [[7, 1], [8, 3], [9, 2]]);
  assert.equal(batches.length, 1);
  assert.equal(batches[0].size, 3);
  assert.equal(batches[0].seqLen, 3, 'padded to the longest');
});

test('batches never exceed maxBatch and keep arrival order', async () => {
  const { runner, batches } = fakeRunner(2);
  const b = new DynamicBatcher(runner, { maxBatch: 4, maxWaitMs: 1, padId: 0 });
  const out = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(enc(i + 1))));
  assert.deepEqual(out.map((f) => f[0]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.ok(batches.every((x) => x.size <= 4));
  assert.equal(batches.reduce((n, x) => n + x.size, 0), 10);
});

test('a lone request waits no longer than the wait bound (plus timer slack) before it runs', async () => {
  const { runner } = fakeRunner(0);
  const stats: number[] = [];
  const b = new DynamicBatcher(runner, { maxBatch: 64, maxWaitMs: 20, padId: 0, onBatch: (s) => stats.push(s.waitMs) });
  const t0 = performance.now();
  await b.submit(enc(1));
  const elapsed = performance.now() - t0;
  assert.ok(stats[0] >= 19, `waited ${stats[0]} ms for company`);
  assert.ok(elapsed < 200, `answered after ${elapsed} ms`);
});

test('one input that breaks the backbone fails alone; its batch-mates and later batches succeed', async () => {
  const hasBad = (batch: Batch) => Array.from({ length: batch.size }, (_, r) => Number(batch.inputIds[r * batch.seqLen])).includes(66);
  const { runner, batches } = fakeRunner(1, 1, hasBad);
  const b = new DynamicBatcher(runner, { maxBatch: 4, maxWaitMs: 20, padId: 0 });
  const results = await Promise.allSettled([b.submit(enc(5)), b.submit(enc(66)), b.submit(enc(6)), b.submit(enc(7))]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /backbone failed/);
  assert.deepEqual(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Float32Array>).value[0]), [5, 6, 7]);
  assert.equal(batches[0].size, 4, 'they were one batch first');
  assert.deepEqual([...(await b.submit(enc(3)))], [3, 1]);
});
