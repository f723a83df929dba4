/**
 * Training runs: snapshot the train-split pairs, tune the active head with DPO in a worker thread,
 * evaluate candidate and active head on the eval split, gate, then promote or reject. One run at a time
 * across all replicas (an advisory lock); a run a crashed process left behind is marked failed.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { v7 as uuidv7 } from 'uuid';
import type { Database } from '../db/connect.js';
import type { RunTrigger } from '../db/schema/training.js';
import { conflict, notFound } from '../errors.js';
import { bytesToFloat32, float32ToBytes, type HeadWeights } from '../inference/head.js';
import type { Logger } from '../logger.js';
import { activateInTransaction } from '../models/activation.js';
import * as heads from '../models/head.repository.js';
import { mapLabels } from '../policy/label-mapping.js';
import type { Policy } from '../policy/policy.js';
import type { PolicyRegistry } from '../policy/registry.js';
import { gate, type EvalCells, type GateDecision } from './evaluate.js';
import type { TrainJob, TrainMessage } from './train-worker.js';
import type { AnchorSet, PairSet, StepMetrics } from './trainer.js';
import * as repo from './training.repository.js';

const TRAINING_LOCK = 0x6d74_7472; // "mttr"
const BOOT = new URL('../worker-boot.mjs', import.meta.url);
const ENTRY = new URL('./train-worker.ts', import.meta.url).href;

export interface Hyperparameters {
  loss: 'sigmoid' | 'ipo' | 'hinge' | 'robust';
  beta: number;
  label_smoothing: number;
  learning_rate: number;
  weight_decay: number;
  epochs: number;
  batch_size: number;
  anchor_weight: number;
  min_pairs: number;
  seed: number;
}

export type RunOutcome = 'promoted' | 'rejected' | 'failed' | 'skipped';

export interface RunProgress {
  (event: { runId: string; phase: string; message: string; step?: StepMetrics }): void;
}

/** Features of texts on the active backbone (the serving runtime, or one the CLI starts). */
export type Embedder = (backboneId: string, inputs: { text: string; context: string | null }[]) => Promise<{ features: Float32Array; dim: number }>;

export interface TrainingServiceOptions {
  /** Needed only when reviewed items were scored by another backbone than the active one. */
  embed?: Embedder;
  /** Called after a promotion so this process serves the new head at once (others hear NOTIFY). */
  onPromoted?: (headId: string) => Promise<void>;
  /** Called after every run that produced a candidate (shadow scoring picks up the newest). */
  onCandidate?: (headId: string) => Promise<void>;
}

function hyperparametersOf(policy: Policy, overrides: Partial<Hyperparameters> = {}): Hyperparameters {
  const t = policy.settings.training;
  return {
    loss: t.loss,
    beta: t.beta,
    label_smoothing: t.label_smoothing,
    learning_rate: t.learning_rate,
    weight_decay: t.weight_decay,
    epochs: t.epochs,
    batch_size: t.batch_size,
    anchor_weight: t.anchor_weight,
    min_pairs: t.min_pairs,
    seed: t.seed,
    ...overrides,
  };
}

class SkipRun extends Error {}

interface Foreign {
  backbone_id: string;
  text: string | null;
  context: string | null;
  features: Uint8Array;
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

  /** At start-up: runs left `running`/`queued` by a crashed process become `failed` (if no one is running). */
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

  /** Creates a queued run. For cron runs, returns null when another replica already took the slot. */
  async createRun(trigger: RunTrigger, o: { requestedBy?: string | null; scheduledFor?: Date; hyperparameters?: Partial<Hyperparameters> } = {}): Promise<string | null> {
    if (trigger !== 'cron') {
      const running = await repo.runningRun(this.db);
      if (running) throw conflict('run_in_progress', `training run ${running.id} is already running (on ${running.replica})`);
    }
    const policy = this.policies.get();
    const id = uuidv7();
    const inserted = await repo.insertRun(this.db, {
      id,
      trigger,
      scheduledFor: o.scheduledFor,
      requestedBy: o.requestedBy,
      policyName: policy.name,
      policyVersion: policy.version,
      hyperparameters: { ...hyperparametersOf(policy, o.hyperparameters) },
    });
    return inserted ? id : null;
  }

