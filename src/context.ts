/**
 * The composition root: everything a process needs, wired by hand once at start-up (no container).
 * Two process roles share it: `api` (HTTP, scoring, review, shadow statistics, and by default the
 * background jobs) and `worker` (`npm run worker`: only the background jobs — training schedule,
 * promotion guard, retention — for deployments whose API replicas set BACKGROUND_JOBS=false).
 *
 * Features talk to each other through domain events (events.ts), subscribed here and nowhere else.
 * Everything started is registered in one Lifecycle, which both a failed start and destroy() unwind.
 * Tests pass `Partial` overrides (their own database, logger, policies, random draws, item ids) instead
 * of patching globals.
 */
import { epochMs, systemClock, type Clock } from './clock.js';
import path from 'node:path';
import { API_KEYS_CHANNEL, AuthService } from './auth/auth.service.js';
import { RateLimiter } from './auth/rate-limit.js';
import { ThresholdService } from './thresholds/thresholds.service.js';
import { highlightWords } from './moderation/explain.js';
import { getHead } from './models/head.repository.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/connect.js';
import { SERVER_COMMAND } from './db/data-dir-lock.js';
import { announceToJobs, BackgroundJobs } from './jobs/background-jobs.js';
import { migrateToLatest } from './db/migrator.js';
import { EventBus } from './events.js';
import { Lifecycle } from './lifecycle.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { ModelService, type ActiveModel } from './models/model.service.js';
import { RegistryService } from './admin/registry.service.js';
import { DecisionWriter } from './moderation/decision-writer.js';
import { ModerationService } from './moderation/moderation.service.js';
import { ShadowScorer } from './moderation/shadow.js';
import { loadPolicies } from './policy/loader.js';
import type { Policy } from './policy/policy.js';
import { PolicyRegistry } from './policy/registry.js';
import { RetentionService } from './privacy/retention.js';
import { notifyTaskCompleted, queueDepth, REVIEW_COMPLETED_CHANNEL } from './review/review.repository.js';
import { ReviewService, type Highlighter } from './review/review.service.js';
import { PromotionGuard } from './tuning/guard.service.js';
import { TrainingScheduler } from './tuning/scheduler.js';
import { lastGate, notifyRunRequested, runCounts, TRAINING_REQUESTED_CHANNEL } from './tuning/training.repository.js';
import { HoldService } from './tuning/holds.service.js';
import { TrainingService } from './tuning/training.service.js';

export type ProcessRole = 'api' | 'worker';

export interface ContextOptions {
  /** `api` (default) or `worker` (background jobs only). */
  role: ProcessRole;
  logger: Logger;
  /** A database opened by the caller; the context will not destroy it. */
  database: Database;
  policies: Map<string, Policy>;
  /** Where a generated first admin key is shown (default: stderr, once). */
  announceAdminKey: (key: string) => void;
  /** Review routing's random draws (audit and confirmation samples). */
  random: () => number;
  /** New item ids; the train/eval split hashes them. */
  itemIds: () => string;
  /** The process name written into an embedded database's lock (CLIs beside it find the server there). */
  command: string;
  /** Milliseconds on a monotonic clock, for the per-key rate limiter's buckets (tests hold it still). */
  rateLimitClock: () => number;
  /** Every reader of time in the process: leases, key expiry, the guard, training, timers (default: the real one). */
  clock: Clock;
}

export type ContextOverrides = Partial<ContextOptions>;


/** What a context holds, by name. */
export interface AppParts {
  role: ProcessRole;
  config: Config;
  logger: Logger;
  database: Database;
  events: EventBus;
  lifecycle: Lifecycle;
  metrics: Metrics;
  policies: PolicyRegistry;
  models: ModelService;
  auth: AuthService;
  moderation: ModerationService;
  review: ReviewService;
  training: TrainingService;
  registry: RegistryService;
  shadow: ShadowScorer;
  /** Data-subject requests (any process) and the retention pass (run on a timer with the jobs). */
  retention: RetentionService;
  /** The threshold advisor (reads only). */
  thresholds: ThresholdService;
  holds: HoldService;
  jobs: BackgroundJobs | null;
}

export class AppContext {
  /** Set while shutting down: /readyz turns red so load balancers stop sending traffic. */
  draining = false;

  readonly role: ProcessRole;
  readonly config: Config;
  readonly logger: Logger;
  readonly database: Database;
  readonly events: EventBus;
  readonly metrics: Metrics;
  readonly policies: PolicyRegistry;
  readonly models: ModelService;
  readonly auth: AuthService;
  readonly moderation: ModerationService;
  readonly review: ReviewService;
  readonly training: TrainingService;
  readonly registry: RegistryService;
  readonly shadow: ShadowScorer;
  readonly retention: RetentionService;
  readonly thresholds: ThresholdService;
  readonly holds: HoldService;
  readonly jobs: BackgroundJobs | null;
  private readonly lifecycle: Lifecycle;

