/**
 * A pool of inference workers. The first worker finds an execution provider by trying the configured
 * list in order; the others start with what it found, so a host never ends up half on GPU, half on CPU
 * without saying so. A worker that dies is replaced and only the batches it held fail.
 */
import { systemClock, type Clock } from '../clock.js';
import { Worker } from 'node:worker_threads';
import { workerStart } from '../build-layout.js';
import type { Logger } from '../logger.js';
import { InferenceError, InferenceTimeout } from './errors.js';
import type { NgramConfig } from './ngrams.js';
import type { FromWorker, InputSpec, Provider, TextInput, ToWorker, WorkerInit } from './protocol.js';
import type { Batch } from './tokenizer.js';

const WORKER = workerStart(new URL('./worker.js', import.meta.url));

/** A worker's answer to one batch (tokens: for texts, what the worker tokenized them to). */
export type RunResult = Omit<Extract<FromWorker, { type: 'result' }>, 'type' | 'id'>;

/** Every worker's init but its thread name, which the pool gives. */
export type PoolInit = Omit<WorkerInit, 'threadName'>;

interface Pending {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, Pending>;
  ready: boolean;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closing = false;
  provider: Provider = 'cpu';
  inputs: InputSpec[] = [];
  /** The tokenizer's padding id (the workers' tokenizer says). */
  padId = 0;
  private spawned = 0;
  attempts: { provider: Provider; error: string }[] = [];

  private constructor(
    private readonly init: PoolInit,
    private readonly log: Logger,
  ) {}

