/** Messages between the main thread and inference workers. Typed arrays travel as transferables. */
import type { NgramConfig, SparseRows } from './ngrams.js';
import type { Batch } from './tokenizer.js';

export type Provider = 'cuda' | 'webgpu' | 'cpu';

export interface WorkerInit {
  onnxPath: string;
  providers: Provider[];
  threads: number;
  /**
   * Whether onnxruntime's thread pools spin while they wait for work (its default). Spinning buys a little
   * latency between parallel sections and burns CPU whenever a session waits between batches, which a
   * server's sessions do: off unless ORT_ALLOW_SPINNING says so.
   */
  allowSpinning?: boolean;
  featuresOutput: string;
  logitsOutput: string;
  /** The tokenizer: workers tokenize the texts they score, so the request path does not. */
  tokenizerJson: Record<string, unknown>;
  maxLength: number;
  /** Shown in `top -H` / `ps -L` and read by bench:score to tell inference CPU from the request path's. */
  threadName: string;
}

export interface InputSpec {
  name: string;
  type: string;
}

/** A text to score, with an optional context (scored as a sequence pair). */
export interface TextInput {
  text: string;
  context?: string | null;
}

export type ToWorker =
  /** Pre-tokenized (the raw benchmark and batch calibration). */
  | { type: 'run'; id: number; batch: Batch; wantLogits: boolean }
  /** Texts: the worker tokenizes, pads and runs them, and computes their n-gram rows in each config asked for. */
  | { type: 'score'; id: number; inputs: TextInput[]; wantLogits: boolean; ngrams?: NgramConfig[] }
  | { type: 'close' };

/** What a worker tokenized: the ids of each row (specials in, padding out), flattened. */
export interface Tokenized {
  ids: Int32Array;
  /** Row r is ids[offsets[r]..offsets[r + 1]). */
  offsets: Int32Array;
  /** Tokens before truncation, per row (see Encoded.tokenCount). */
  tokenCounts: Int32Array;
  /** 1 where a row was truncated. */
  truncated: Uint8Array;
}

export type FromWorker =
  | { type: 'ready'; provider: Provider; attempts: { provider: Provider; error: string }[]; inputs: InputSpec[]; padId: number }
  | { type: 'init-failed'; message: string; attempts: { provider: Provider; error: string }[] }
  | {
      type: 'result';
      id: number;
      features: Float32Array;
      featureDim: number;
      logits?: Float32Array;
      tokens?: Tokenized;
      /** The texts' n-gram rows, one entry per config asked for (by ngramKey). */
      ngrams?: { key: string; rows: SparseRows }[];
      seqLen: number;
      runMs: number;
    }
  | { type: 'error'; id: number; message: string };
