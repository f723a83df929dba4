/**
 * Training runs: snapshot the settled labels, build the dataset (every settled train cell a pair), let
 * the run pick its hyperparameters and train the head in a worker thread, evaluate candidate and active
 * head on the eval split, gate, then promote or reject. One run at a time across all replicas (an
 * advisory lock); a run a crashed process left behind is marked failed.
 *
 * The DPO reference is the backbone's base head, for every run: each run refits from it on all the
 * labels so far, so DPO's bound on how far the head moves holds over the head's life, not per run.
 */
import { systemClock, type Clock } from '../clock.js';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { v7 as uuidv7 } from 'uuid';
import type { z } from 'zod';
import type { Database } from '../db/connect.js';
import type { RunTrigger } from '../db/schema/training.js';
import { recordAudit } from '../audit/audit.repository.js';
import { trustedKeyIds } from '../auth/api-key.repository.js';
import { workerStart } from '../build-layout.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { bytesToFloat32, bytesToInt32, float32ToBytes, int32ToBytes, tokenRows, type TokenRows } from '../inference/head.js';
import { ngramKey, ngramRowsYielding, ngramSource } from '../inference/ngrams.js';
import type { Logger } from '../logger.js';
import { activateInTransaction, rollBackPast } from '../models/activation.js';
import * as heads from '../models/head.repository.js';
import { probabilityKind, Scorer } from '../models/scorer.js';
import { mapLabels, type LabelMapping } from '../policy/label-mapping.js';
import type { Policy } from '../policy/policy.js';
import type { PolicyRegistry } from '../policy/registry.js';
import { trainingProblems, type hyperparameterOverrides } from '../policy/schema.js';
import * as reviews from '../review/review.repository.js';
import { buildDataset, trainingBinding, type Dataset, type ItemInputs, type SettledCell, type TrainingBinding } from './math/dataset.js';
import { checkCumulative, checkDrift, inHold, termsOf, type DriftRow, type HoldRange, type Verdict } from './math/drift.js';
import { gate, measureOptions, type GateDecision } from './math/evaluate.js';
import type { TrainJob, TrainMessage } from './train-worker.js';
import type { FitStep } from './math/fit.js';
import * as repo from './training.repository.js';
import type { EventBus } from '../events.js';

export const TRAINING_LOCK = 0x6d74_7472; // "mttr"
const WORKER = workerStart(new URL('./train-worker.js', import.meta.url));

/** What a run was asked to train with: the policy's training settings, with a request's overrides. */
export type Hyperparameters = Required<z.infer<typeof hyperparameterOverrides>>;

export type RunOutcome = 'promoted' | 'rejected' | 'failed' | 'skipped' | 'superseded' | 'held';

export interface RunProgress {
  (event: { runId: string; phase: string; message: string; step?: FitStep }): void;
}

/** Features and token ids of texts on a backbone (the serving runtime, or one the CLI starts). */
export type Embedder = (
  backboneId: string,
  inputs: { text: string; context: string | null }[],
) => Promise<{ features: Float32Array; dim: number; tokens: TokenRows }>;

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

/** The most iterations one solve takes (each category, each fold, the final fit). */
const MAX_ITERATIONS = 1000;

class SkipRun extends Error {}
/** The drift check held a batch of labels: the run ends `held` with this reason. */
class HeldRun extends Error {}

type Say = (phase: string, message: string, step?: FitStep) => void;

interface RunSetting {
  policy: Policy;
  active: heads.HeadRow;
  backbone: heads.BackboneRow;
  reference: heads.HeadRow;
  mapping: LabelMapping;
  binding: TrainingBinding;
}

