import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DynamicBatcher, type BatcherOptions, type BatchRunner } from '../../src/inference/batcher.js';
import { SequenceEncoder, type Batch, type Encoded } from '../../src/inference/tokenizer.js';

const enc = (...ids: number[]): Encoded => ({ ids, typeIds: ids.map(() => 0), tokenCount: ids.length, truncated: false });

/** A fake backbone: the feature of a row is [first id, row length without padding], after `delayMs`. */
function fakeRunner(delayMs: number, size = 1, fail?: (b: Batch) => boolean) {
  const batches: Batch[] = [];
  const runner: BatchRunner<Encoded, Float32Array> = {
    size,
    async run(items: Encoded[]) {
      const b = SequenceEncoder.pad(items, 0);
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
      return { rows: items.map((_, r) => features.slice(r * 2, r * 2 + 2)), runMs: delayMs, seqLen: b.seqLen };
    },
  };
  return { runner, batches };
}

/** Encoded sequences, bucketed by their token count when bucketing is on. */
const batcher = (runner: BatchRunner<Encoded, Float32Array>, opts: BatcherOptions<Encoded>) =>
  new DynamicBatcher<Encoded, Float32Array>(runner, { ...opts, lengthOf: (e) => e.ids.length });

test('concurrent submissions are merged into one padded batch and each gets its own row back', async () => {
  const { runner, batches } = fakeRunner(5);
  const b = batcher(runner, { maxBatch: 8, maxWaitMs: 5 });
  const out = await Promise.all([b.submit(enc(7)), b.submit(enc(8, 8, 8)), b.submit(enc(9, 9))]);
  assert.deepEqual(out.map((f) => [...f]), [[7, 1], [8, 3], [9, 2]]);
  assert.equal(batches.length, 1);
  assert.equal(batches[0].size, 3);
  assert.equal(batches[0].seqLen, 3, 'padded to the longest');
});

test('batches never exceed maxBatch and keep arrival order', async () => {
  const { runner, batches } = fakeRunner(2);
  const b = batcher(runner, { maxBatch: 4, maxWaitMs: 1 });
  const out = await Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(enc(i + 1))));
  assert.deepEqual(out.map((f) => f[0]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.ok(batches.every((x) => x.size <= 4));
  assert.equal(batches.reduce((n, x) => n + x.size, 0), 10);
});

test('a lone request waits no longer than the wait bound (plus timer slack) before it runs', async () => {
  const { runner } = fakeRunner(0);
  const stats: number[] = [];
  const b = batcher(runner, { maxBatch: 64, maxWaitMs: 20, onBatch: (s) => stats.push(s.waitMs) });
  const t0 = performance.now();
  await b.submit(enc(1));
  const elapsed = performance.now() - t0;
  assert.ok(stats[0] >= 19, `waited ${stats[0]} ms for company`);
  assert.ok(elapsed < 200, `answered after ${elapsed} ms`);
});

test('one input that breaks the backbone fails alone; its batch-mates and later batches succeed', async () => {
  const hasBad = (batch: Batch) => Array.from({ length: batch.size }, (_, r) => Number(batch.inputIds[r * batch.seqLen])).includes(66);
  const { runner, batches } = fakeRunner(1, 1, hasBad);
  const b = batcher(runner, { maxBatch: 4, maxWaitMs: 20 });
  const results = await Promise.allSettled([b.submit(enc(5)), b.submit(enc(66)), b.submit(enc(6)), b.submit(enc(7))]);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /backbone failed/);
  assert.deepEqual(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Float32Array>).value[0]), [5, 6, 7]);
  assert.equal(batches[0].size, 4, 'they were one batch first');
  assert.deepEqual([...(await b.submit(enc(3)))], [3, 1]);
});

test('under load a request waits at most the wait bound plus the batch ahead of it', async () => {
  const { runner } = fakeRunner(40);
  const b = batcher(runner, { maxBatch: 4, maxWaitMs: 5 });
  const first = b.submit(enc(1)); // occupies the only worker for ~40 ms
  await new Promise((r) => setTimeout(r, 10));
  const t0 = performance.now();
  const late = Array.from({ length: 3 }, (_, i) => b.submit(enc(10 + i)).then(() => performance.now() - t0));
  await first;
  const waits = await Promise.all(late);
  // They waited for the running batch (≤ 40 ms) and then ran as one batch (40 ms).
  for (const w of waits) assert.ok(w < 40 + 5 + 40 + 40, `answered after ${w} ms`);
  assert.ok(Math.max(...waits) - Math.min(...waits) < 5, 'the three ran together');
});

