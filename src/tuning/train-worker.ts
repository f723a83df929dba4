/**
 * Runs DPO training and the evaluation off the main thread, so a long run never stalls scoring.
 * Input: the job in workerData (typed arrays transferred). Output: progress per epoch, then the result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { HeadWeights } from '../inference/head.js';
import { evaluateHeads, type EvalCells, type EvalReport } from './evaluate.js';
import { trainDpo, type AnchorSet, type EpochMetrics, type PairSet, type StepMetrics, type TrainOptions } from './trainer.js';

export interface TrainJob {
  reference: HeadWeights;
  pairs: PairSet;
  anchors: AnchorSet | null;
  evalCells: EvalCells;
  options: Omit<TrainOptions, 'onStep' | 'shouldStop'>;
}

export type TrainMessage =
  | { type: 'epoch'; epoch: number; epochs: number; last: StepMetrics }
  | { type: 'done'; head: HeadWeights; steps: StepMetrics[]; epochs: EpochMetrics[]; report: EvalReport; seconds: number }
  | { type: 'error'; message: string };

const job = (workerData as { job: TrainJob }).job;
const port = parentPort!;

try {
  const started = performance.now();
  let epoch = 0;
  let last: StepMetrics | null = null;
  let lastPost = 0;
  const result = trainDpo(job.reference, job.pairs, job.anchors, {
    ...job.options,
    onStep: (m) => {
      // Progress at epoch ends, at most four times a second (runs of tiny epochs would flood the port).
      if (last && m.epoch !== epoch && performance.now() - lastPost >= 250) {
        lastPost = performance.now();
        port.postMessage({ type: 'epoch', epoch, epochs: job.options.epochs, last } satisfies TrainMessage);
      }
      epoch = m.epoch;
      last = m;
    },
  });
  if (last) port.postMessage({ type: 'epoch', epoch, epochs: job.options.epochs, last } satisfies TrainMessage);
  const seconds = (performance.now() - started) / 1000;
  const report = evaluateHeads(job.reference, result.head, job.evalCells);
  port.postMessage({ type: 'done', head: result.head, steps: result.steps, epochs: result.epochs, report, seconds } satisfies TrainMessage, [
    result.head.weight.buffer as ArrayBuffer,
    result.head.bias.buffer as ArrayBuffer,
  ]);
} catch (err) {
  port.postMessage({ type: 'error', message: (err as Error).message } satisfies TrainMessage);
}
