/**
 * The model runtime: a verified model directory, a tokenizer, a pool of ORT workers and a batcher.
 * It turns text into feature vectors; heads (from the database) turn features into logits elsewhere.
 */
import { systemClock, type Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { DynamicBatcher, type BatchStats } from './batcher.js';
import { calibrate, chooseLayout, type Calibration, type Layout, type LayoutPoint } from './calibrate.js';
import { probeLayouts } from './layout-probe.js';
import { applyHead, maxAbsDiff, tokenRows, type TokenRows } from './head.js';
import { ngramKey, rowOf, sparseRows, type NgramConfig, type SparseRow, type SparseRows } from './ngrams.js';
import { ModelError, type ModelDir } from './model-dir.js';
import { activationQuantizationBound } from './onnx/quantized.js';
import { WorkerPool, type RunResult } from './pool.js';
import type { Provider, TextInput } from './protocol.js';
import { estimateTokens, SequenceEncoder } from './tokenizer.js';

export type { TextInput } from './protocol.js';

export const HEAD_TOLERANCE = 1e-4;

/**
 * A dynamically quantized classifier (MatMulInteger) rounds the features to uint8 steps of s before it
 * multiplies, so its logits are only within (s/2)·Σ_i|W_ji| of head(features) (onnx/quantized.ts,
 * activationQuantizationBound; s is the verification batch's own). The check allows that bound
 * × INT8_BOUND_SLACK (1 %, for the float rounding of s and of the scales' products) + HEAD_TOLERANCE.
 * The bound assumes an exact int32 product: onnxruntime's u8·s8 kernels on x86 CPUs without VNNI
 * can saturate 16-bit partial sums (its docs advise reduce_range or uint8 weights there), which this
 * check would refuse rather than serve.
 */
export const INT8_BOUND_SLACK = 1.01;

export interface RuntimeOptions {
  providers: Provider[];
  workers: number;
  threadsPerWorker: number;
  /**
   * Layouts to measure at load when calibrating (more than one: the fewest sessions near enough the
   * fastest is kept, calibrate.ts chooseLayout); otherwise `workers` × `threadsPerWorker` is the layout.
   */
  layouts?: Layout[];
  maxSequenceLength: number;
  /** The largest batch; calibration (on by default) may choose a smaller one. */
  batchMaxSize: number;
  /** Measure per-text cost at a few batch sizes at load and keep the best (see calibrate.ts). */
  batchCalibrate?: boolean;
  batchMaxWaitMs: number;
  bucketByLength?: boolean;
  lengthRatio?: number;
  /** A batch that has not come back after this long fails with InferenceTimeout; the pool enforces it and replaces the worker. */
  inferenceTimeoutMs?: number;
  /** onnxruntime's thread pools spin while waiting for work (WorkerInit.allowSpinning; default off). */
  allowSpinning?: boolean;
  onBatch?: (s: BatchStats) => void;
  /** Batch waits and the shutdown's grace period read this clock (default: the real one). */
  clock?: Clock;
}

export interface Embedded {
  /** Row-major [n, dim]. */
  features: Float32Array;
  dim: number;
  /** The ids each row was scored with (specials included, padding not): what a lexical part reads. */
  tokens: TokenRows;
  /** The rows' n-gram features, by config key (ngramKey), for each config asked for. */
  ngrams: Map<string, SparseRows>;
  tokenCounts: number[];
  truncated: boolean[];
}

/** One scored text: its features, what the worker tokenized it to, and its n-gram rows by config key. */
interface Row {
  features: Float32Array;
  ids: Int32Array;
  tokenCount: number;
  truncated: boolean;
  ngrams: Map<string, SparseRow>;
}

/** A text to score and the n-gram configs its heads read. */
interface Pending extends TextInput {
  ngrams?: NgramConfig[];
}

function rowsOf(res: RunResult): Row[] {
  const t = res.tokens!;
  const d = res.featureDim;
  return Array.from({ length: t.tokenCounts.length }, (_, r) => ({
    features: res.features.subarray(r * d, (r + 1) * d),
    ids: t.ids.subarray(t.offsets[r], t.offsets[r + 1]),
    tokenCount: t.tokenCounts[r],
    truncated: t.truncated[r] === 1,
    ngrams: new Map((res.ngrams ?? []).map((g) => [g.key, rowOf(g.rows, r)])),
  }));
}

/** The configs a batch's texts ask for, each once. */
function unionOfConfigs(items: Pending[]): NgramConfig[] {
  const out = new Map<string, NgramConfig>();
  for (const i of items) for (const c of i.ngrams ?? []) out.set(ngramKey(c), c);
  return [...out.values()];
}

/** A text's length for bucketing (texts are tokenized in the workers, after batching): see estimateTokens. */
function estimatedLength(i: TextInput, maxLength: number): number {
  return Math.min(maxLength, estimateTokens(i.text, maxLength) + (i.context ? estimateTokens(i.context, maxLength) : 0));
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
  /** What the load-time check allowed: HEAD_TOLERANCE, or the int8 bound of a quantized classifier. */
  verifiedTolerance = NaN;

  /** What calibration measured at load (null when it was off). */
  calibration: Calibration | null = null;
  /** The layout calibration chose and what it measured (null when only one layout was run). */
  layout: (Layout & { points: LayoutPoint[] }) | null = null;
  private batcher!: DynamicBatcher<Pending, Row>;
  private encoderCache: SequenceEncoder | null = null;

  private constructor(
    readonly model: ModelDir,
    readonly maxLength: number,
    private readonly pool: WorkerPool,
    private readonly clock: Clock,
  ) {}

  static async start(model: ModelDir, opts: RuntimeOptions, log: Logger): Promise<ModelRuntime> {
    const maxLength = Math.min(opts.maxSequenceLength, model.maxLength ?? Infinity);
    const calibrating = (opts.batchCalibrate ?? true) && opts.batchMaxSize > 1;
    let layout: Layout = { workers: opts.workers, threads: opts.threadsPerWorker };
    let measured: { layout: Layout & { points: LayoutPoint[] }; calibration: Calibration } | null = null;
    if (calibrating && opts.layouts && opts.layouts.length > 1) {
      // Each layout is measured in a child process (layout-probe.ts): the memory of the sessions measured
      // and dropped leaves with it. Fewest sessions first.
      const layouts = [...opts.layouts].sort((a, b) => a.workers - b.workers);
      try {
        const started = performance.now();
        const probe = await probeLayouts({ modelDir: model.dir, providers: opts.providers, maxLength, batchMaxSize: opts.batchMaxSize, layouts, allowSpinning: opts.allowSpinning ?? false });
        const points: LayoutPoint[] = probe.measured.map((m) => ({ workers: m.workers, threads: m.threads, size: m.calibration.size, msPerText: Math.min(...m.calibration.points.map((p) => p.msPerText)) }));
        const chosen = chooseLayout(points);
        layout = { workers: chosen.workers, threads: chosen.threads };
        measured = { layout: { ...layout, points }, calibration: probe.measured[points.indexOf(chosen)].calibration };
        log.info(
          { workers: chosen.workers, threadsPerWorker: chosen.threads, msPerText: Object.fromEntries(points.map((p) => [`${p.workers}x${p.threads}`, Number(p.msPerText.toFixed(3))])), ms: Math.round(performance.now() - started) },
          `inference layout: ${chosen.workers} session${chosen.workers > 1 ? 's' : ''} × ${chosen.threads} thread${chosen.threads > 1 ? 's' : ''} (the fewest sessions within 15% or 0.1 ms of the fastest per text; each session holds a copy of the weights)`,
        );
      } catch (err) {
        log.warn({ err: (err as Error).message }, `the inference layout could not be measured; running ${layout.workers} × ${layout.threads} (INFERENCE_WORKERS × ORT_THREADS fix it)`);
      }
    }
    const started = performance.now();
    const pool = await WorkerPool.start(
      {
        onnxPath: model.onnxPath,
        providers: opts.providers,
        threads: layout.threads,
        allowSpinning: opts.allowSpinning ?? false,
        featuresOutput: model.featuresOutput,
        logitsOutput: model.logitsOutput,
        tokenizerJson: model.tokenizerJson,
        maxLength,
      },
      layout.workers,
      log,
    );
    for (const a of pool.attempts) log.info({ provider: a.provider, reason: a.error }, providerSkipped(a.provider, a.error));
    log.info(
      { provider: pool.provider, workers: pool.size, threadsPerWorker: layout.threads, ms: Math.round(performance.now() - started) },
      `inference running on the ${pool.provider} execution provider`,
    );
    const unknown = pool.inputs.filter((i) => !KNOWN_INPUTS.has(i.name));
    if (opts.inferenceTimeoutMs) pool.runTimeoutMs = opts.inferenceTimeoutMs;
    const runtime = new ModelRuntime(model, maxLength, pool, opts.clock ?? systemClock);
    runtime.layout = measured?.layout ?? null;
    let maxBatch = opts.batchMaxSize;
    try {
      if (unknown.length > 0) {
        throw new ModelError(
          model.dir,
          `the graph needs inputs modtune cannot feed: ${unknown.map((i) => i.name).join(', ')} (it feeds input_ids, attention_mask, token_type_ids)`,
        );
      }
      await runtime.verifyHead();
      if (calibrating) {
        // The layout's own measurement, when there was one, is the batch calibration too.
        const c = measured?.calibration ?? (await calibrate({ maxBatch: opts.batchMaxSize, workers: pool.size, run: (inputs) => pool.score(inputs) }));
        runtime.calibration = c;
        maxBatch = c.size;
        log.info(
          { batchSize: c.size, msPerText: Object.fromEntries(c.points.map((p) => [p.size, Number(p.msPerText.toFixed(3))])), ms: Math.round(c.ms) },
          `batch size calibrated: ${c.size} (the smallest within 10% of the cheapest per text)`,
        );
      }
    } catch (err) {
      await pool.stop(0);
      throw err;
    }
    runtime.batcher = new DynamicBatcher<Pending, Row>(
      { size: pool.size, run: async (items) => {
        const res = await pool.score(
          items.map((i) => ({ text: i.text, context: i.context })),
          false,
          unionOfConfigs(items),
        );
        return { rows: rowsOf(res), runMs: res.runMs, seqLen: res.seqLen };
      } },
      {
        maxBatch,
        maxWaitMs: opts.batchMaxWaitMs,
        bucketByLength: opts.bucketByLength ?? true,
        lengthRatio: opts.lengthRatio,
        lengthOf: (i) => estimatedLength(i, maxLength),
        onBatch: opts.onBatch,
        clock: runtime.clock,
      },
    );
    return runtime;
  }

  /** The largest batch the batcher sends (the calibrated size, or BATCH_MAX_SIZE). */
  get batchSize(): number {
    return this.batcher.maxBatch;
  }

  /**
   * A main-thread tokenizer like the workers' (built on first use; serving does not use it): for tests
   * and tools that compare against what the workers did.
   */
  get encoder(): SequenceEncoder {
    this.encoderCache ??= new SequenceEncoder(this.model.tokenizerJson, this.maxLength);
    return this.encoderCache;
  }

  /** Resident memory each inference worker added when it started, by thread name (bytes). */
  get workerMemory(): ReadonlyMap<string, number> {
    return this.pool.workerMemory;
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
    const res = await this.pool.score(VERIFY_SAMPLES, true);
    const n = VERIFY_SAMPLES.length;
    const head = this.model.baseHead;
    if (res.featureDim !== head.dim) {
      throw new ModelError(
        this.model.dir,
        `the features output '${this.model.featuresOutput}' has ${res.featureDim} values per item but the classifier expects ${head.dim}`,
      );
    }
    // The graph's logits never include an n-gram part (ONNX cannot hash the text): compare without it.
    const ours = applyHead({ ...head, ngrams: null }, res.features, n, res.tokens!);
    const graph = res.logits!;
    if (graph.length !== ours.length) {
      throw new ModelError(this.model.dir, `the logits output has ${graph.length / n} values per item, expected ${head.numLabels}`);
    }
    const diff = maxAbsDiff(ours, graph);
    this.verifiedMaxAbsDiff = diff.value;
    const quantized = (this.model.config.modtune as { head?: { quantized?: unknown } } | undefined)?.head?.quantized;
    let tolerance = HEAD_TOLERANCE;
    let toleranceText = `${HEAD_TOLERANCE}`;
    if (quantized) {
      const { scale, bound } = activationQuantizationBound(res.features, head.weight, head.numLabels, head.dim);
      tolerance = INT8_BOUND_SLACK * bound + HEAD_TOLERANCE;
      toleranceText =
        `${tolerance.toExponential(3)}, the int8 classifier's bound ${INT8_BOUND_SLACK}·(s/2)·max_j Σ_i|W_ji| + ${HEAD_TOLERANCE} ` +
        `with the batch's uint8 feature step s = ${scale.toExponential(3)}`;
    }
    this.verifiedTolerance = tolerance;
    if (!(diff.value <= tolerance)) {
      const label = this.model.labels[diff.index % head.numLabels];
      const sample = Math.floor(diff.index / head.numLabels);
      throw new ModelError(
        this.model.dir,
        `head verification failed: head(features) differs from the graph's logits by up to ${diff.value.toExponential(3)} ` +
          `(label '${label}', sample ${sample}; tolerance ${toleranceText}); ` +
          `'${this.model.featuresOutput}' is not what the classifier '${String((this.model.config.modtune as { head?: { weight?: string } })?.head?.weight)}' sees`,
      );
    }
  }

  /** Features and token ids of the texts, and their n-gram rows in each of `ngrams` (the serving heads' configs). */
  async embed(inputs: TextInput[], ngrams: NgramConfig[] = []): Promise<Embedded> {
    const rows = await Promise.all(inputs.map((i) => this.batcher.submit(ngrams.length ? { ...i, ngrams } : i)));
    const dim = this.dim;
    const features = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => features.set(r.features, i * dim));
    return {
      features,
      dim,
      tokens: tokenRows(rows.map((r) => r.ids)),
      ngrams: new Map(ngrams.map((c) => [ngramKey(c), sparseRows(rows.map((r) => r.ngrams.get(ngramKey(c))!))])),
      tokenCounts: rows.map((r) => r.tokenCount),
      truncated: rows.map((r) => r.truncated),
    };
  }

  /** Scores and answers everything accepted (up to `graceMs`), then ends the workers. */
  async stop(graceMs = 10_000): Promise<void> {
    const started = this.clock.now();
    await this.batcher.drain(graceMs);
    await this.pool.stop(Math.max(0, graceMs - (this.clock.now() - started)), this.clock);
  }
}

/** Why a provider in EXECUTION_PROVIDERS was passed over, in words that do not read like a failure of the service. */
export function providerSkipped(provider: string, error: string): string {
  if (provider === 'cuda' && /Failed to load shared library|libcudart|libcublas|cudnn|CUDA/i.test(error)) {
    return 'CUDA is not available here (no CUDA libraries or GPU): trying the next execution provider; expected on a machine without an NVIDIA GPU';
  }
  if (provider === 'webgpu') return 'WebGPU is not available here (or only a software adapter): trying the next execution provider';
  return `execution provider ${provider} is not available here: trying the next one`;
}