/** The worker's job: the dataset, both heads, and the fit and measure settings from the run's hyperparameters. */
function jobOf(setting: RunSetting, dataset: Dataset, hp: Hyperparameters): TrainJob {
  const n = hp.ngrams;
  return {
    reference: setting.reference,
    active: setting.active,
    kind: probabilityKind(setting.backbone.problemType),
    mapping: setting.mapping,
    train: dataset.train,
    trainItemKeys: dataset.trainItemKeys,
    trainItemWeights: dataset.trainItemWeights,
    categories: dataset.categories,
    eval: dataset.eval,
    settings: {
      loss: hp.loss,
      labelSmoothing: hp.label_smoothing,
      beta: hp.beta,
      rpoAlpha: hp.rpo_alpha,
      l2: hp.l2,
      experts: { backbone: true, lexical: hp.lexical, joint: hp.experts === 'joint' },
      standardize: hp.standardize,
      folds: hp.folds,
      select: hp.select,
      calibration: hp.calibration,
      // A reference that has an n-gram part fixes the config: its weights are in those buckets.
      ngrams: hp.lexical ? { config: setting.reference.ngrams?.config ?? { buckets: n.buckets, word: n.word, char: n.char }, minDf: n.min_df, rarePenalty: n.rare_penalty } : null,
      seed: hp.seed,
      maxIterations: MAX_ITERATIONS,
    },
    measure: measureOptions(setting.policy.settings.gate, hp.seed),
    newTrainEvidence: setting.policy.settings.gate.new_train_evidence,
    thresholds: Object.fromEntries(Object.entries(setting.policy.rules).map(([c, r]) => [c, r.flag])),
  };
}

/** The worker's progress as run progress lines. */
function progressTo(say: Say): (m: Exclude<TrainMessage, { type: 'done' | 'error' }>) => void {
  return (m) => {
    if (m.type === 'progress') say('selection', m.message);
    else say('training', `iteration ${m.step.step}: loss ${m.step.loss.toFixed(4)}, margin ${m.step['rewards/margins'].toFixed(4)}`, m.step);
  };
}

export class TrainingService {
  private worker: Worker | null = null;
  private stopping = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  readonly replica = `${os.hostname()}:${process.pid}`;

  constructor(
    private readonly database: Database,
    private readonly policies: PolicyRegistry,
    private readonly log: Logger,
    private readonly opts: TrainingServiceOptions = {},
  ) {}

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
      return await this.train(runId, stored, stored.force === true, say);
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

  /** A run: its setting, its data, the search and fit in a worker, then the gate's decision recorded. */
  private async train(runId: string, hp: Hyperparameters, force: boolean, say: Say): Promise<RunOutcome> {
    const setting = await this.setting(runId);
    const data = await this.snapshot(runId, setting, hp, force);
    await repo.updateRun(this.db, runId, { dataSnapshot: data.snapshot });
    const d = data.dataset;
    say(
      'snapshot',
      `${data.snapshot.settled_labels} settled labels up to id ${data.snapshot.max_label_id}: ${data.snapshot.pairs} train pairs on ${d.trainItemIds.length} items, ` +
        `${d.eval.truth.length} eval cells on ${d.eval.items.n} items`,
    );
    if (data.snapshot.pairs < hp.min_pairs) {
      throw new SkipRun(`too few preference pairs: ${data.snapshot.pairs} on the active backbone, the policy asks for at least ${hp.min_pairs}`);
    }
    if (d.categories.length === 0) {
      throw new SkipRun(`no category has labels to train on: ${Object.entries(d.skipped).map(([c, why]) => `'${c}' ${why}`).join('; ')}`);
    }
    const result = await this.runWorker(jobOf(setting, data.dataset, hp), progressTo(say));
    return this.record(runId, setting, data.snapshot, hp, result, say);
  }

  /** What a run trains: the active head's backbone, its base head (the DPO reference), the policy's binding. */
  private async setting(runId: string): Promise<RunSetting> {
    const policy = this.policies.get();
    const active = await heads.getActiveHead(this.db);
    if (!active) throw new Error('there is no active head to tune');
    const backbone = (await heads.getBackbone(this.db, active.backboneId))!;
    await repo.updateRun(this.db, runId, { activeHeadId: active.id });
    const reference = (await heads.findBaseHead(this.db, backbone.id))!;
    await repo.updateRun(this.db, runId, { referenceHeadId: reference.id });
    const mapping = mapLabels(policy, heads.labelSpace(backbone));
    const binding = trainingBinding(mapping, backbone.labels);
    if (binding.rows.size === 0) {
      throw new SkipRun(`no category of policy '${policy.name}' can be trained: ${Object.entries(binding.skipped).map(([c, why]) => `'${c}' ${why}`).join('; ')}`);
    }
    return { policy, active, backbone, reference, mapping, binding };
  }

