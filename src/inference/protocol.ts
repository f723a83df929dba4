/** Messages between the main thread and inference workers. Typed arrays travel as transferables. */
import type { Batch } from './tokenizer.js';

export type Provider = 'cuda' | 'webgpu' | 'cpu';

export interface WorkerInit {
  onnxPath: string;
  providers: Provider[];
  threads: number;
  featuresOutput: string;
  logitsOutput: string;
}

export interface InputSpec {
  name: string;
  type: string;
}

export type ToWorker =
  | { type: 'run'; id: number; batch: Batch; wantLogits: boolean }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; provider: Provider; attempts: { provider: Provider; error: string }[]; inputs: InputSpec[] }
  | { type: 'init-failed'; message: string; attempts: { provider: Provider; error: string }[] }
  | { type: 'result'; id: number; features: Float32Array; featureDim: number; logits?: Float32Array; runMs: number }
  | { type: 'error'; id: number; message: string };
