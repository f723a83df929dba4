/**
 * Training runs as the service handles them: created (queued; a cron slot once across replicas), claimed
 * under one advisory lock across all replicas (a run a crashed process left behind is marked failed), run
 * top to bottom by run/pipeline.ts (setting → snapshot → fit → record), and their outcome recorded.
 *
 * The DPO reference is the backbone's base head, for every run: each run refits from it on all the
 * labels so far, so DPO's bound on how far the head moves holds over the head's life, not per run.
 */
import os from 'node:os';
import { v7 as uuidv7 } from 'uuid';
import { systemClock, type Clock } from '../clock.js';
import type { Database } from '../db/connect.js';
import type { RunTrigger } from '../db/schema/training.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../logger.js';
import type { Policy } from '../policy/policy.js';
import type { PolicyRegistry } from '../policy/registry.js';
import { trainingProblems } from '../policy/schema.js';
import type { FitStep } from './math/fit.js';
import { HeldRun, SkipRun, type Embedder, type Hyperparameters, type RunContext, type RunOutcome, type Say } from './run/context.js';
import { FitWorker } from './run/fit.js';
import { trainRun } from './run/pipeline.js';
import * as repo from './training.repository.js';

export type { Embedder, Hyperparameters, RunOutcome } from './run/context.js';

export const TRAINING_LOCK = 0x6d74_7472; // "mttr"

export interface RunProgress {
  (event: { runId: string; phase: string; message: string; step?: FitStep }): void;
}

export interface TrainingServiceOptions {
  /** Needed only when reviewed items were scored by another backbone, or lack token ids. */
  embed?: Embedder;
  /** Where `head.promoted` and `head.candidate` are published after a run commits its head. */
  events?: EventBus;
  /** When a snapshot was taken (default: the real clock). */
  clock?: Clock;
}

function hyperparametersOf(policy: Policy, overrides: Partial<Hyperparameters> = {}): Hyperparameters {
  const t = policy.settings.training;
  return {
    loss: t.loss,
    beta: t.beta,
    label_smoothing: t.label_smoothing,
    rpo_alpha: t.rpo_alpha,
    l2: t.l2,
    lexical: t.lexical,
    ngrams: t.ngrams,
    folds: t.folds,
    experts: t.experts,
    standardize: t.standardize,
    calibration: t.calibration,
    class_weights: t.class_weights,
    pairs: t.pairs,
    select: t.select,
    min_pairs: t.min_pairs,
    seed: t.seed,
    ...overrides,
  };
}

export class TrainingService {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly fitter = new FitWorker();
  private readonly run: RunContext;
  readonly replica = `${os.hostname()}:${process.pid}`;

  constructor(
    private readonly database: Database,
    private readonly policies: PolicyRegistry,
    private readonly log: Logger,
    private readonly opts: TrainingServiceOptions = {},
  ) {
    this.run = { database, log, embed: opts.embed, events: opts.events, clock: opts.clock ?? systemClock };
  }

  private get db() {
    return this.database.db;
  }

  /** At start-up: runs left `running` by a crashed process become `failed` (if no one is running); queued ones wait for {@link pickUp}. */
  async recoverAbandonedRuns(): Promise<string[]> {
    const release = await this.database.tryAdvisoryLock(TRAINING_LOCK);
    if (!release) return [];
    try {
      const failed = await repo.failAbandonedRuns(this.db);
      if (failed.length) this.log.warn({ runs: failed }, 'marked training runs left behind by a stopped process as failed');
      return failed;
    } finally {
      await release();
    }
  }

  /**
   * Creates a queued run. For cron runs, returns null when another replica already took the slot.
   * `force` trains even when no label arrived since the last run (to retry with other hyperparameters).
   */
  async createRun(
    trigger: RunTrigger,
    o: { requestedBy?: string | null; scheduledFor?: Date; hyperparameters?: Partial<Hyperparameters>; force?: boolean } = {},
  ): Promise<string | null> {
    if (trigger !== 'cron') {
      const running = await repo.runningRun(this.db);
      if (running) throw conflict('run_in_progress', `training run ${running.id} is already running (on ${running.replica})`);
    }
    const policy = this.policies.get();
    const hp = hyperparametersOf(policy, o.hyperparameters);
    const problems = trainingProblems(hp);
    if (problems.length) throw badRequest('invalid_request', `hyperparameters: ${problems.join('; ')}`);
    const id = uuidv7();
    const inserted = await repo.insertRun(this.db, {
      id,
      trigger,
      scheduledFor: o.scheduledFor,
      requestedBy: o.requestedBy,
      policyName: policy.name,
      policyVersion: policy.version,
      hyperparameters: { ...hp, ...(o.force ? { force: true } : {}) },
    });
    return inserted ? id : null;
  }

