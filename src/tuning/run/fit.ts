/**
 * Stage 3 of a run: the fit. The worker's job (the dataset, both heads, the fit and measure settings from
 * the run's hyperparameters), run in a worker thread, with its progress as run progress lines.
 */
import { Worker } from 'node:worker_threads';
import { workerStart } from '../../build-layout.js';
import { probabilityKind } from '../../models/scorer.js';
import type { Dataset } from '../math/dataset.js';
import { measureOptions } from '../math/evaluate.js';
import type { TrainJob, TrainMessage } from '../train-worker.js';
import type { Hyperparameters, RunSetting, Say } from './context.js';

const WORKER = workerStart(new URL('../train-worker.js', import.meta.url));

/** The most iterations one solve takes (each category, each fold, the final fit). */
const MAX_ITERATIONS = 1000;

/** The worker's job: the dataset, both heads, and the fit and measure settings from the run's hyperparameters. */
export function jobOf(setting: RunSetting, dataset: Dataset, hp: Hyperparameters): TrainJob {
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
export function progressTo(say: Say): (m: Exclude<TrainMessage, { type: 'done' | 'error' }>) => void {
  return (m) => {
    if (m.type === 'progress') say('selection', m.message);
    else say('training', `iteration ${m.step.step}: loss ${m.step.loss.toFixed(4)}, margin ${m.step['rewards/margins'].toFixed(4)}`, m.step);
  };
}

/**
 * The fit runs in a worker thread (train-worker.ts: search, calibration, final solve, evaluation of both
 * heads), which keeps the service's threads free; one at a time, ended when the service stops.
 */
export class FitWorker {
  private worker: Worker | null = null;
  private stopping = false;

  run(job: TrainJob, onProgress: (m: Exclude<TrainMessage, { type: 'done' | 'error' }>) => void): Promise<Extract<TrainMessage, { type: 'done' }>> {
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

  /** Ends a fit in progress (its run fails) and refuses new ones. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.worker?.terminate();
  }
}
