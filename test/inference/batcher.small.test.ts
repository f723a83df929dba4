/**
 * The batcher on a fake clock (helpers/fake-clock.ts): the fake backbone's run time passes on the same
 * clock, so every wait, batch start and batch composition below is exact, whatever the machine's load.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DynamicBatcher, type BatcherOptions, type BatchRunner, type BatchStats } from '../../src/inference/batcher.js';
import { InferenceTimeout } from '../../src/inference/errors.js';
import { SequenceEncoder, type Batch, type Encoded } from '../../src/inference/tokenizer.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

const enc = (...ids: number[]): Encoded => ({ ids, typeIds: ids.map(() => 0), tokenCount: ids.length, truncated: false });

/** A fake backbone: the feature of a row is [first id, row length without padding], `delayMs` on `clock` after the batch starts. */
function fakeRunner(clock: FakeClock, delayMs: number, size = 1, fail?: (b: Batch) => boolean) {
  const batches: Batch[] = [];
  /** When each batch started, on the clock. */
  const starts: number[] = [];
  const runner: BatchRunner<Encoded, Float32Array> = {
    size,
    async run(items: Encoded[]) {
      const b = SequenceEncoder.pad(items, 0);
      batches.push(b);
      starts.push(clock.now());
      await clock.sleep(delayMs);
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
  return { runner, batches, starts };
}

/** Encoded sequences, bucketed by their token count when bucketing is on, on `clock`. */
const batcher = (clock: FakeClock, runner: BatchRunner<Encoded, Float32Array>, opts: BatcherOptions<Encoded>) =>
  new DynamicBatcher<Encoded, Float32Array>(runner, { ...opts, clock, lengthOf: (e) => e.ids.length });

/** Whether a promise has settled yet (checked after the callbacks due now have run). */
function watch<T>(p: Promise<T>): { readonly settled: boolean } {
  const state = { settled: false };
  p.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

test('concurrent submissions are merged into one padded batch and each gets its own row back', async () => {
  const clock = new FakeClock();
  const { runner, batches, starts } = fakeRunner(clock, 5);
  const stats: BatchStats[] = [];
  const b = batcher(clock, runner, { maxBatch: 8, maxWaitMs: 5, onBatch: (s) => stats.push(s) });
  const pending = Promise.all([b.submit(enc(7)), b.submit(enc(8, 8, 8)), b.submit(enc(9, 9))]);
  await clock.advance(4);
  assert.equal(batches.length, 0, 'still waiting for company');
  await clock.advance(6);
  const out = await pending;
  assert.deepEqual(out.map((f) => [...f]), [[7, 1], [8, 3], [9, 2]]);
  assert.equal(batches.length, 1);
  assert.equal(batches[0].size, 3);
  assert.equal(batches[0].seqLen, 3, 'padded to the longest');
  assert.deepEqual(starts, [5], 'left when the oldest had waited maxWaitMs');
  assert.deepEqual(stats, [{ size: 3, waitMs: 5, runMs: 5, seqLen: 3 }]);
});

test('batches never exceed maxBatch and keep arrival order; a full batch leaves at once', async () => {
  const clock = new FakeClock();
  const { runner, batches, starts } = fakeRunner(clock, 2);
  const b = batcher(clock, runner, { maxBatch: 4, maxWaitMs: 1 });
  const pending = Promise.all(Array.from({ length: 10 }, (_, i) => b.submit(enc(i + 1))));
  await clock.advance(100);
  const out = await pending;
  assert.deepEqual(out.map((f) => f[0]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // The first four fill a batch at t=0; the next four are full when the worker frees at t=2; the last
  // two have waited past maxWaitMs when it frees again at t=4.
  assert.deepEqual(batches.map((x) => x.size), [4, 4, 2]);
  assert.deepEqual(starts, [0, 2, 4]);
});

test('a lone request waits exactly the wait bound for company, then runs', async () => {
  const clock = new FakeClock();
  const { runner, batches } = fakeRunner(clock, 0);
  const stats: number[] = [];
  const b = batcher(clock, runner, { maxBatch: 64, maxWaitMs: 20, onBatch: (s) => stats.push(s.waitMs) });
  const answer = b.submit(enc(1));
  const state = watch(answer);
  await clock.advance(19);
  assert.equal(batches.length, 0);
  assert.equal(state.settled, false);
  await clock.advance(1);
  assert.equal(state.settled, true, 'answered at maxWaitMs');
  assert.deepEqual([...(await answer)], [1, 1]);
  assert.deepEqual(stats, [20]);
});

test('a request at idle with no wait bound goes at once', async () => {
  const clock = new FakeClock();
  const { runner, starts } = fakeRunner(clock, 3);
  const b = batcher(clock, runner, { maxBatch: 64, maxWaitMs: 0 });
  const answer = b.submit(enc(4));
  assert.deepEqual(starts, [0], 'dispatched within submit');
  await clock.advance(3);
  assert.deepEqual([...(await answer)], [4, 1]);
});

test('one input that breaks the backbone fails alone; its batch-mates and later batches succeed', async () => {
  const clock = new FakeClock();
  const hasBad = (batch: Batch) => Array.from({ length: batch.size }, (_, r) => Number(batch.inputIds[r * batch.seqLen])).includes(66);
  const { runner, batches, starts } = fakeRunner(clock, 1, 1, hasBad);
  const b = batcher(clock, runner, { maxBatch: 4, maxWaitMs: 20 });
  const settled = Promise.allSettled([b.submit(enc(5)), b.submit(enc(66)), b.submit(enc(6)), b.submit(enc(7))]);
  await clock.advance(100);
  const results = await settled;
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /backbone failed/);
  assert.deepEqual(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Float32Array>).value[0]), [5, 6, 7]);
  // One batch first, then halves until the bad input is alone: [5 66 6 7] → [5 66] → [5], [66]; [6 7].
  assert.deepEqual(batches.map((x) => x.size), [4, 2, 1, 1, 2]);
  assert.deepEqual(starts, [0, 1, 2, 3, 4]);
  const later = b.submit(enc(3));
  await clock.advance(21);
  assert.deepEqual([...(await later)], [3, 1]);
});

test('a batch that times out in the runner fails its requests together, without split retries; the batcher keeps working', async () => {
  const clock = new FakeClock();
  let hang = true;
  const runs: number[] = [];
  const runner: BatchRunner<Encoded, Float32Array> = {
    size: 1,
    async run(items) {
      runs.push(items.length);
      // What the pool does with a worker that does not answer: fail the batch after its timeout.
      if (hang) return clock.sleep(50).then(() => Promise.reject(new InferenceTimeout(50)));
      return { rows: items.map(() => new Float32Array(1)), runMs: 0, seqLen: 1 };
    },
  };
  const b = batcher(clock, runner, { maxBatch: 4, maxWaitMs: 0 });
  // The first goes alone at once; the next four queue behind it into one batch.
  const settled = Promise.allSettled([1, 2, 3, 4, 5].map((i) => b.submit(enc(i))));
  await clock.advance(1_000);
  const results = await settled;
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.ok(r.reason instanceof InferenceTimeout);
    assert.match(String(r.reason.message), /inference did not finish within 50 ms/);
  }
  assert.deepEqual(runs, [1, 4], 'each batch ran once: a timeout is not split and retried');
  hang = false;
  assert.equal((await b.submit(enc(6))).length, 1);
});

test('under load a request waits for the batch ahead of it, then its own batch leaves at once', async () => {
  const clock = new FakeClock();
  const { runner, batches, starts } = fakeRunner(clock, 40);
  const stats: number[] = [];
  const b = batcher(clock, runner, { maxBatch: 4, maxWaitMs: 5, onBatch: (s) => stats.push(s.waitMs) });
  const first = b.submit(enc(1)); // leaves alone at t=5 and occupies the only worker until t=45
  await clock.advance(10);
  const answeredAt = Array.from({ length: 3 }, (_, i) => b.submit(enc(10 + i)).then(() => clock.now()));
  await clock.advance(200);
  await first;
  // They waited for the running batch (t=10 → 45), then ran as one batch (45 → 85).
  assert.deepEqual(await Promise.all(answeredAt), [85, 85, 85]);
  assert.deepEqual(batches.map((x) => x.size), [1, 3]);
  assert.deepEqual(starts, [5, 45]);
  assert.deepEqual(stats, [5, 35]);
});

test('bucketing by length: the oldest goes first, with waiting sequences of similar length only', async () => {
  const clock = new FakeClock();
  const { runner, batches } = fakeRunner(clock, 5);
  const b = batcher(clock, runner, { maxBatch: 3, maxWaitMs: 0, bucketByLength: true, lengthRatio: 1.25 });
  const blocker = b.submit(enc(1)); // takes the worker while the queue fills
  const lens = [10, 2, 9, 40, 11, 12, 8];
  const rest = Promise.all(lens.map((n, i) => b.submit(enc(...Array(n).fill(20 + i)))));
  await clock.advance(100);
  const out = await rest;
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
  const clock = new FakeClock();
  const { runner, batches, starts } = fakeRunner(clock, 5, 1);
  // A long wait for company: without drain, the last four would sit for 10 s.
  const b = batcher(clock, runner, { maxBatch: 8, maxWaitMs: 10_000 });
  const accepted = Promise.all(Array.from({ length: 20 }, (_, i) => b.submit(enc(i + 1))));
  const drained = b.drain(5_000);
  const state = watch(drained);
  await clock.advance(14);
  assert.equal(state.settled, false, 'the last batch is still running');
  await clock.advance(1);
  assert.equal(state.settled, true, 'drained when the third batch came back, not after maxWaitMs');
  await drained;
  const out = await accepted;
  assert.deepEqual(out.map((f) => f[0]), Array.from({ length: 20 }, (_, i) => i + 1), 'every accepted item answered with its own row');
  assert.deepEqual(batches.map((x) => x.size), [8, 8, 4], 'full batches while draining');
  assert.deepEqual(starts, [0, 5, 10]);
  assert.equal(b.queued, 0);
  assert.equal(b.active, 0);
  await b.drain(10); // idle: returns without the clock moving
});

test('drain: past its grace, what is still queued is refused with a clear error, not left hanging', async () => {
  const clock = new FakeClock();
  let release: () => void = () => undefined;
  const runner: BatchRunner<Encoded, Float32Array> = {
    size: 1,
    run: (items) => new Promise((resolve) => (release = () => resolve({ rows: items.map(() => new Float32Array(2)), runMs: 0, seqLen: 1 }))),
  };
  const b = batcher(clock, runner, { maxBatch: 1, maxWaitMs: 0 });
  const first = b.submit(enc(1)); // in flight, stuck
  const second = b.submit(enc(2)); // queued behind it
  const secondState = watch(second);
  const drained = b.drain(30);
  await clock.advance(29);
  assert.equal(secondState.settled, false, 'still within the grace');
  await clock.advance(1);
  await drained;
  await assert.rejects(second, (err: Error) => err instanceof InferenceTimeout && /shutting down and could not score this in time/.test(err.message));
  release();
  assert.equal((await first).length, 2, 'the one in flight still gets its answer');
  await settle();
});