  /**
   * A run an admin asked for through the API: queued, then announced (`training.requested`); the process
   * that runs the background jobs trains it — this one, or a worker (see context.ts).
   */
  async request(o: { requestedBy: string | null; hyperparameters?: Partial<Hyperparameters>; force?: boolean }): Promise<string> {
    const runId = (await this.createRun('api', o))!;
    await this.opts.events?.emit('training.requested', { runId });
    return runId;
  }

  /** Runs `execute` in the background (API and cron), tracked so shutdown can wait for it. */
  startInBackground(runId: string, progress?: RunProgress): void {
    this.track(this.execute(runId, progress), runId);
  }

  /** Runs {@link pickUp} in the background, tracked so shutdown can wait for it. */
  pickUpInBackground(which: { runId: string } | { queuedBefore: Date }): void {
    this.track(this.pickUp(which), 'runId' in which ? which.runId : null);
  }

  private track(p: Promise<unknown>, runId: string | null): void {
    const tracked = p.catch((err: Error) => this.log.error({ runId, err: err.message }, 'training run crashed'));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  /**
   * Trains queued run `runId` now (the API, the schedule, the CLI). If another run holds the training
   * lock, the run is recorded as `skipped`.
   */
  async execute(runId: string, progress: RunProgress = () => undefined): Promise<RunOutcome> {
    const release = await this.database.tryAdvisoryLock(TRAINING_LOCK);
    if (!release) {
      // Only while it is still queued: never over a run someone else has claimed meanwhile.
      await repo.updateRun(this.db, runId, { status: 'skipped', error: 'another training run was in progress', finished: true }, 'queued');
      this.sayer(runId, progress)('skipped', 'another training run is in progress');
      return 'skipped';
    }
    try {
      return await this.claimAndTrain(runId, progress);
    } finally {
      await release();
    }
  }

  /**
   * In a process that runs the background jobs: trains a queued run that another process left for it —
   * one an API replica without the jobs queued (`runId`, announced by NOTIFY), or the oldest queued before
   * `queuedBefore` (missed announcements, runs whose process stopped before starting them). Unlike
   * {@link execute} it leaves the run queued when another run holds the training lock (a later sweep
   * takes it) and returns null when there is nothing for it to do.
   */
  async pickUp(which: { runId: string } | { queuedBefore: Date }, progress: RunProgress = () => undefined): Promise<RunOutcome | null> {
    // A sweep that finds nothing does not take the lock (a run asked for at that instant would be skipped).
    const found = 'runId' in which ? which.runId : await repo.oldestQueuedRun(this.db, which.queuedBefore);
    if (!found) return null;
    const release = await this.database.tryAdvisoryLock(TRAINING_LOCK);
    if (!release) return null;
    try {
      const runId = 'runId' in which ? which.runId : await repo.oldestQueuedRun(this.db, which.queuedBefore);
      if (!runId) return null;
      const run = await repo.getRun(this.db, runId);
      if (run?.status !== 'queued') return null;
      this.log.info({ runId, replica: this.replica }, 'picked up a queued training run');
      return await this.claimAndTrain(runId, progress);
    } finally {
      await release();
    }
  }

  private sayer(runId: string, progress: RunProgress): Say {
    const log = this.log.child({ runId });
    return (phase, message, step) => {
      log.info({ phase, ...(step ? { step: step.step, loss: step.loss } : {}) }, message);
      progress({ runId, phase, message, step });
    };
  }

  /** With the training lock held: claims run `runId` (queued → running, on this replica) and trains it. */
  private async claimAndTrain(runId: string, progress: RunProgress): Promise<RunOutcome> {
    const say = this.sayer(runId, progress);
    if (!(await repo.updateRun(this.db, runId, { status: 'running', started: true, replica: this.replica }, 'queued'))) {
      const run = await repo.getRun(this.db, runId);
      if (!run) throw notFound('training run', runId);
      throw conflict('run_not_queued', `training run ${runId} is ${run.status}`);
    }
    say('running', `training run started on ${this.replica}`);
    try {
      const run = (await repo.getRun(this.db, runId))!;
      const stored = run.hyperparameters as unknown as Hyperparameters & { force?: boolean };
      return await trainRun(this.run, this.fitter, runId, this.policies.get(), stored, stored.force === true, say);
    } catch (err) {
      const status = err instanceof SkipRun ? 'skipped' : err instanceof HeldRun ? 'held' : 'failed';
      const message = (err as Error).message;
      await repo
        .updateRun(this.db, runId, { status, error: message, finished: true })
        .catch((e: Error) => this.log.error({ runId, err: e.message }, 'could not record the run outcome'));
      say(status, message);
      return status;
    }
  }

  async listRuns(limit = 50) {
    return repo.listRuns(this.db, limit);
  }

  async getRun(id: string) {
    const r = await repo.getRun(this.db, id);
    if (!r) throw notFound('training run', id);
    return r;
  }

  /** Stops a run in progress (it is recorded as failed) and waits for background runs to settle. */
  async stop(): Promise<void> {
    await this.fitter.stop();
    await Promise.allSettled([...this.inFlight]);
  }
}