  /**
   * The run's data: every label settled up to now, as a dataset on this backbone. No new label since the
   * last run means the same data and (training being deterministic) the same candidate: skip, unless
   * asked to retry.
   */
  private async snapshot(runId: string, setting: RunSetting, hp: Hyperparameters, force: boolean) {
    const { policy, active, backbone, reference, binding } = setting;
    const maxLabelId = await reviews.labelSnapshot(this.db);
    const last = await repo.lastTrainedSnapshot(this.db, backbone.id);
    if (!force && last && maxLabelId <= last.maxLabelId) {
      throw new SkipRun(
        `no new settled labels since training run ${last.id} (highest label id ${last.maxLabelId}); ` +
          'force a run to train on the same data with other hyperparameters (npm run train -- --force, or {"force": true} in POST /v1/training/runs)',
      );
    }
    const settled: SettledCell[] = (await reviews.settledLabels(this.db, { maxId: maxLabelId }))
      .filter((r) => r.category in policy.rules)
      .map((r) => ({
        id: Number(r.id),
        itemId: r.item_id,
        taskId: r.task_id,
        decisionId: r.decision_id,
        category: r.category,
        label: r.label,
        modelLabel: r.model_label,
        split: r.split,
        reason: r.reason,
        inclusion: r.inclusion_probability,
        reviewers: r.reviewers,
        blind: r.blind,
        votesYes: r.votes_yes,
        votesTotal: r.votes_total,
      }));
    // Token ids only where a head reads them (an imported lexical part); n-grams come from the text.
    const needTokens = active.lexical !== null || reference.lexical !== null;
    const inputs = await this.itemInputs(backbone.id, reference.dim, settled, needTokens);
    // Held and discarded batches stay out of training and evaluation; a new bad batch is held here.
    const holds = await repo.listHolds(this.db);
    const ranges = (h: (typeof holds)[number]) => ({ category: h.category, moderator: h.moderator_key_id, fromLabelId: h.from_label_id, toLabelId: h.to_label_id });
    const excluded = holds.filter((h) => h.status !== 'accepted').map(ranges);
    // The batch: labels since the last run the check looked at (all of them on a deployment's first run).
    // The cumulative window: the batches of the last cumulative_runs runs and this one, once there are two.
    const runs = policy.settings.drift.cumulative_runs;
    const checked = await repo.lastCheckedSnapshots(this.db, backbone.id, Math.max(1, runs));
    const from = checked.length ? Math.min(checked[0].maxLabelId, maxLabelId) : 0;
    // Window starts, shortest window first: this batch alone (at the cumulative threshold), then the end of each
    // earlier run's batch, up to cumulative_runs − 1 runs back; each with labels before it.
    const windowStarts = runs > 0 && from > 0 ? [from, ...checked.slice(1, runs).map((c) => c.maxLabelId).filter((x) => x > 0 && x < from)] : [];
    const drift = await this.driftCheck(runId, setting, inputs.items, { from, to: maxLabelId }, windowStarts, holds.map(ranges), excluded);
    const cells = settled.filter((c) => !inHold(c.id, c.category, c.reviewers, excluded));
    const dataset = buildDataset(cells, inputs.items, reference.dim, binding, {
      thresholds: Object.fromEntries(Object.entries(policy.rules).map(([c, r]) => [c, r.flag])),
      classWeights: hp.class_weights,
      pairs: hp.pairs,
      trustedKeys: new Set(await trustedKeyIds(this.db)),
      // The labels the active head was trained on: those after it are new evidence for the gate.
      activeSawUpTo: typeof active.dataSnapshot?.max_label_id === 'number' ? active.dataSnapshot.max_label_id : null,
    });
    const snapshot = {
      taken_at: (this.opts.clock ?? systemClock).date().toISOString(),
      max_label_id: maxLabelId,
      settled_labels: cells.length,
      held_out_labels: settled.length - cells.length,
      drift,
      pairs: dataset.categories.reduce((a, c) => a + c.item.length, 0),
      train_items: dataset.trainItemIds.length,
      eval_cells: dataset.eval.truth.length,
      trusted_eval_cells: dataset.eval.trusted.filter(Boolean).length,
      eval_items: dataset.eval.items.n,
      categories: dataset.counts,
      categories_skipped: dataset.skipped,
      features_recomputed: inputs.recomputed,
      features_cached: inputs.cached,
      without_token_ids: inputs.withoutTokens,
      without_text: inputs.withoutText,
      left_out: inputs.leftOut,
      backbone_id: backbone.id,
      dpo_reference_head_id: reference.id,
      forced: force,
    };
    return { dataset, snapshot };
  }