  private constructor(parts: AppParts) {
    this.role = parts.role;
    this.config = parts.config;
    this.logger = parts.logger;
    this.database = parts.database;
    this.events = parts.events;
    this.lifecycle = parts.lifecycle;
    this.metrics = parts.metrics;
    this.policies = parts.policies;
    this.models = parts.models;
    this.auth = parts.auth;
    this.moderation = parts.moderation;
    this.review = parts.review;
    this.training = parts.training;
    this.registry = parts.registry;
    this.shadow = parts.shadow;
    this.retention = parts.retention;
    this.thresholds = parts.thresholds;
    this.holds = parts.holds;
    this.jobs = parts.jobs;
  }

  /** The training schedule, where this process runs it. */
  get scheduler(): TrainingScheduler | null {
    return this.jobs?.scheduler ?? null;
  }

  /** In stop order: what destroy() will stop (for logs and tests). */
  get components(): string[] {
    return this.lifecycle.names;
  }

  static async fromConfig(config: Config, overrides: ContextOverrides = {}): Promise<AppContext> {
    const role = overrides.role ?? 'api';
    const logger = overrides.logger ?? createLogger(config.log.level, { logContent: config.log.content });
    const lifecycle = new Lifecycle(logger.child({ subsystem: 'lifecycle' }));
    try {
      return await AppContext.wire(config, overrides, role, logger, lifecycle);
    } catch (err) {
      await lifecycle.stopAll();
      throw err;
    }
  }

  private static async wire(config: Config, overrides: ContextOverrides, role: ProcessRole, logger: Logger, lifecycle: Lifecycle): Promise<AppContext> {
    const dbLog = logger.child({ subsystem: 'db' });
    const tuningLog = logger.child({ subsystem: 'tuning' });
    const events = new EventBus(logger.child({ subsystem: 'events' }));
    const clock = overrides.clock ?? systemClock;
    // The policies first: a typo in one stops the start before anything (an embedded database) is created.
    const loadedPolicies = overrides.policies ?? (await loadPolicies(config.policy.dir));

    const database =
      overrides.database ??
      (await openDatabase({
        url: config.database.url,
        dataDir: config.database.dataDir,
        poolSize: config.database.poolSize,
        sharedBuffers: config.database.embeddedSharedBuffers,
        logger: dbLog,
        command: overrides.command ?? SERVER_COMMAND,
      }));
    if (!overrides.database) lifecycle.add('database', () => database.destroy());
    const applied = await migrateToLatest(database.db);
    dbLog.info({ kind: database.kind, location: database.location, applied, role }, 'database ready');

    const policies = new PolicyRegistry(loadedPolicies, config.policy.defaultName);
    await policies.record(database.db);

    const metrics = new Metrics();
    const models = new ModelService(
      database.db,
      policies,
      {
        bootstrapDir: config.model.dir,
        autoBuild: config.model.autoBuild,
        hub: config.model.hub,
        labelMapsDir: path.join(config.policy.dir, 'label-maps'),
        runtime: {
          ...config.inference,
          clock,
          onBatch: (s) => {
            metrics.batchSize.observe(s.size);
            metrics.batchWait.observe(s.waitMs / 1000);
            metrics.batchRun.observe(s.runMs / 1000);
          },
        },
      },
      logger.child({ subsystem: 'inference' }),
    );
    const active = await models.start();
    lifecycle.add('inference', (graceMs) => models.stop(graceMs));
    for (const [policy, labels] of Object.entries(active.policies.unmapped)) {
      logger.warn({ policy, labels }, 'model labels not mapped to any category of this policy; their scores are ignored');
    }
    showModel(metrics, active);
    metrics.provider.set({ provider: active.runtime.provider }, 1);
    metrics.queueSource = () => (models.loaded ? models.active.runtime.queueLength : 0);
    metrics.batchTargetSource = () => (models.loaded ? models.active.runtime.batchSize : 0);
    metrics.storeSource = async () => ({
      queue: await queueDepth(database.db),
      runs: await runCounts(database.db),
      lastGate: await lastGate(database.db),
    });

    const auth = new AuthService(database.db, logger.child({ subsystem: 'auth' }), new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst, overrides.rateLimitClock ?? (() => clock.now())), clock);
    if (role === 'api') {
      // Revocations on any replica reach this one's key cache at once.
      lifecycle.add('api-key listener', await database.listen(API_KEYS_CHANNEL, (keyId) => auth.forget(keyId || undefined)));
      const { generated } = await auth.bootstrapAdmin(config.adminKey);
      if (generated) {
        (overrides.announceAdminKey ?? announceOnStderr)(generated);
        logger.warn('generated the first admin key and printed it once on stderr; store it now, it is not kept anywhere');
      } else {
        // Every start says how to get in: a first start that failed after printing the key is easy to miss.
        const admins = await auth.usableAdmins();
        logger.info(
          { adminKeys: admins },
          config.adminKey
            ? 'admin access: the key in MODTUNE_ADMIN_KEY'
            : `admin access: an admin key printed at the first start or made since (${admins} usable); lost them all? ` +
                (config.database.url
                  ? 'run `npm run admin-key` (it mints a new one on DATABASE_URL), or set MODTUNE_ADMIN_KEY and restart'
                  : 'stop the service and run `npm run admin-key` (it mints a new one on the embedded database), or set MODTUNE_ADMIN_KEY and restart'),
        );
      }
    }

