/**
 * Dynamic batching: single items (texts, or encoded sequences) from concurrent requests are merged into
 * batches. A batch leaves when it is full, or when the oldest waiting item has waited `maxWaitMs` and a
 * worker is free; while all workers are busy, items keep accumulating, so batches grow with load up to
 * `maxBatch` (the calibrated size in the service: see calibrate.ts). A request at idle goes at once.
 *
 * Timeouts are the runner's: the worker pool fails a batch its worker does not answer in time (and
 * replaces the worker) with an InferenceTimeout, which this passes on without retrying.
 */
import { systemClock, type Clock } from '../clock.js';
import { InferenceTimeout } from './errors.js';

/** Runs one batch: one output row per item, in order. */
export interface BatchRunner<I, O> {
  run(items: I[]): Promise<{ rows: O[]; runMs: number; seqLen: number }>;
  readonly size: number;
}

export interface BatchStats {
  size: number;
  waitMs: number;
  runMs: number;
  seqLen: number;
}

interface Waiting<I, O> {
  item: I;
  /** Its length for bucketing (tokens, or an estimate from characters). */
  length: number;
  enqueuedAt: number;
  resolve: (row: O) => void;
  reject: (err: Error) => void;
}

export interface BatcherOptions<I> {
  maxBatch: number;
  maxWaitMs: number;
  /**
   * Batch the oldest waiting sequence only with sequences of similar length (within `lengthRatio` of
   * it), so a batch is not mostly padding: on CPU a padded batch costs as much as its longest member
   * times its size, and attention grows with the square of the length. The oldest always goes first;
   * the others wait for a batch of their own length. Measured (docs/PERFORMANCE.md): on a 2-core CPU,
   * MiniLM-L6 over tweets runs 2.8× faster in length-homogeneous batches than in arrival order.
   */
  bucketByLength?: boolean;
  /** Longest/shortest length allowed in one batch when bucketing (default 1.25). */
  lengthRatio?: number;
  /** An item's length for bucketing; required when bucketing. */
  lengthOf?: (item: I) => number;
  /** Batches in flight at once; default one per worker. */
  maxInFlight?: number;
  onBatch?: (s: BatchStats) => void;
  /** Waits and batch timings read this clock (default: the real one). */
  clock?: Clock;
}

export class DynamicBatcher<I, O> {
  private queue: Waiting<I, O>[] = [];
  private inFlight = 0;
  private timer: unknown = null;
  private readonly maxInFlight: number;
  private readonly clock: Clock;
  /** Shutting down: queued work leaves at once (no waiting for a fuller batch). */
  private draining = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly runner: BatchRunner<I, O>,
    private readonly opts: BatcherOptions<I>,
  ) {
    this.maxInFlight = opts.maxInFlight ?? Math.max(1, runner.size);
    this.clock = opts.clock ?? systemClock;
    if (opts.bucketByLength && !opts.lengthOf) throw new Error('bucketing by length needs lengthOf');
  }

  /** The largest batch that leaves (the calibrated size in the service). */
  get maxBatch(): number {
    return this.opts.maxBatch;
  }

  get queued(): number {
    return this.queue.length;
  }

  get active(): number {
    return this.inFlight;
  }

  /** Resolves with this item's row. */
  submit(item: I): Promise<O> {
    const length = this.opts.lengthOf ? Math.max(1, this.opts.lengthOf(item)) : 1;
    return new Promise((resolve, reject) => {
      this.queue.push({ item, length, enqueuedAt: this.clock.now(), resolve, reject });
      this.pump();
    });
  }

  /**
   * Shutting down: everything already accepted is scored (queued work leaves at once, without waiting
   * for a fuller batch) and answered; after `graceMs` what is still queued is refused with a clear error
   * instead. Resolves when nothing is queued or in flight.
   */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    this.pump();
    const idle = new Promise<void>((resolve) => {
      if (this.queue.length === 0 && this.inFlight === 0) resolve();
      else this.idleWaiters.push(resolve);
    });
    let timer: unknown;
    const late = new Promise<'late'>((resolve) => {
      timer = this.clock.setTimeout(() => resolve('late'), graceMs);
    });
    const outcome = await Promise.race([idle, late]);
    this.clock.clearTimeout(timer);
    if (outcome === 'late') {
      for (const w of this.queue.splice(0)) w.reject(new InferenceTimeout(graceMs, 'the service is shutting down and could not score this in time'));
    }
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < this.maxInFlight) {
      const oldestWait = this.clock.now() - this.queue[0].enqueuedAt;
      if (!this.draining && this.queue.length < this.opts.maxBatch && oldestWait < this.opts.maxWaitMs) {
        this.arm(this.opts.maxWaitMs - oldestWait);
        return;
      }
      this.dispatch(this.take());
    }
  }

  private take(): Waiting<I, O>[] {
    const max = this.opts.maxBatch;
    if (!this.opts.bucketByLength) return this.queue.splice(0, max);
    const ratio = this.opts.lengthRatio ?? 1.25;
    const len = this.queue[0].length;
    const picked: number[] = [0];
    for (let i = 1; i < this.queue.length && picked.length < max; i++) {
      const l = this.queue[i].length;
      if (l <= len * ratio && l * ratio >= len) picked.push(i);
    }
    const chosen = new Set(picked);
    const batch = picked.map((i) => this.queue[i]);
    this.queue = this.queue.filter((_, i) => !chosen.has(i));
    return batch;
  }

  private arm(ms: number): void {
    if (this.timer !== null) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.pump();
    }, Math.max(0, ms));
  }

  private dispatch(items: Waiting<I, O>[]): void {
    this.inFlight++;
    const waitMs = this.clock.now() - items[0].enqueuedAt;
    void this.runIsolating(items, waitMs).finally(() => {
      this.inFlight--;
      this.pump();
      if (this.queue.length === 0 && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
  }

  /**
   * Runs a batch; if it fails, splits it in halves and retries each, so one input that breaks the
   * backbone fails alone instead of taking its batch-mates with it (log2(n) extra runs, failures only).
   * A timeout is not split: a hung worker is no input's fault, and each retry would wait the timeout again.
   */
  private async runIsolating(items: Waiting<I, O>[], waitMs: number): Promise<void> {
    let res: Awaited<ReturnType<BatchRunner<I, O>['run']>>;
    try {
      res = await this.runner.run(items.map((i) => i.item));
    } catch (err) {
      if (err instanceof InferenceTimeout) {
        for (const it of items) it.reject(err);
        return;
      }
      if (items.length === 1) {
        items[0].reject(err as Error);
        return;
      }
      const mid = items.length >> 1;
      await this.runIsolating(items.slice(0, mid), waitMs);
      await this.runIsolating(items.slice(mid), waitMs);
      return;
    }
    items.forEach((it, r) => it.resolve(res.rows[r]));
    this.opts.onBatch?.({ size: items.length, waitMs, runMs: res.runMs, seqLen: res.seqLen });
  }
}
