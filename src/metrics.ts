/**
 * Prometheus metrics. One registry per application context (no prom-client global), so tests and
 * several servers in one process do not share counters.
 */
import { systemClock } from './clock.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface StoreSnapshot {
  queue: Record<string, { open: number; leased: number }>;
  runs: Record<string, number>;
  lastGate: {
    candidate: number | null;
    active: number | null;
    auprc?: { candidate: number | null; active: number | null };
    passed: boolean;
    finishedAt: number;
  } | null;
}

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'modtune_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'modtune_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly decisions = new Counter({
    name: 'modtune_decisions_total',
    help: 'Moderation decisions by policy and action',
    labelNames: ['policy', 'action'] as const,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'modtune_inference_batch_size',
    help: 'Sequences per inference batch',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  readonly batchWait = new Histogram({
    name: 'modtune_inference_batch_wait_seconds',
    help: 'Time the oldest sequence of a batch waited before the batch ran',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });

  readonly batchRun = new Histogram({
    name: 'modtune_inference_batch_seconds',
    help: 'ONNX Runtime time per batch',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly commitRequests = new Histogram({
    name: 'modtune_decision_commit_requests',
    help: 'Requests whose decisions were committed together in one transaction (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  readonly commitSeconds = new Histogram({
    name: 'modtune_decision_commit_seconds',
    help: 'Time to commit one group of decisions',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  /** Set by whoever owns the batcher; read at scrape time. */
  queueSource: () => number = () => 0;

  readonly queueLength: Gauge = new Gauge({
    name: 'modtune_inference_queue_length',
    help: 'Sequences waiting to be batched',
    registers: [this.registry],
    collect: (): void => this.queueLength.set(this.queueSource()),
  });

  /** Set by whoever owns the batcher; read at scrape time. */
  batchTargetSource: () => number = () => 0;

  readonly batchTarget: Gauge = new Gauge({
    name: 'modtune_inference_batch_target_size',
    help: 'Largest batch the batcher sends: the size calibrated at model load (BATCH_MAX_SIZE when calibration is off)',
    registers: [this.registry],
    collect: (): void => this.batchTarget.set(this.batchTargetSource()),
  });

  readonly workerMemory = new Gauge({
    name: 'modtune_inference_worker_memory_bytes',
    help: 'Resident memory an inference worker added when it started (thread, tokenizer, ORT session with its copy of the weights)',
    labelNames: ['worker'] as const,
    registers: [this.registry],
  });

  readonly provider = new Gauge({
    name: 'modtune_inference_provider',
    help: 'Execution provider in use (1 for the one in use)',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  readonly activeHead = new Gauge({
    name: 'modtune_active_head_info',
    help: 'The head serving decisions (value 1)',
    labelNames: ['backbone', 'head_id', 'head_version'] as const,
    registers: [this.registry],
  });

  readonly verdicts = new Counter({
    name: 'modtune_review_verdicts_total',
    help: 'Verdicts moderators submitted (this process)',
    registers: [this.registry],
  });

  readonly disagreements = new Counter({
    name: 'modtune_review_disagreement_cells_total',
    help: "Categories on which a settled verdict overruled the model's decision (this process)",
    registers: [this.registry],
  });

  /**
   * What the database says, read at scrape time so every replica reports the same: the review queue and
   * the training runs. Set by the context; a failing read leaves the last values (a scrape never fails
   * because the database is down: /readyz says that).
   */
  storeSource: () => Promise<StoreSnapshot> = async () => ({ queue: {}, runs: {}, lastGate: null });

  readonly reviewQueue = new Gauge({
    name: 'modtune_review_queue_tasks',
    help: 'Open review tasks by reason; state "leased" counts those a moderator holds now',
    labelNames: ['reason', 'state'] as const,
    registers: [this.registry],
    collect: (): Promise<void> => this.storeOnce(),
  });

  readonly trainingRuns = new Gauge({
    name: 'modtune_training_runs',
    help: 'Training runs by status (all time)',
    labelNames: ['status'] as const,
    registers: [this.registry],
    collect: (): Promise<void> => this.storeOnce(),
  });

  readonly gateAccuracy = new Gauge({
    name: 'modtune_gate_eval_accuracy',
    help: "Eval accuracy of the candidate and the active head in the newest run that reached the gate",
    labelNames: ['head'] as const,
    registers: [this.registry],
    collect: (): Promise<void> => this.storeOnce(),
  });

  readonly gateAuprc = new Gauge({
    name: 'modtune_gate_eval_auprc',
    help: 'The gate\'s measure in the newest run that reached it: AUPRC (mean over categories) of the candidate and the active head',
    labelNames: ['head'] as const,
    registers: [this.registry],
    collect: (): Promise<void> => this.storeOnce(),
  });

  readonly gatePassed = new Gauge({
    name: 'modtune_gate_passed',
    help: 'Whether the newest run that reached the gate passed it (1) or not (0)',
    registers: [this.registry],
    collect: (): Promise<void> => this.storeOnce(),
  });

  readonly gateFinished = new Gauge({
    name: 'modtune_gate_last_run_timestamp_seconds',
    help: 'When the newest run that reached the gate finished',
    registers: [this.registry],
    collect: (): Promise<void> => this.storeOnce(),
  });

  /**
   * prom-client collects every metric of a scrape at once: the database-backed ones share one read,
   * made by whichever asks first and reused for a second.
   */
  private store: { at: number; read: Promise<void> } | null = null;

  private storeOnce(): Promise<void> {
    const now = systemClock.now();
    if (!this.store || now - this.store.at > 1_000) this.store = { at: now, read: this.readStore() };
    return this.store.read;
  }

  private async readStore(): Promise<void> {
    let s: StoreSnapshot;
    let timer: NodeJS.Timeout | undefined;
    try {
      // A database that does not answer must not hold the scrape: keep the last values after 2 s.
      s = await Promise.race([
        this.storeSource(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timeout')), 2_000);
        }),
      ]);
    } catch {
      return;
    } finally {
      clearTimeout(timer);
    }
    this.reviewQueue.reset();
    for (const [reason, q] of Object.entries(s.queue)) {
      this.reviewQueue.set({ reason, state: 'open' }, q.open);
      this.reviewQueue.set({ reason, state: 'leased' }, q.leased);
    }
    this.trainingRuns.reset();
    for (const [status, n] of Object.entries(s.runs)) this.trainingRuns.set({ status }, n);
    if (s.lastGate) {
      if (s.lastGate.candidate !== null) this.gateAccuracy.set({ head: 'candidate' }, s.lastGate.candidate);
      if (s.lastGate.active !== null) this.gateAccuracy.set({ head: 'active' }, s.lastGate.active);
      if (typeof s.lastGate.auprc?.candidate === 'number') this.gateAuprc.set({ head: 'candidate' }, s.lastGate.auprc.candidate);
      if (typeof s.lastGate.auprc?.active === 'number') this.gateAuprc.set({ head: 'active' }, s.lastGate.auprc.active);
      this.gatePassed.set(s.lastGate.passed ? 1 : 0);
      this.gateFinished.set(s.lastGate.finishedAt / 1000);
    }
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'modtune_' });
  }
}