  /** The gate's decision, the candidate head and the run's outcome, in one transaction; then promotion. */
  private async record(
    runId: string,
    setting: RunSetting,
    dataSnapshot: Record<string, unknown>,
    hp: Hyperparameters,
    result: Extract<TrainMessage, { type: 'done' }>,
    say: Say,
  ): Promise<RunOutcome> {
    const { policy, active, backbone } = setting;
    const metrics = {
      steps: result.steps,
      seconds: result.seconds,
      iterations: result.iterations,
      stopped: result.stopped,
      /** Per category: the settings the search chose, its measure, the calibration. */
      categories: result.choices,
      ngram_weights: result.head.ngrams ? result.head.ngrams.buckets.length * result.head.ngrams.rows.length : 0,
      lexical_tokens: result.head.lexical?.tokens.length ?? 0,
    };
    const decision: GateDecision = gate(result.report, policy.settings.gate);
    const candidateId = uuidv7();
    let outcome = (decision.passed ? 'promoted' : 'rejected') as RunOutcome;
    const guard = policy.settings.guard;
    const summary = {
      eval_accuracy: result.report.candidate.accuracy,
      reference_eval_accuracy: result.report.active.accuracy,
      // The gate's measure (on the evidence it read): what the dashboard plots per head version.
      eval_auprc: result.report.measure.candidate.auprc,
      reference_eval_auprc: result.report.measure.active.auprc,
      evidence: decision.evidence.verdict,
      eval_items: result.report.items,
      mcnemar_p: result.report.mcnemar.p_value,
      gate_passed: decision.passed,
      ...(decision.passed && guard.enabled
        ? { guard: { status: 'watching', predecessor_id: active.id, window_verdicts: guard.window_verdicts, max_agreement_drop: guard.max_agreement_drop } }
        : {}),
    };
    let activeNow: string | undefined;
    await this.db.transaction().execute(async (trx) => {
      // Compare and swap: the candidate replaces the head the run started from, or nothing. If an admin,
      // the guard or another replica changed the active head meanwhile, the run is superseded.
      activeNow = (await heads.lockActiveHead(trx))?.id;
      if (decision.passed && activeNow !== active.id) outcome = 'superseded';
      await heads.insertHead(trx, {
        id: candidateId,
        backboneId: backbone.id,
        parentId: active.id,
        status: decision.passed ? 'candidate' : 'rejected',
        source: 'dpo',
        head: result.head,
        hyperparameters: { ...hp, chosen: Object.fromEntries(result.choices.map((c) => [c.category, { beta: c.beta, experts: c.experts.map((e) => ({ expert: e.expert, l2: e.l2, scale: e.scale })), reference_weight: c.reference_weight, offset: c.offset }])) },
        metrics: summary,
        dataSnapshot,
        trainingRunId: runId,
      });
      await repo.updateRun(trx, runId, {
        candidateHeadId: candidateId,
        metrics,
        evalReport: result.report as unknown as Record<string, unknown>,
        gate: decision as unknown as Record<string, unknown>,
        status: outcome,
        error: outcome === 'superseded' ? `the gate passed, but the active head changed during the run (from ${active.id} to ${activeNow ?? 'none'}); nothing was promoted` : null,
        finished: true,
      });
      if (outcome === 'promoted') {
        await activateInTransaction(trx, candidateId, 'training run passed the gate', { name: `training run ${runId}` }, { training_run_id: runId });
      }
    });
    say(
      outcome,
      outcome === 'promoted'
        ? `promoted head ${candidateId}`
        : outcome === 'superseded'
          ? `superseded: the active head changed during the run (now ${activeNow ?? 'none'}); head ${candidateId} passed the gate but was not promoted`
          : `rejected: ${decision.reasons.join('; ')}`,
    );
    if (outcome === 'promoted') await this.opts.events?.emit('head.promoted', { headId: candidateId, runId });
    await this.opts.events?.emit('head.candidate', { headId: candidateId, runId });
    return outcome;
  }

