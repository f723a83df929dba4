/**
 * Runs a training job off the main thread, so a long run never stalls scoring: the reference's logits,
 * the fit (search, calibration, final solve; src/tuning/math/fit.ts) and the evaluation of candidate and
 * active head on the eval split. Texts come along: the n-gram features are computed here.
 * Input: the job in workerData (typed arrays transferred). Output: progress, then the result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Head } from '../inference/head.js';
import { Scorer, type ProbabilityKind } from '../models/scorer.js';
import type { LabelMapping } from '../policy/label-mapping.js';
import { scoringInput, type EvalSet, type PackedItems, type TrainCategory } from './math/dataset.js';
import { sigmoid } from './math/dpo.js';
import { evaluateHeads, type EvalReport, type FreshEvidence } from './math/evaluate.js';
import { fitHead, type CategoryChoice, type FitSettings, type FitStep, type OutOfFold } from './math/fit.js';
import type { MeasureOptions } from './math/measure.js';

export interface TrainJob {
  /** DPO's frozen reference: the backbone's base head. */
  reference: Head;
  /** The head being served, which the candidate must beat. */
  active: Head;
  kind: ProbabilityKind;
  mapping: LabelMapping;
  train: PackedItems;
  /** The train items' fold keys (ItemInputs.key). */
  trainItemKeys: string[];
  trainItemWeights: Float64Array;
  categories: TrainCategory[];
  eval: EvalSet;
  settings: FitSettings;
  measure: MeasureOptions;
  /** Category → the policy's flag threshold (accuracy at the thresholds, on the fresh train cells too). */
  thresholds: Record<string, number>;
  /** Pool the train cells new to the active head with the eval split (gate.new_train_evidence). */
  newTrainEvidence: boolean;
}

export type TrainMessage =
  | { type: 'progress'; message: string }
  | { type: 'step'; step: FitStep }
  | {
      type: 'done';
      head: Head;
      choices: CategoryChoice[];
      steps: FitStep[];
      iterations: number;
      stopped: string;
      report: EvalReport;
      seconds: number;
      /**
       * Each train cell's out-of-fold score (σ of the calibrated served logit of fold models that never saw
       * it), per searched category; only with Platt calibration, where a score is the chance moderators flag.
       */
      outOfFold: { category: string; item: Int32Array; score: Float32Array }[];
    }
  | { type: 'error'; message: string };

/**
 * The train cells new to the active head as evidence: the active head's score (it never trained on them)
 * beside the candidate's out-of-fold score (a fold model that never saw them, calibrated). Items are
 * numbered compactly, so the bootstrap resamples only items that have such cells.
 */
function freshEvidence(job: TrainJob, activeLogits: Float64Array, oof: OutOfFold[]): FreshEvidence | undefined {
  const scorer = new Scorer(job.active, job.kind, job.mapping);
  const itemIndex = new Map<number, number>();
  const item: number[] = [];
  const category: string[] = [];
  const truth: boolean[] = [];
  const threshold: number[] = [];
  const activeScores: number[] = [];
  const candidateScores: number[] = [];
  for (const o of oof) {
    const cat = job.categories.find((c) => c.category === o.category)!;
    o.item.forEach((k, j) => {
      if (!cat.fresh[j] || !(o.category in job.thresholds)) return;
      if (!itemIndex.has(k)) itemIndex.set(k, itemIndex.size);
      item.push(itemIndex.get(k)!);
      category.push(o.category);
      truth.push(cat.sign[j] > 0);
      threshold.push(job.thresholds[o.category]);
      activeScores.push(scorer.categoryScoresAt(activeLogits, k)[o.category] ?? 0);
      // A trained category is its one head row: its score is that row's probability.
      candidateScores.push(1 / (1 + Math.exp(-o.logit[j])));
    });
  }
  if (item.length === 0) return undefined;
  const weight = new Float64Array(itemIndex.size);
  for (const [k, i] of itemIndex) weight[i] = job.trainItemWeights[k];
  return {
    cells: { items: itemIndex.size, item: Int32Array.from(item), category, truth, threshold: Float64Array.from(threshold), weight },
    active: Float64Array.from(activeScores),
    candidate: Float64Array.from(candidateScores),
  };
}

const job = (workerData as { job: TrainJob }).job;
const port = parentPort!;

try {
  const started = performance.now();
  let lastPost = 0;
  const trainInput = scoringInput(job.train);
  // The reference's logit for each cell, through the scorer that serves it (all its parts).
  const C = job.reference.numLabels;
  const refLogits = new Scorer(job.reference, job.kind, job.mapping).logits(trainInput);
  const ngrams = job.settings.ngrams ? trainInput.ngrams!(job.settings.ngrams.config) : null;
  const result = fitHead(
    job.reference,
    {
      dim: job.reference.dim,
      features: job.train.features,
      itemIds: job.trainItemKeys,
      ngrams,
      // A two-label softmax category's logit is its row's minus the other label's (its probability is σ of that).
      categories: job.categories.map((c) => ({ ...c, zRef: Float64Array.from(c.item, (k) => refLogits[k * C + c.row] - (c.base == null ? 0 : refLogits[k * C + c.base])) })),
    },
    job.settings,
    {
      onProgress: (message) => port.postMessage({ type: 'progress', message } satisfies TrainMessage),
      // At most four a second: a fit of many cheap iterations would flood the port.
      onStep: (step) => {
        if (performance.now() - lastPost < 250) return;
        lastPost = performance.now();
        port.postMessage({ type: 'step', step } satisfies TrainMessage);
      },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const head = result.head;
  const active = new Scorer(job.active, job.kind, job.mapping);
  const fresh = job.newTrainEvidence ? freshEvidence(job, active.logits(trainInput), result.outOfFold) : undefined;
  const report = evaluateHeads(active, new Scorer(head, job.kind, job.mapping), job.eval, job.measure, fresh);
  const outOfFold =
    job.settings.calibration === 'platt'
      ? result.outOfFold.map((o) => ({ category: o.category, item: Int32Array.from(o.item), score: Float32Array.from(o.logit, sigmoid) }))
      : [];
  const transfer = [
    head.weight.buffer,
    head.bias.buffer,
    ...(head.lexical ? [head.lexical.tokens.buffer, head.lexical.weight.buffer] : []),
    ...(head.ngrams ? [head.ngrams.rows.buffer, head.ngrams.buckets.buffer, head.ngrams.weight.buffer] : []),
  ] as ArrayBuffer[];
  port.postMessage(
    {
      type: 'done',
      head,
      choices: result.choices,
      steps: result.steps,
      iterations: result.iterations,
      stopped: result.stopped,
      report,
      seconds,
      outOfFold,
    } satisfies TrainMessage,
    [...new Set([...transfer, ...outOfFold.flatMap((o) => [o.item.buffer, o.score.buffer])])],
  );
} catch (err) {
  port.postMessage({ type: 'error', message: (err as Error).message } satisfies TrainMessage);
}