test('a batch that never comes back fails its requests after runTimeoutMs; the batcher keeps working', async () => {
  let hang = true;
  const runner: BatchRunner<Encoded, Float32Array> = {
    size: 1,
    run: (items) => (hang ? new Promise(() => undefined) : Promise.resolve({ rows: items.map(() => new Float32Array(1)), runMs: 0, seqLen: 1 })),
  };
  const b = batcher(runner, { maxBatch: 2, maxWaitMs: 0, runTimeoutMs: 30 });
  const t0 = performance.now();
  await assert.rejects(b.submit(enc(1)), /inference did not finish within 30 ms/);
  assert.ok(performance.now() - t0 < 200);
  hang = false;
  assert.equal((await b.submit(enc(2))).length, 1);
});

test('bucketing by length: the oldest goes first, with waiting sequences of similar length only', async () => {
  const { runner, batches } = fakeRunner(5);
  const b = batcher(runner, { maxBatch: 3, maxWaitMs: 0, bucketByLength: true, lengthRatio: 1.25 });
  const blocker = b.submit(enc(1)); // takes the worker while the queue fills
  const lens = [10, 2, 9, 40, 11, 12, 8];
  const rest = lens.map((n, i) => b.submit(enc(...Array(n).fill(20 + i))));
  const out = await Promise.all(rest);
  await blocker;
  assert.deepEqual(out.map((f) => f[1]), lens, 'every sequence got its own row back');
  const groups = batches.slice(1).map((x) => {
    const lengths: number[] = [];
    for (let r = 0; r < x.size; r++) {
      let n = 0;
      for (let i = 0; i < x.seqLen; i++) n += Number(x.attentionMask[r * x.seqLen + i]);
      lengths.push(n);
    }
    return lengths;
  });
  assert.deepEqual(groups, [[10, 9, 11], [2], [40], [12], [8]], 'at most 3 per batch, lengths within 1.25× of the oldest');
});

test('drain: at shutdown everything accepted is scored at once (no wait for a fuller batch) and answered', async () => {
  const { runner, batches } = fakeRunner(5, 1);
  // A long wait for company: without drain, a lone item would sit for 10 s.
  const b = batcher(runner, { maxBatch: 8, maxWaitMs: 10_000 });
  const accepted = Array.from({ length: 20 }, (_, i) => b.submit(enc(i + 1)));
  const started = performance.now();
  await b.drain(5_000);
  const ms = performance.now() - started;
  const out = await Promise.all(accepted);
  assert.deepEqual(out.map((f) => f[0]), Array.from({ length: 20 }, (_, i) => i + 1), 'every accepted item answered with its own row');
  assert.ok(ms < 2_000, `drained in ${ms.toFixed(0)} ms, not after maxWaitMs`);
  assert.deepEqual(batches.map((x) => x.size), [8, 8, 4], 'full batches while draining');
  assert.equal(b.queued, 0);
  assert.equal(b.active, 0);
  await b.drain(10); // idle: returns at once
});

test('drain: past its grace, what is still queued is refused with a clear error, not left hanging', async () => {
  let release: () => void = () => undefined;
  const runner: BatchRunner<Encoded, Float32Array> = {
    size: 1,
    run: (items) => new Promise((resolve) => (release = () => resolve({ rows: items.map(() => new Float32Array(2)), runMs: 0, seqLen: 1 }))),
  };
  const b = batcher(runner, { maxBatch: 1, maxWaitMs: 0 });
  const first = b.submit(enc(1)); // in flight, stuck
  const second = b.submit(enc(2)); // queued behind it
  await b.drain(30);
  await assert.rejects(second, /shutting down and could not score this in time/);
  release();
  assert.equal((await first).length, 2, 'the one in flight still gets its answer');
});