  /**
   * The label-drift check (src/tuning/math/drift.ts) on the verdicts settled since the last checked run (on a
   * deployment's first run: all of them, each moderator against the others), against the ones before,
   * and the cumulative check over the last runs' batches. Batches outside tolerance are stored as holds
   * and the run ends `held`.
   */
  private async driftCheck(
    runId: string,
    setting: RunSetting,
    items: Map<string, ItemInputs>,
    batch: { from: number; to: number },
    windowStarts: number[],
    anyHold: HoldRange[],
    excluded: HoldRange[],
  ): Promise<{ rows: DriftRow[]; batch_verdicts: number; history_verdicts: number; windows: { from: number; runs: number; verdicts: number }[] } | null> {
    const settings = setting.policy.settings.drift;
    if (!settings.enabled) return null;
    // An item's words, once per item (its verdicts come back once per category and per window).
    const termsCache = new Map<string, string[]>();
    const termsOfItem = (id: string) => {
      let t = termsCache.get(id);
      if (!t) termsCache.set(id, (t = termsOf(items.get(id)?.text ?? null)));
      return t;
    };
    // Each verdict against the decision of the head that served its item: that head had not seen the label.
    const toVerdict = (r: Awaited<ReturnType<typeof reviews.verdicts>>[number]): Verdict | null =>
      setting.policy.rules[r.category]
        ? {
            labelId: Number(r.label_id),
            taskId: r.task_id,
            category: r.category,
            moderator: r.moderator_key_id,
            verdict: r.verdict,
            model: r.model_label,
            // Only a calibrated head's scores say how many items moderators should flag (a starter's or an
            // imported head's do not: against them, honest labels look like a collapse or a flood).
            score: r.model_calibrated ? r.model_score : null,
            author: r.author_id,
            terms: termsOfItem(r.item_id),
          }
        : null;
    const keep = (holdRanges: HoldRange[]) => (v: Verdict | null): v is Verdict => v !== null && !inHold(v.labelId, v.category, [v.moderator], holdRanges);
    const load = async (from: number, to: number, limit = Number.MAX_SAFE_INTEGER) => (await reviews.verdicts(this.db, { from, to, limit })).map(toVerdict);
    const batchVerdicts = (await load(batch.from, batch.to)).filter(keep(anyHold));
    const history = (await load(0, batch.from, settings.history)).filter(keep(excluded));
    const report = checkDrift(history, batchVerdicts, settings);
    const rows = [...report.rows];
    const holds = report.holds.map((h) => ({ ...h, fromLabelId: batch.from }));
    // The cumulative check: the batches since each of the last runs together, against the labels before
    // them; the slow poisoner's first night is unknown, so every start is tried (Bonferroni over the starts),
    // shortest window first (this batch alone), and the first that finds something holds: a poisoned night
    // found on its own does not drag the honest nights before it into the hold.
    const windows: { from: number; runs: number; verdicts: number }[] = [];
    const counted = [...batchVerdicts];
    const batchHolds = report.holds.map((h) => ({ ...h, fromLabelId: batch.from, toLabelId: batch.to }));
    // Every window is a tail of the longest: loaded once.
    const longest = windowStarts.length
      ? (await load(Math.min(...windowStarts), batch.to)).filter(keep(excluded)).filter((v) => !inHold(v.labelId, v.category, [v.moderator], batchHolds))
      : [];
    for (const [k, from] of windowStarts.entries()) {
      const windowVerdicts = longest.filter((v) => v.labelId > from);
      const before = (await load(0, from, settings.history)).filter(keep(excluded));
      const cumulative = checkCumulative(before, windowVerdicts, { ...settings, max_p_value: settings.max_p_value / windowStarts.length }, k + 1);
      windows.push({ from, runs: k + 1, verdicts: windowVerdicts.length });
      rows.push(...cumulative.rows);
      if (cumulative.holds.length) {
        holds.push(...cumulative.holds.map((h) => ({ ...h, fromLabelId: from })));
        counted.push(...windowVerdicts.filter((v) => v.labelId <= batch.from));
        break;
      }
    }
    // The snapshot keeps the moderator and category rows that were tested (enough verdicts on both sides),
    // and the author and term rows that came near a finding (one-sided p ≤ 0.01).
    const tested = rows.filter(
      (r) => r.batch.n >= settings.min_labels && r.history.n >= settings.min_labels && (r.slice.kind === 'moderator' || r.slice.kind === 'category' || (r.p_value ?? 1) <= 0.01),
    );
    if (holds.length > 0) {
      await repo.insertHolds(
        this.db,
        holds.map((h) => ({
          id: uuidv7(),
          runId,
          category: h.category,
          moderator: h.moderator,
          fromLabelId: h.fromLabelId,
          toLabelId: batch.to,
          labels: counted.filter((v) => v.category === h.category && v.labelId > h.fromLabelId && (h.moderator === null || v.moderator === h.moderator)).length,
          reason: h.reason,
        })),
      );
      // A cumulative hold reaches back into labels heads were already trained on: the active head goes back
      // to the newest of its ancestors trained without them.
      const earliest = Math.min(...holds.map((h) => h.fromLabelId));
      const back = await this.rollBackPast(runId, setting.active, earliest);
      await repo.updateRun(this.db, runId, {
        dataSnapshot: { max_label_id: batch.to, backbone_id: setting.backbone.id, drift: { rows: tested, holds, windows, ...(back ? { rolled_back_to: back } : {}) } },
      });
      throw new HeldRun(
        `label drift: held ${holds.length} batch${holds.length === 1 ? '' : 'es'} of labels out of training and evaluation until an admin ` +
          `accepts or discards ${holds.length === 1 ? 'it' : 'them'} (GET /v1/label-holds)` +
          `${back ? `; the active head trained on held labels, so head v${back.version} (${back.id}), the newest trained without them, is active again` : ''}: ` +
          holds.map((h) => h.reason).join(' | '),
      );
    }
    return { rows: tested, batch_verdicts: batchVerdicts.length, history_verdicts: history.length, windows };
  }