    const shadow = new ShadowScorer(database.db, tuningLog);
    const training = new TrainingService(database, policies, tuningLog, {
      embed: async (backboneId, inputs) => {
        const m = models.active;
        if (m.backbone.id !== backboneId) throw new Error(`this replica serves backbone ${m.backbone.id}, not ${backboneId}`);
        return m.runtime.embed(inputs);
      },
      events,
      clock,
    });
    lifecycle.add('training', () => training.stop());
    const writer = new DecisionWriter(database.db, {
      onCommit: (c) => {
        metrics.commitRequests.observe(c.requests);
        metrics.commitSeconds.observe(c.ms / 1000);
      },
    });
    const moderation = new ModerationService({
      db: database.db,
      models,
      policies,
      metrics,
      random: overrides.random,
      itemIds: overrides.itemIds,
      shadow,
      writer,
      log: { logger: logger.child({ subsystem: 'moderation' }), content: config.log.content },
    });
    // The review page marks the words that moved the serving head (its n-gram part's exact shares).
    const highlighter: Highlighter = async (t) => {
      const m = models.active;
      const head = t.headId === m.head.id ? m.head : await getHead(database.db, t.headId);
      if (!head?.ngrams || head.backboneId !== m.backbone.id) return null;
      const words = highlightWords(head, m.policies.resolve(t.policyName).mapping.sources, t.text, t.categories);
      return words.length ? words : null;
    };
    const review = new ReviewService(database.db, policies, events, config.splitSalt, highlighter, clock);

    // Who hears what. A promoted head is served here at once (other processes hear NOTIFY or poll).
    events.on('head.promoted', () => models.refresh());
    models.onChange((m) => showModel(metrics, m));
    if (role === 'api') {
      events.on('head.candidate', () => shadow.refresh(models.active.head));
      models.onChange((m) => void shadow.refresh(m.head).catch((err: Error) => tuningLog.warn({ err: err.message }, 'could not refresh the shadow head')));
    }

    await training.recoverAbandonedRuns();
    await models.watch(database, config.headPollMs);

    if (role === 'api') {
      await shadow.refresh(active.head);
      shadow.start(config.shadowFlushMs);
      // A candidate trained by another process (a worker, another replica) becomes the shadow head here too.
      const shadowRefresh = setInterval(
        () => void shadow.refresh(models.active.head).catch((err: Error) => tuningLog.warn({ err: err.message }, 'could not refresh the shadow head')),
        config.shadowFlushMs,
      );
      shadowRefresh.unref();
      lifecycle.add('shadow statistics', async () => {
        clearInterval(shadowRefresh);
        await shadow.stop();
      });
    }

    const retention = new RetentionService(database.db, policies, { idempotencyTtlHours: config.retention.idempotencyTtlHours }, logger.child({ subsystem: 'privacy' }));
    let jobs: BackgroundJobs | null = null;
    if (role === 'worker' || config.backgroundJobs) {
      jobs = new BackgroundJobs({ config, database, events, clock, models, policies, training, retention, logger: tuningLog });
      await jobs.start(lifecycle);
      logger.info({ role, scheduler: jobs.scheduler !== null }, 'background jobs run in this process');
    } else {
      announceToJobs({ database, events, training });
      logger.info('background jobs are off in this process (BACKGROUND_JOBS=false): run them with npm run worker');
    }

    const ctx = new AppContext({
      role,
      config,
      logger,
      database,
      events,
      lifecycle,
      metrics,
      policies,
      models,
      auth,
      moderation,
      review,
      training,
      registry: new RegistryService(database.db),
      shadow,
      retention,
      thresholds: new ThresholdService(database.db, models, clock),
      holds: new HoldService(database.db),
      jobs,
    });
    // The last registration stops first: readiness turns red before anything else is stopped.
    lifecycle.add('readiness', () => {
      ctx.draining = true;
    });
    return ctx;
  }

  /**
   * Stops everything this context started, newest first: readiness, background jobs, shadow statistics,
   * training, the API-key listener, inference (accepted work finishes within `graceMs`), the database
   * (unless the caller owns it).
   */
  async destroy(graceMs = this.config.shutdownTimeoutMs): Promise<void> {
    this.draining = true;
    await this.lifecycle.stopAll(graceMs);
  }
}

function showModel(metrics: Metrics, m: ActiveModel): void {
  metrics.activeHead.reset();
  metrics.activeHead.set({ backbone: m.backbone.name, head_id: m.head.id, head_version: String(m.head.version) }, 1);
  metrics.workerMemory.reset();
  for (const [worker, bytes] of m.runtime.workerMemory) metrics.workerMemory.set({ worker }, bytes);
}

function announceOnStderr(key: string): void {
  process.stderr.write(
    [
      '',
      '================================================================',
      ' modtune generated the first admin API key (shown only this once):',
      '',
      `   ${key}`,
      '',
      ' Use it as:  Authorization: Bearer <key>',
      ' Or set MODTUNE_ADMIN_KEY yourself before the first start.',
      '================================================================',
      '',
    ].join('\n'),
  );
}