  /** Runs `execute` in the background (API and cron), tracked so shutdown can wait for it. */
  startInBackground(runId: string, progress?: RunProgress): void {
    const p = this.execute(runId, progress).catch((err: Error) => this.log.error({ runId, err: err.message }, 'training run crashed'));
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  async execute(runId: string, progress: RunProgress = () => undefined): Promise<RunOutcome> {
    const log = this.log.child({ runId });
    const say = (phase: string, message: string, step?: StepMetrics) => {
      log.info({ phase, ...(step ? { step: step.step, loss: step.loss } : {}) }, message);
      progress({ runId, phase, message, step });
    };
    const release = await this.database.tryAdvisoryLock(TRAINING_LOCK);
    if (!release) {
      await repo.updateRun(this.db, runId, { status: 'skipped', error: 'another training run was in progress', finished: true });
      say('skipped', 'another training run is in progress');
      return 'skipped';
    }
    try {
      const run = await repo.getRun(this.db, runId);
      if (!run) throw notFound('training run', runId);
      if (run.status !== 'queued') throw conflict('run_not_queued', `training run ${runId} is ${run.status}`);
      await repo.updateRun(this.db, runId, { status: 'running', started: true, replica: this.replica });
      say('running', `training run started on ${this.replica}`);
      return await this.train(runId, run.hyperparameters as unknown as Hyperparameters, say);
    } catch (err) {
      const skip = err instanceof SkipRun;
      const message = (err as Error).message;
      await repo
        .updateRun(this.db, runId, { status: skip ? 'skipped' : 'failed', error: message, finished: true })
        .catch((e: Error) => log.error({ err: e.message }, 'could not record the run outcome'));
      say(skip ? 'skipped' : 'failed', message);
      return skip ? 'skipped' : 'failed';
    } finally {
      await release();
    }
  }

  private async train(runId: string, hp: Hyperparameters, say: (phase: string, message: string, step?: StepMetrics) => void): Promise<RunOutcome> {
    const policy = this.policies.get();
    const reference = await heads.getActiveHead(this.db);
    if (!reference) throw new Error('there is no active head to tune');
    const backbone = (await heads.getBackbone(this.db, reference.backboneId))!;
    await repo.updateRun(this.db, runId, { referenceHeadId: reference.id });
    if (backbone.problemType !== 'multi_label') {
      throw new SkipRun(`backbone '${backbone.name}' is a single-label (softmax) classifier; DPO here tunes per-label Bernoulli (sigmoid) heads`);
    }

    // Category → head row: the policy's label mapping; a category fed by several labels is ambiguous.
    const mapping = mapLabels(policy, heads.labelSpace(backbone));
    const rowOf = new Map<string, number>();
    const ambiguous: string[] = [];
    for (const [cat, rows] of Object.entries(mapping.sources)) {
      if (rows.length === 1) rowOf.set(cat, rows[0]);
      else ambiguous.push(cat);
    }

    const snapshotAt = new Date();
    const snap = await repo.pairSnapshot(this.db);
    // Training again on the same pairs from a head they already moved would only push it further the
    // same way (each run's reference is the head the previous run made): wait for new feedback.
    const last = await repo.lastTrainedSnapshot(this.db, backbone.id);
    if (last && snap.maxId <= last.maxPairId) {
      throw new SkipRun(`no new preference pairs since training run ${last.id} (highest pair id ${last.maxPairId})`);
    }
    const recomputed: Record<string, number> = {};
    const leftOut: Record<string, number> = {};
    const onBackbone = <T extends Foreign>(key: string, rows: T[]) => this.onBackbone(backbone.id, reference.dim, key, rows, recomputed, leftOut);
    const pairRows = await onBackbone('pairs', (await repo.loadTrainPairs(this.db, snap.maxId)).filter((p) => rowOf.has(p.category)));
    const anchorRows =
      hp.anchor_weight > 0
        ? await onBackbone('anchors', (await repo.loadLabels(this.db, 'train', snapshotAt)).filter((l) => l.label === l.model_label && rowOf.has(l.category)))
        : [];
    const evalRows = await onBackbone('eval', (await repo.loadLabels(this.db, 'eval', snapshotAt)).filter((l) => rowOf.has(l.category)));
    const dataSnapshot = {
      taken_at: snapshotAt.toISOString(),
      max_pair_id: snap.maxId,
      pairs: pairRows.length,
      pairs_in_split: snap.all,
      features_recomputed: recomputed,
      left_out_text_purged: leftOut,
      anchors: anchorRows.length,
      eval_cells: evalRows.length,
      eval_items: new Set(evalRows.map((r) => r.item_id)).size,
      backbone_id: backbone.id,
      categories_skipped: ambiguous,
    };
    await repo.updateRun(this.db, runId, { dataSnapshot });
    say('snapshot', `${pairRows.length} train pairs (max pair id ${snap.maxId}), ${anchorRows.length} anchors, ${evalRows.length} eval cells`);
    if (pairRows.length < hp.min_pairs) {
      throw new SkipRun(`too few preference pairs: ${pairRows.length} on the active backbone, the policy asks for at least ${hp.min_pairs}`);
    }

    const D = reference.dim;
    const pack = <T extends { features: Uint8Array }>(rows: T[]) => {
      const f = new Float32Array(rows.length * D);
      rows.forEach((r, i) => f.set(bytesToFloat32(r.features), i * D));
      return f;
    };
    const pairs: PairSet = {
      features: pack(pairRows),
      label: Int32Array.from(pairRows, (p) => rowOf.get(p.category)!),
      sign: Int8Array.from(pairRows, (p) => (p.chosen ? 1 : -1)),
    };
    const anchors: AnchorSet | null = anchorRows.length
      ? { features: pack(anchorRows), label: Int32Array.from(anchorRows, (a) => rowOf.get(a.category)!) }
      : null;
    const evalCells: EvalCells = {
      dim: D,
      features: pack(evalRows),
      label: Int32Array.from(evalRows, (r) => rowOf.get(r.category)!),
      category: evalRows.map((r) => r.category),
      truth: evalRows.map((r) => r.label),
      threshold: Float64Array.from(evalRows, (r) => policy.rules[r.category].flag),
      items: dataSnapshot.eval_items,
    };
    const refWeights: HeadWeights = { numLabels: reference.numLabels, dim: D, weight: reference.weight, bias: reference.bias };
    const job: TrainJob = {
      reference: refWeights,
      pairs,
      anchors,
      evalCells,
      options: {
        loss: { type: hp.loss, beta: hp.beta, labelSmoothing: hp.label_smoothing },
        learningRate: hp.learning_rate,
        weightDecay: hp.weight_decay,
        epochs: hp.epochs,
        batchSize: hp.batch_size,
        anchorWeight: hp.anchor_weight,
        seed: hp.seed,
      },
    };

    const result = await this.runWorker(job, async (m) => {
      say('training', `epoch ${m.epoch}/${m.epochs}: loss ${m.last.loss.toFixed(4)}, margin ${m.last['rewards/margins'].toFixed(4)}`, m.last);
    });
    const pairsPerSecond = (pairRows.length * hp.epochs) / result.seconds;
    const metrics = { steps: result.steps, epochs: result.epochs, seconds: result.seconds, pairs_per_second: pairsPerSecond };
    const decision: GateDecision = gate(result.report, policy.settings.gate);
    const candidateId = uuidv7();
    const outcome: RunOutcome = decision.passed ? 'promoted' : 'rejected';
    const guard = policy.settings.guard;
    const summary = {
      eval_accuracy: result.report.candidate.accuracy,
      reference_eval_accuracy: result.report.active.accuracy,
      eval_items: result.report.items,
      mcnemar_p: result.report.mcnemar.p_value,
      gate_passed: decision.passed,
      ...(decision.passed && guard.enabled
        ? { guard: { status: 'watching', predecessor_id: reference.id, window_verdicts: guard.window_verdicts, max_agreement_drop: guard.max_agreement_drop } }
        : {}),
    };
    await this.db.transaction().execute(async (trx) => {
      await heads.insertHead(trx, {
        id: candidateId,
        backboneId: backbone.id,
        parentId: reference.id,
        status: decision.passed ? 'candidate' : 'rejected',
        source: 'dpo',
        head: result.head,
        hyperparameters: { ...hp },
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
        error: null,
        finished: true,
      });
      if (decision.passed) {
        await activateInTransaction(trx, candidateId, 'training run passed the gate', { name: `training run ${runId}` }, { training_run_id: runId });
      }
    });
    say(outcome, decision.passed ? `promoted head ${candidateId}` : `rejected: ${decision.reasons.join('; ')}`);
    if (decision.passed) await this.opts.onPromoted?.(candidateId);
    await this.opts.onCandidate?.(candidateId);
    return outcome;
  }

  /**
   * Rows scored by another backbone get features recomputed from their stored text on this one; rows
   * whose text retention purged cannot be, and are left out (both counted in the data snapshot).
   */
  private async onBackbone<T extends Foreign>(
    backboneId: string,
    dim: number,
    key: string,
    rows: T[],
    recomputed: Record<string, number>,
    leftOut: Record<string, number>,
  ): Promise<T[]> {
    const foreign = rows.filter((r) => r.backbone_id !== backboneId);
    const usable = foreign.filter((r) => r.text !== null);
    leftOut[key] = foreign.length - usable.length;
    recomputed[key] = usable.length;
    if (usable.length > 0 && !this.opts.embed) {
      throw new Error(`${usable.length} ${key} were scored by another backbone and this process cannot compute features`);
    }
    for (let i = 0; i < usable.length; i += 64) {
      const chunk = usable.slice(i, i + 64);
      const { features, dim: d } = await this.opts.embed!(backboneId, chunk.map((r) => ({ text: r.text!, context: r.context })));
      if (d !== dim) throw new Error(`recomputed features have ${d} values, the head expects ${dim}`);
      chunk.forEach((r, k) => {
        r.features = float32ToBytes(features.subarray(k * d, (k + 1) * d));
        r.backbone_id = backboneId;
      });
    }
    return rows.filter((r) => r.backbone_id === backboneId);
  }

  private runWorker(job: TrainJob, onEpoch: (m: Extract<TrainMessage, { type: 'epoch' }>) => Promise<void>): Promise<Extract<TrainMessage, { type: 'done' }>> {
    if (this.stopping) return Promise.reject(new Error('the service is shutting down'));
    return new Promise((resolve, reject) => {
      const transfer = [job.pairs.features.buffer, job.evalCells.features.buffer, ...(job.anchors ? [job.anchors.features.buffer] : [])] as ArrayBuffer[];
      const worker = new Worker(BOOT, { workerData: { entry: ENTRY, job }, transferList: transfer });
      this.worker = worker;
      let settled = false;
      worker.on('message', (m: TrainMessage) => {
        if (m.type === 'epoch') void onEpoch(m);
        else if (m.type === 'done') {
          settled = true;
          resolve(m);
          void worker.terminate();
        } else {
          settled = true;
          reject(new Error(`training failed: ${m.message}`));
          void worker.terminate();
        }
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
