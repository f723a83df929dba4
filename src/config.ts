/**
 * Configuration, read once from the environment and validated as a whole: one error names every bad
 * variable. Two CLIs read one setting each without going through it: cli/build-model.ts (MODEL_DIR as
 * the default --out, so the model lands where `npm start` will look; building needs no other setting)
 * and cli/service.ts (MODTUNE_ADMIN_KEY, to reach the admin API of a server that holds the data
 * directory). Other reads of the environment are not modtune's settings: inference/providers.ts (the
 * Vulkan loader's own variables, to tell a hardware GPU from a software one), db/data-dir-lock.ts
 * (npm_lifecycle_event, to name the command holding an embedded database), db/server-registry.ts
 * (XDG_RUNTIME_DIR, where running servers announce themselves), inference/layout-probe.ts (its own
 * MODTUNE_LAYOUT_PROBE, set on the child process it forks) and models/hub/pull.ts with
 * cli/pull-model.ts (the Hub client's own HF_ENDPOINT, HF_TOKEN and cache variables, read when a model is
 * pulled).
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { candidateLayouts } from './inference/calibrate.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const bytes = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(b|kb|mb)?$/i, 'expected a size such as 1mb, 512kb or 1048576')
  .transform((v) => {
    const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb)?$/i.exec(v)!;
    const unit = (m[2] ?? 'b').toLowerCase();
    return Math.round(Number(m[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1));
  });

const providerList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean))
  .pipe(z.array(z.enum(['cuda', 'webgpu', 'cpu'])).min(1, 'name at least one provider'));

const envSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(8080),
  DATABASE_URL: z.string().url().optional(),
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  DATA_DIR: z.string().min(1).default('./data'),
  EMBEDDED_SHARED_BUFFERS: bytes.default(32 * 1024 * 1024),
  MODEL_DIR: z.string().min(1).default('./models/default'),
  MODEL_AUTO_BUILD: bool.default(true),
  /** A Hub repo id (owner/name[@revision][:int8]) the first start pulls instead of building the starter. */
  MODEL: z
    .string()
    .regex(/^[A-Za-z0-9][\w.-]*\/[\w.-]+(@[\w./-]+)?(:(fp32|int8))?$/, 'a Hugging Face repo id: owner/name, optionally @revision and :int8')
    .optional(),
  POLICY_DIR: z.string().min(1).default('./policies'),
  DEFAULT_POLICY: z.string().min(1).default('default'),
  EXECUTION_PROVIDERS: providerList.default(['cuda', 'webgpu', 'cpu']),
  INFERENCE_WORKERS: int(0, 64).default(0),
  ORT_THREADS: int(0, 256).default(0),
  MAX_SEQUENCE_LENGTH: int(8, 8192).default(256),
  BATCH_MAX_SIZE: int(1, 1024).default(32),
  BATCH_MAX_WAIT_MS: z.coerce.number().min(0).max(1000).default(0),
  BATCH_CALIBRATE: bool.default(true),
  BATCH_BUCKET_BY_LENGTH: bool.default(true),
  BATCH_LENGTH_RATIO: z.coerce.number().min(1).max(100).default(1.25),
  INFERENCE_TIMEOUT_MS: int(100, 600_000).default(30_000),
  ORT_ALLOW_SPINNING: bool.default(false),
  MAX_TEXT_LENGTH: int(1, 1_000_000).default(20_000),
  MAX_CONTEXT_LENGTH: int(1, 1_000_000).default(20_000),
  MAX_INPUTS: int(1, 10_000).default(64),
  /** Default: room for MAX_INPUTS texts and contexts at their limits (limitsOf). */
  MAX_BODY_SIZE: bytes.optional(),
  MODTUNE_ADMIN_KEY: z.string().min(24, 'must be at least 24 characters').optional(),
  /** The train/eval split's salt; unset: the deployment makes its own (secret) on first use. For experiments. */
  SPLIT_SALT: z.string().min(1).max(256).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_CONTENT: bool.default(false),
  REQUEST_TIMEOUT_MS: int(100, 600_000).default(30_000),
  RATE_LIMIT_PER_SECOND: z.coerce.number().min(0).max(1_000_000).default(500),
  RATE_LIMIT_BURST: int(1, 10_000_000).default(1_000),
  RETENTION_INTERVAL_MS: int(1_000, 86_400_000).default(3_600_000),
  IDEMPOTENCY_TTL_HOURS: int(1, 24 * 365).default(24),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(15_000),
  SHUTDOWN_DRAIN_MS: int(0, 600_000).default(0),
  TRAINING_SCHEDULER: bool.default(true),
  BACKGROUND_JOBS: bool.default(true),
  GUARD_INTERVAL_MS: int(100, 86_400_000).default(30_000),
  QUEUED_RUN_SWEEP_MS: int(1_000, 86_400_000).default(60_000),
  SHADOW_FLUSH_MS: int(100, 600_000).default(5_000),
  HEAD_POLL_MS: int(100, 600_000).default(5_000),
});