  static async start(init: PoolInit, size: number, log: Logger): Promise<WorkerPool> {
    const pool = new WorkerPool(init, log);
    const first = await pool.spawn(init.providers);
    pool.provider = first.provider;
    pool.inputs = first.inputs;
    pool.padId = first.padId;
    pool.attempts = first.attempts;
    const rest = init.providers.slice(init.providers.indexOf(first.provider));
    try {
      // One at a time, so the memory each adds can be told apart (see workerMemory).
      for (let i = 1; i < size; i++) await pool.spawn(rest);
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Batches currently sent to workers and not yet answered. */
  get busy(): number {
    return this.slots.reduce((n, s) => n + s.inFlight.size, 0);
  }

  /**
   * Resident memory each worker added to the process when it started (its thread, tokenizer and ORT
   * session with its copy of the weights), by thread name: what one more worker costs.
   */
  readonly workerMemory = new Map<string, number>();

  private spawn(providers: Provider[]): Promise<{ provider: Provider; inputs: InputSpec[]; padId: number; attempts: WorkerPool['attempts'] }> {
    return new Promise((resolve, reject) => {
      const threadName = `mt-infer-${this.spawned++}`;
      const rssBefore = process.memoryUsage.rss();
      const worker = new Worker(WORKER.file, {
        name: threadName,
        workerData: { ...this.init, providers, threadName, entry: WORKER.entry } satisfies WorkerInit & { entry: string },
      });
      const slot: Slot = { worker, inFlight: new Map(), ready: false };
      worker.on('message', (msg: FromWorker) => {
        switch (msg.type) {
          case 'ready':
            slot.ready = true;
            this.slots.push(slot);
            this.workerMemory.set(threadName, Math.max(0, process.memoryUsage.rss() - rssBefore));
            this.log.info({ worker: threadName, rssMb: Math.round(this.workerMemory.get(threadName)! / 2 ** 20) }, 'inference worker ready');
            resolve(msg);
            return;
          case 'init-failed':
            void worker.terminate();
            reject(new InferenceError(msg.message));
            return;
          case 'result': {
            const { type: _type, id, ...result } = msg;
            const p = slot.inFlight.get(id);
            slot.inFlight.delete(id);
            p?.resolve(result);
            return;
          }
          case 'error': {
            const p = slot.inFlight.get(msg.id);
            slot.inFlight.delete(msg.id);
            p?.reject(new InferenceError(`inference failed: ${msg.message}`));
            return;
          }
        }
      });
      worker.on('error', (err) => {
        if (!slot.ready) reject(new InferenceError(`inference worker failed to start: ${err.message}`));
        this.log.error({ err: err.message }, 'inference worker crashed');
      });
      worker.on('exit', (code) => {
        const idx = this.slots.indexOf(slot);
        if (idx >= 0) this.slots.splice(idx, 1);
        for (const p of slot.inFlight.values()) p.reject(new InferenceError(`inference worker exited (code ${code})`));
        slot.inFlight.clear();
        if (!slot.ready) {
          reject(new InferenceError(`inference worker exited during start-up (code ${code})`));
          return;
        }
        if (!this.closing) {
          this.log.warn({ code }, 'inference worker exited; starting a replacement');
          this.spawn([this.provider]).catch((err: Error) =>
            this.log.error({ err: err.message }, 'could not replace an inference worker'),
          );
        }
      });
    });
  }

  /**
   * A batch not answered within this many ms fails with InferenceTimeout and its worker is replaced (a
   * hung session). The only inference timeout: the batcher leaves it to the pool, which can act on it.
   */
  runTimeoutMs = 60_000;

  /** Runs a pre-tokenized batch (the raw benchmark, calibration). */
  run(batch: Batch, wantLogits = false): Promise<RunResult> {
    return this.send((id) => ({ type: 'run', id, batch, wantLogits }), [batch.inputIds.buffer, batch.attentionMask.buffer, batch.tokenTypeIds.buffer]);
  }

  /** Tokenizes and runs texts in a worker; the result says what they were tokenized to. */
  score(inputs: TextInput[], wantLogits = false, ngrams: NgramConfig[] = []): Promise<RunResult> {
    return this.send((id) => ({ type: 'score', id, inputs, wantLogits, ...(ngrams.length ? { ngrams } : {}) }), []);
  }

  private send(message: (id: number) => ToWorker, transfer: ArrayBuffer[]): Promise<RunResult> {
    if (this.closing) return Promise.reject(new InferenceError('the inference pool is shutting down'));
    const slot = this.slots.reduce<Slot | undefined>((best, s) => (!best || s.inFlight.size < best.inFlight.size ? s : best), undefined);
    if (!slot) return Promise.reject(new InferenceError('no inference worker is running'));
    const id = this.nextId++;
    return new Promise<RunResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        const pending = slot.inFlight.get(id);
        if (!pending) return;
        slot.inFlight.delete(id);
        this.log.error({ ms: this.runTimeoutMs }, 'an inference batch timed out; replacing its worker');
        pending.reject(new InferenceTimeout(this.runTimeoutMs));
        // No new work for it; terminating rejects the rest it held and starts a replacement (see 'exit').
        const idx = this.slots.indexOf(slot);
        if (idx >= 0) this.slots.splice(idx, 1);
        void slot.worker.terminate();
      }, this.runTimeoutMs);
      timer.unref();
      const done = <T>(fn: (v: T) => void) => (v: T) => {
        clearTimeout(timer);
        fn(v);
      };
      slot.inFlight.set(id, { resolve: done(resolve), reject: done(reject) });
      slot.worker.postMessage(message(id), transfer);
    });
  }

  /** Lets in-flight batches finish (up to `graceMs`), then ends every worker. */
  async stop(graceMs = 10_000, clock: Clock = systemClock): Promise<void> {
    this.closing = true;
    const deadline = clock.now() + graceMs;
    while (this.busy > 0 && clock.now() < deadline) await new Promise((r) => clock.setTimeout(() => r(undefined), 10));
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.worker.once('exit', () => resolve());
            s.worker.postMessage({ type: 'close' } satisfies ToWorker);
            setTimeout(() => void s.worker.terminate(), 2_000).unref();
          }),
      ),
    );
  }
}
