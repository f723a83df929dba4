/**
 * Runs a training job off the main thread, so a long run never stalls scoring: the hyperparameter
 * search, the final fit and the evaluation of candidate and active head on the eval split.
 * Input: the job in workerData (typed arrays transferred). Output: progress, then the result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { Head } from '../inference/head.js';
import { Scorer, type ProbabilityKind } from '../models/scorer.js';
import type { LabelMapping } from '../policy/label-mapping.js';
import { headOf, paramsOf, type EvalSet } from './dataset.js';
import { evaluateHeads, type EvalReport } from './evaluate.js';
import { selectAndTrain, type Choice, type GridEntry, type SelectionReport, type SelectionSettings } from './selection.js';
import type { EpochMetrics, StepMetrics, TrainSet } from './trainer.js';

export interface TrainJob {
  /** DPO's frozen reference: the backbone's base head. */
  reference: Head;
  /** The head being served, which the candidate must beat. */
  active: Head;
  kind: ProbabilityKind;
  mapping: LabelMapping;
  train: TrainSet;
  trainItemIds: string[];
  trainCategory: string[];
  vocabulary: Int32Array;
  eval: EvalSet;
  settings: SelectionSettings;
}

export type TrainMessage =
  | { type: 'config'; index: number; total: number; entry: GridEntry }
  | { type: 'search'; index: number; total: number; epoch: number; epochs: number; validation: number }
  | { type: 'epoch'; epoch: number; epochs: number; last: StepMetrics }
  | {
      type: 'done';
      head: Head;
      choice: Choice & { epochs: number };
      selection: SelectionReport | null;
      note?: string;
      steps: StepMetrics[];
      epochs: EpochMetrics[];
      report: EvalReport;
      seconds: number;
    }
  | { type: 'error'; message: string };

const job = (workerData as { job: TrainJob }).job;
const port = parentPort!;

try {
  const started = performance.now();
  let last: StepMetrics | null = null;
  let lastPost = 0;
  // Progress at most four times a second (runs of tiny epochs would flood the port).
  const throttled = (msg: TrainMessage, force = false) => {
    if (!force && performance.now() - lastPost < 250) return;
    lastPost = performance.now();
    port.postMessage(msg);
  };
  const result = selectAndTrain(paramsOf(job.reference, job.vocabulary), job.train, job.trainItemIds, job.trainCategory, job.settings, {
    onConfig: (index, total, entry) => port.postMessage({ type: 'config', index, total, entry } satisfies TrainMessage),
    onSearchEpoch: (index, total, epoch, validation) =>
      throttled({ type: 'search', index, total, epoch, epochs: job.settings.maxEpochs, validation }),
    onStep: (m) => {
      last = m;
    },
    onFinalEpoch: (epoch, epochs) => {
      if (last) throttled({ type: 'epoch', epoch, epochs, last }, epoch === epochs);
    },
  });
  const seconds = (performance.now() - started) / 1000;
  const head = headOf(result.final.params, job.reference, job.vocabulary);
  const report = evaluateHeads(new Scorer(job.active, job.kind, job.mapping), new Scorer(head, job.kind, job.mapping), job.eval);
  const transfer = [head.weight.buffer, head.bias.buffer, ...(head.lexical ? [head.lexical.tokens.buffer, head.lexical.weight.buffer] : [])] as ArrayBuffer[];
  port.postMessage(
    {
      type: 'done',
      head,
      choice: result.choice,
      selection: result.selection,
      ...(result.note ? { note: result.note } : {}),
      steps: result.final.steps,
      epochs: result.final.epochs,
      report,
      seconds,
    } satisfies TrainMessage,
    transfer,
  );
} catch (err) {
  port.postMessage({ type: 'error', message: (err as Error).message } satisfies TrainMessage);
}