export type Env = z.infer<typeof envSchema>;

/** MODEL=owner/name[@revision][:int8]. */
function hubModel(spec: string): { repo: string; revision?: string; dtype: 'fp32' | 'int8' } {
  const m = /^([^@:]+)(?:@([^:]+))?(?::(fp32|int8))?$/.exec(spec)!;
  return { repo: m[1], ...(m[2] ? { revision: m[2] } : {}), dtype: (m[3] as 'fp32' | 'int8' | undefined) ?? 'fp32' };
}

/**
 * The body limit that lets the largest request the other limits allow through: `inputs` texts and contexts
 * at their length limits (JavaScript characters, up to 3 bytes each in UTF-8), plus 64 kB for the JSON
 * around them and the ids. With the defaults (64 × (20,000 + 20,000)) about 7.4 MiB; a smaller
 * MAX_BODY_SIZE can be set, and a request over it is refused with 413 naming it.
 */
export function defaultBodyBytes(inputs: number, textLength: number, contextLength: number): number {
  return inputs * (textLength + contextLength) * 3 + 64 * 1024;
}

export interface Config {
  host: string;
  port: number;
  database: { url?: string; poolSize: number; dataDir: string; embeddedSharedBuffers: number };
  model: { dir: string; autoBuild: boolean; hub?: { repo: string; revision?: string; dtype: 'fp32' | 'int8' } };
  policy: { dir: string; defaultName: string };
  inference: {
    providers: ('cuda' | 'webgpu' | 'cpu')[];
    workers: number;
    threadsPerWorker: number;
    /** With neither INFERENCE_WORKERS nor ORT_THREADS set: the layouts calibration measures (calibrate.ts). */
    layouts: { workers: number; threads: number }[];
    maxSequenceLength: number;
    batchMaxSize: number;
    batchMaxWaitMs: number;
    batchCalibrate: boolean;
    bucketByLength: boolean;
    lengthRatio: number;
    inferenceTimeoutMs: number;
    allowSpinning: boolean;
  };
  limits: { maxTextLength: number; maxContextLength: number; maxInputs: number; maxBodyBytes: number };
  adminKey?: string;
  /** A fixed salt for the train/eval split (reproducible experiments); null: the deployment's secret one. */
  splitSalt: string | null;
  log: { level: Env['LOG_LEVEL']; content: boolean };
  requestTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** After SIGTERM, how long /readyz is red while the listener still serves, before it closes. */
  shutdownDrainMs: number;
  rateLimit: { perSecond: number; burst: number };
  retention: { intervalMs: number; idempotencyTtlHours: number };
  /** Run the policy's training schedule in this process (when it runs background jobs). */
  trainingScheduler: boolean;
  /**
   * Background jobs (training schedule, promotion guard, retention): in the API process (default), or
   * only in `npm run worker` processes when false. Shadow statistics stay with the API, which scores.
   */
  backgroundJobs: boolean;
  /** How often the promotion guard re-checks live agreement (each completed review also pokes it). */
  guardIntervalMs: number;
  /** How often a process that runs the jobs looks for training runs queued at least this long ago and trains them. */
  queuedRunSweepMs: number;
  /** How often shadow statistics accumulated from scoring are written, and the shadow head re-read. */
  shadowFlushMs: number;
  /** How often replicas poll for a new active head (LISTEN/NOTIFY is the fast path). */
  headPollMs: number;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Empty strings count as unset, as `FOO= npm start` intends. */
function present(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const parsed = envSchema.safeParse(present(env));
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = String(i.path[0] ?? '?');
        const value = env[name];
        const shown = name === 'MODTUNE_ADMIN_KEY' || name === 'DATABASE_URL' ? '' : ` (got ${JSON.stringify(value)})`;
        return `${name}: ${i.message}${shown}`;
      }),
    );
  }
  const e = parsed.data;
  const cores = Math.max(1, os.availableParallelism());
  // Each worker owns an ORT session. Parallel sessions with few threads each beat one session with many
  // on CPU for the small batches a moderation service sees (measured: docs/PERFORMANCE.md); more than
  // four sessions mostly costs memory (each holds the model).
  // Without calibration (BATCH_CALIBRATE=false) that is the layout; with it, and neither variable set, the
  // start measures 1, 2 and 4 sessions and keeps the fewest near enough the fastest (calibrate.ts).
  const workers = e.INFERENCE_WORKERS || Math.min(cores, 4);
  const threads = e.ORT_THREADS || Math.max(1, Math.floor(cores / workers));
  const layouts = e.INFERENCE_WORKERS || e.ORT_THREADS ? [{ workers, threads }] : candidateLayouts(cores);
  return {
    host: e.HOST,
    port: e.PORT,
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, dataDir: path.resolve(cwd, e.DATA_DIR), embeddedSharedBuffers: e.EMBEDDED_SHARED_BUFFERS },
    model: { dir: path.resolve(cwd, e.MODEL_DIR), autoBuild: e.MODEL_AUTO_BUILD, ...(e.MODEL ? { hub: hubModel(e.MODEL) } : {}) },
    policy: { dir: path.resolve(cwd, e.POLICY_DIR), defaultName: e.DEFAULT_POLICY },
    inference: {
      providers: e.EXECUTION_PROVIDERS,
      workers,
      threadsPerWorker: threads,
      layouts,
      maxSequenceLength: e.MAX_SEQUENCE_LENGTH,
      batchMaxSize: e.BATCH_MAX_SIZE,
      batchMaxWaitMs: e.BATCH_MAX_WAIT_MS,
      batchCalibrate: e.BATCH_CALIBRATE,
      bucketByLength: e.BATCH_BUCKET_BY_LENGTH,
      lengthRatio: e.BATCH_LENGTH_RATIO,
      inferenceTimeoutMs: e.INFERENCE_TIMEOUT_MS,
      allowSpinning: e.ORT_ALLOW_SPINNING,
    },
    limits: {
      maxTextLength: e.MAX_TEXT_LENGTH,
      maxContextLength: e.MAX_CONTEXT_LENGTH,
      maxInputs: e.MAX_INPUTS,
      maxBodyBytes: e.MAX_BODY_SIZE ?? defaultBodyBytes(e.MAX_INPUTS, e.MAX_TEXT_LENGTH, e.MAX_CONTEXT_LENGTH),
    },
    adminKey: e.MODTUNE_ADMIN_KEY,
    splitSalt: e.SPLIT_SALT ?? null,
    log: { level: e.LOG_LEVEL, content: e.LOG_CONTENT },
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    rateLimit: { perSecond: e.RATE_LIMIT_PER_SECOND, burst: e.RATE_LIMIT_BURST },
    retention: { intervalMs: e.RETENTION_INTERVAL_MS, idempotencyTtlHours: e.IDEMPOTENCY_TTL_HOURS },
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    trainingScheduler: e.TRAINING_SCHEDULER,
    backgroundJobs: e.BACKGROUND_JOBS,
    guardIntervalMs: e.GUARD_INTERVAL_MS,
    queuedRunSweepMs: e.QUEUED_RUN_SWEEP_MS,
    shadowFlushMs: e.SHADOW_FLUSH_MS,
    headPollMs: e.HEAD_POLL_MS,
  };
}

/**
 * loadConfig for a command (`npm start` and the CLIs): an invalid configuration is printed to stderr as
 * `<program>: invalid configuration: ...` and gives null, for the caller to exit with code 2.
 */
export function loadConfigOrReport(program: string): Config | null {
  try {
    return loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${program}: ${err.message}\n`);
    return null;
  }
}