  /** {@link rollBackPast} for a run, announced so this process serves the head at once. */
  private async rollBackPast(runId: string, active: heads.HeadRow, labelId: number): Promise<{ id: string; version: number } | null> {
    const back = await rollBackPast(this.db, active, labelId, { name: `training run ${runId}` }, { training_run_id: runId });
    if (back) await this.opts.events?.emit('head.promoted', { headId: back.id, runId });
    return back;
  }

  /**
   * Each labelled item's inputs on the backbone being trained: the stored features and token ids of its
   * decision. Items scored by another backbone get both recomputed from their stored text once, and kept
   * (item_features): later runs read them (`features_cached`) instead of running the model again; so do
   * items lacking the token ids a lexical part needs (decisions from before token ids were stored).
   * Where retention purged the text: another backbone's item trains from its kept features if it has
   * them, else it is left out (its decision's features mean nothing here); this backbone's item still
   * trains the linear part, without tokens (retention purges them with the text). All counted in the
   * data snapshot.
   */
  private async itemInputs(
    backboneId: string,
    dim: number,
    cells: SettledCell[],
    needTokens: boolean,
  ): Promise<{ items: Map<string, ItemInputs>; recomputed: number; cached: number; withoutTokens: number; withoutText: number; leftOut: { text_purged: number } }> {
    const decisionOf = new Map<string, string>();
    for (const c of cells) if (!decisionOf.has(c.itemId)) decisionOf.set(c.itemId, c.decisionId);
    const rows = await repo.decisionInputs(this.db, [...new Set(decisionOf.values())]);
    const items = new Map<string, ItemInputs>();
    // Features to look up or recompute: another backbone's, none stored (an item not routed when it was
    // decided, appealed since), or token ids missing where a lexical part needs them.
    const stored = (r: (typeof rows)[number]): r is typeof r & { features: Uint8Array } => r.backbone_id === backboneId && r.features !== null;
    const elsewhere = rows.filter((r) => !stored(r) || (needTokens && r.token_ids === null && r.text !== null));
    const kept = new Map((await repo.cachedItemFeatures(this.db, backboneId, elsewhere.map((r) => r.item_id))).map((k) => [k.item_id, k]));
    const redo: typeof rows = [];
    let purged = 0;
    let withoutTokens = 0;
    let cached = 0;
    for (const r of rows) {
      const k = kept.get(r.item_id);
      if (stored(r) && (!needTokens || r.token_ids !== null || r.text === null)) {
        if (needTokens && r.token_ids === null) withoutTokens++;
        items.set(r.item_id, { features: bytesToFloat32(r.features), tokens: r.token_ids ? bytesToInt32(r.token_ids) : null, text: r.text, key: r.group_key ?? r.text_sha256 });
      } else if (k && (!needTokens || k.token_ids !== null || r.text === null)) {
        cached++;
        if (needTokens && k.token_ids === null) withoutTokens++;
        items.set(r.item_id, { features: bytesToFloat32(k.features), tokens: k.token_ids ? bytesToInt32(k.token_ids) : null, text: r.text, key: r.group_key ?? r.text_sha256 });
      } else if (r.text !== null) redo.push(r);
      else purged++;
    }
    if (redo.length > 0 && !this.opts.embed) {
      throw new Error(`${redo.length} reviewed items need features or token ids recomputed on this backbone, and this process cannot compute them`);
    }
    for (let i = 0; i < redo.length; i += 64) {
      const chunk = redo.slice(i, i + 64);
      const e = await this.opts.embed!(backboneId, chunk.map((r) => ({ text: r.text!, context: r.context })));
      if (e.dim !== dim) throw new Error(`recomputed features have ${e.dim} values, the head expects ${dim}`);
      const fresh = chunk.map((r, k) => ({
        r,
        features: e.features.slice(k * e.dim, (k + 1) * e.dim),
        tokens: e.tokens.ids.slice(e.tokens.offsets[k], e.tokens.offsets[k + 1]),
      }));
      for (const f of fresh) items.set(f.r.item_id, { features: f.features, tokens: f.tokens, text: f.r.text, key: f.r.group_key ?? f.r.text_sha256 });
      await repo.saveItemFeatures(
        this.db,
        backboneId,
        fresh.map((f) => ({ itemId: f.r.item_id, features: float32ToBytes(f.features), tokenIds: int32ToBytes(f.tokens) })),
      );
    }
    const withoutText = [...items.values()].filter((x) => x.text === null).length;
    return { items, recomputed: redo.length, cached, withoutTokens, withoutText, leftOut: { text_purged: purged } };
  }

