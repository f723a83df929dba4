/**
 * The model runtime: a verified model directory, a tokenizer, a pool of ORT workers and a batcher.
 * It turns text into feature vectors; heads (from the database) turn features into logits elsewhere.
 */
import type { Logger } from '../logger.js';
import { DynamicBatcher, type BatchStats } from './batcher.js';
import { applyHead, maxAbsDiff, tokenRows, type TokenRows } from './head.js';
import { ModelError, type ModelDir } from './model-dir.js';
import { WorkerPool } from './pool.js';
import type { Provider } from './protocol.js';
import { SequenceEncoder } from './tokenizer.js';

export const HEAD_TOLERANCE = 1e-4;

export interface RuntimeOptions {
  providers: Provider[];
  workers: number;
  threadsPerWorker: number;
  maxSequenceLength: number;
  batchMaxSize: number;
  batchMaxWaitMs: number;
  bucketByLength?: boolean;
  lengthRatio?: number;
  /** A batch that has not come back after this long fails (and its worker is replaced). */
  inferenceTimeoutMs?: number;
  onBatch?: (s: BatchStats) => void;
}

export interface TextInput {
  text: string;
  context?: string | null;
}

export interface Embedded {
  /** Row-major [n, dim]. */
  features: Float32Array;
  dim: number;
  /** The ids each row was scored with (specials included, padding not): what a lexical part reads. */
  tokens: TokenRows;
  tokenCounts: number[];
  truncated: boolean[];
}

const KNOWN_INPUTS = new Set(['input_ids', 'attention_mask', 'token_type_ids']);

/** Varied lengths, so padding and masking are part of what the check covers. */
const VERIFY_SAMPLES: TextInput[] = [
  { text: 'have a nice day' },
  { text: 'I will find you and hurt you.' },
  { text: '' },
  { text: 'The quick brown fox jumps over the lazy dog, again and again, until the dog finally wakes up and barks.' },
  { text: 'what do you mean?', context: 'an earlier message in the thread' },
];

export class ModelRuntime {
  /** The largest |head(features) − logits| seen by the load-time check. */
  verifiedMaxAbsDiff = NaN;

  private constructor(
    readonly model: ModelDir,
    readonly encoder: SequenceEncoder,
    private readonly pool: WorkerPool,
    private readonly batcher: DynamicBatcher,
  ) {}

  static async start(model: ModelDir, opts: RuntimeOptions, log: Logger): Promise<ModelRuntime> {
    const maxLength = Math.min(opts.maxSequenceLength, model.maxLength ?? Infinity);
    const encoder = new SequenceEncoder(model.tokenizerJson, maxLength);
    const started = performance.now();
    const pool = await WorkerPool.start(
      {
        onnxPath: model.onnxPath,
        providers: opts.providers,
        threads: opts.threadsPerWorker,
        featuresOutput: model.featuresOutput,
        logitsOutput: model.logitsOutput,
      },
      opts.workers,
      log,
    );
    for (const a of pool.attempts) log.info({ provider: a.provider, reason: a.error }, 'execution provider not used');
    log.info(
      { provider: pool.provider, workers: pool.size, threadsPerWorker: opts.threadsPerWorker, ms: Math.round(performance.now() - started) },
      `inference running on the ${pool.provider} execution provider`,
    );
    const unknown = pool.inputs.filter((i) => !KNOWN_INPUTS.has(i.name));
    if (opts.inferenceTimeoutMs) pool.runTimeoutMs = opts.inferenceTimeoutMs;
    const batcher = new DynamicBatcher(pool, {
      maxBatch: opts.batchMaxSize,
      maxWaitMs: opts.batchMaxWaitMs,
      bucketByLength: opts.bucketByLength ?? true,
      lengthRatio: opts.lengthRatio,
      runTimeoutMs: opts.inferenceTimeoutMs,
      padId: encoder.padId,
      onBatch: opts.onBatch,
    });
    const runtime = new ModelRuntime(model, encoder, pool, batcher);
    try {
      if (unknown.length > 0) {
        throw new ModelError(
          model.dir,
          `the graph needs inputs modtune cannot feed: ${unknown.map((i) => i.name).join(', ')} (it feeds input_ids, attention_mask, token_type_ids)`,
        );
      }
      await runtime.verifyHead();
    } catch (err) {
      await pool.stop(0);
      throw err;
    }
    return runtime;
  }

  get provider(): Provider {
    return this.pool.provider;
  }

  get workers(): number {
    return this.pool.size;
  }

  get queueLength(): number {
    return this.batcher.queued;
  }

  get dim(): number {
    return this.model.baseHead.dim;
  }

  /**
   * Refuses a model whose classifier, applied in TypeScript to the features output, does not reproduce
   * the graph's own logits: heads trained on those features would not mean what they say.
   */
  private async verifyHead(): Promise<void> {
    const enc = VERIFY_SAMPLES.map((s) => this.encoder.encode(s.text, s.context));
    const res = await this.pool.run(SequenceEncoder.pad(enc, this.encoder.padId), true);
    const head = this.model.baseHead;
    if (res.featureDim !== head.dim) {
      throw new ModelError(
        this.model.dir,
        `the features output '${this.model.featuresOutput}' has ${res.featureDim} values per item but the classifier expects ${head.dim}`,
      );
    }
    const ours = applyHead(head, res.features, enc.length, tokenRows(enc.map((e) => e.ids)));
    const graph = res.logits!;
    if (graph.length !== ours.length) {
      throw new ModelError(this.model.dir, `the logits output has ${graph.length / enc.length} values per item, expected ${head.numLabels}`);
    }
    const diff = maxAbsDiff(ours, graph);
    this.verifiedMaxAbsDiff = diff.value;
    if (!(diff.value <= HEAD_TOLERANCE)) {
      const label = this.model.labels[diff.index % head.numLabels];
      const sample = Math.floor(diff.index / head.numLabels);
      throw new ModelError(
        this.model.dir,
        `head verification failed: head(features) differs from the graph's logits by up to ${diff.value.toExponential(3)} ` +
          `(label '${label}', sample ${sample}; tolerance ${HEAD_TOLERANCE}); ` +
          `'${this.model.featuresOutput}' is not what the classifier '${String((this.model.config.modtune as { head?: { weight?: string } })?.head?.weight)}' sees`,
      );
    }
  }

  async embed(inputs: TextInput[]): Promise<Embedded> {
    const encoded = inputs.map((i) => this.encoder.encode(i.text, i.context));
    const rows = await Promise.all(encoded.map((e) => this.batcher.submit(e)));
    const dim = this.dim;
    const features = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => features.set(r, i * dim));
    return {
      features,
      dim,
      tokens: tokenRows(encoded.map((e) => e.ids)),
      tokenCounts: encoded.map((e) => e.tokenCount),
      truncated: encoded.map((e) => e.truncated),
    };
  }

  /** Scores and answers everything accepted (up to `graceMs`), then ends the workers. */
  async stop(graceMs = 10_000): Promise<void> {
    const started = Date.now();
    await this.batcher.drain(graceMs);
    await this.pool.stop(Math.max(0, graceMs - (Date.now() - started)));
  }
}