  private runWorker(job: TrainJob, onProgress: (m: Exclude<TrainMessage, { type: 'done' | 'error' }>) => void): Promise<Extract<TrainMessage, { type: 'done' }>> {
    if (this.stopping) return Promise.reject(new Error('the service is shutting down'));
    return new Promise((resolve, reject) => {
      const arrays = [
        job.train.features,
        job.train.tokens?.ids,
        job.train.tokens?.offsets,
        job.trainItemWeights,
        job.eval.weight,
        ...job.categories.flatMap((c) => [c.item, c.sign, c.weight, c.fresh]),
        job.eval.items.features,
        job.eval.items.tokens?.ids,
        job.eval.items.tokens?.offsets,
      ];
      const transfer = [...new Set(arrays.filter((a) => a !== undefined).map((a) => a!.buffer as ArrayBuffer))];
      const worker = new Worker(WORKER.file, { workerData: { entry: WORKER.entry, job }, transferList: transfer });
      this.worker = worker;
      let settled = false;
      worker.on('message', (m: TrainMessage) => {
        if (m.type === 'done') {
          settled = true;
          resolve(m);
          void worker.terminate();
        } else if (m.type === 'error') {
          settled = true;
          reject(new Error(`training failed: ${m.message}`));
          void worker.terminate();
        } else onProgress(m);
      });
      worker.on('error', (err) => {
        settled = true;
        reject(new Error(`training worker crashed: ${err.message}`));
      });
      worker.on('exit', () => {
        this.worker = null;
        if (!settled) reject(new Error(this.stopping ? 'the service shut down during the run' : 'the training worker exited early'));
      });
    });
  }

  /** Batches of labels the drift check held, newest first; `status` filters. */
  async listHolds(status?: 'held' | 'accepted' | 'discarded') {
    return repo.listHolds(this.db, status);
  }

  /**
   * An admin's decision on a held batch: `accepted` lets its labels train and evaluate again (they are
   * legitimate after all), `discarded` keeps them out for good. Audited; a decided hold cannot be changed.
   */
  async decideHold(id: string, decision: 'accepted' | 'discarded', actor: { name: string; keyId: string; requestId: string }, note: string | null) {
    await this.db.transaction().execute(async (trx) => {
      if (!(await repo.decideHold(trx, id, decision, actor.keyId, note))) {
        const exists = (await repo.listHolds(trx)).find((h) => h.id === id);
        if (!exists) throw notFound('label hold', id);
        throw conflict('hold_decided', `label hold ${id} is already ${exists.status}`);
      }
      await recordAudit(trx, {
        actor: actor.name,
        actorKeyId: actor.keyId,
        action: `label_hold.${decision}`,
        subjectType: 'label_hold',
        subjectId: id,
        requestId: actor.requestId,
        details: note ? { note } : {},
      });
    });
    return (await repo.listHolds(this.db)).find((h) => h.id === id)!;
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
    this.stopping = true;
    await this.worker?.terminate();
    await Promise.allSettled([...this.inFlight]);
  }
}
