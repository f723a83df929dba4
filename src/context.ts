/**
 * Everything the service needs, wired by hand once at start-up. Tests pass overrides (an in-memory
 * database, a quiet logger, their own policies or model directory) instead of patching globals.
 */
import { API_KEYS_CHANNEL, AuthService } from './auth/auth.service.js';
import { RateLimiter } from './auth/rate-limit.js';
import type { Config } from './config.js';
import { openDatabase, type Database } from './db/connect.js';
import { SERVER_COMMAND } from './db/data-dir-lock.js';
import { migrateToLatest } from './db/migrator.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { ModelService } from './models/model.service.js';
import { DecisionWriter } from './moderation/decision-writer.js';
import { ModerationService } from './moderation/moderation.service.js';
import { loadPolicies } from './policy/loader.js';
import type { Policy } from './policy/policy.js';
import { PolicyRegistry } from './policy/registry.js';
import { queueDepth } from './review/review.repository.js';
import { ReviewService } from './review/review.service.js';
import { ShadowScorer } from './moderation/shadow.js';
import { RegistryService } from './models/registry.service.js';
import { PromotionGuard } from './tuning/guard.service.js';
import { RetentionService } from './privacy/retention.js';
import { TrainingScheduler } from './tuning/scheduler.js';
import { lastGate, runCounts } from './tuning/training.repository.js';
import { TrainingService } from './tuning/training.service.js';

export interface ContextOverrides {
  logger?: Logger;
  /** A database opened by the caller; the context will not destroy it. */
  database?: Database;
  policies?: Map<string, Policy>;
  /** Where a generated first admin key is shown (default: stderr, once). */
  announceAdminKey?: (key: string) => void;
  /** Random source for review routing (audit and confirmation samples). */
  random?: () => number;
}

export class AppContext {
  /** Set while shutting down: /readyz turns red so load balancers stop sending traffic. */
  draining = false;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly database: Database,
    private readonly ownsDatabase: boolean,
    readonly metrics: Metrics,
    readonly policies: PolicyRegistry,
    readonly models: ModelService,
    readonly auth: AuthService,
    readonly moderation: ModerationService,
    readonly review: ReviewService,
    readonly training: TrainingService,
    readonly registry: RegistryService,
    readonly scheduler: TrainingScheduler | null,
    readonly guard: PromotionGuard,
    readonly shadow: ShadowScorer,
    readonly retention: RetentionService,
  ) {}

  static async fromConfig(config: Config, overrides: ContextOverrides = {}): Promise<AppContext> {
    const logger = overrides.logger ?? createLogger(config.log.level, { logContent: config.log.content });
    const dbLog = logger.child({ subsystem: 'db' });
    const database =
      overrides.database ??
      (await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, poolSize: config.database.poolSize, logger: dbLog, command: SERVER_COMMAND }));
    const cleanup: (() => Promise<void>)[] = overrides.database ? [] : [() => database.destroy()];
    try {
      const applied = await migrateToLatest(database.db);
      dbLog.info({ kind: database.kind, location: database.location, applied }, 'database ready');

      const policies = new PolicyRegistry(overrides.policies ?? (await loadPolicies(config.policy.dir)), config.policy.defaultName);
      await policies.record(database.db);

      const metrics = new Metrics();
      const models = new ModelService(
        database.db,
        policies,
        {
          bootstrapDir: config.model.dir,
          autoBuild: config.model.autoBuild,
          runtime: {
            ...config.inference,
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
      cleanup.unshift(() => models.stop(0));
      for (const [policy, labels] of Object.entries(active.policies.unmapped)) {
        logger.warn({ policy, labels }, 'model labels not mapped to any category of this policy; their scores are ignored');
      }

      metrics.provider.set({ provider: active.runtime.provider }, 1);
      const showWorkerMemory = (memory: ReadonlyMap<string, number>) => {
        metrics.workerMemory.reset();
        for (const [worker, bytes] of memory) metrics.workerMemory.set({ worker }, bytes);
      };
      showWorkerMemory(active.runtime.workerMemory);
      metrics.activeHead.set({ backbone: active.backbone.name, head_id: active.head.id, head_version: String(active.head.version) }, 1);
      metrics.queueSource = () => (models.loaded ? models.active.runtime.queueLength : 0);
      metrics.batchTargetSource = () => (models.loaded ? models.active.runtime.batchSize : 0);
      metrics.storeSource = async () => ({
        queue: await queueDepth(database.db),
        runs: await runCounts(database.db),
        lastGate: await lastGate(database.db),
      });

      const auth = new AuthService(database.db, logger.child({ subsystem: 'auth' }), new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst));
      // Revocations on any replica reach this one's key cache at once.
      const unlistenKeys = await database.listen(API_KEYS_CHANNEL, (keyId) => auth.forget(keyId || undefined));
      cleanup.unshift(unlistenKeys);
      const { generated } = await auth.bootstrapAdmin(config.adminKey);
      if (generated) {
        (overrides.announceAdminKey ?? announceOnStderr)(generated);
        logger.warn('generated the first admin key and printed it once on stderr; store it now, it is not kept anywhere');
      }

      const tuningLog = logger.child({ subsystem: 'tuning' });
      const shadow = new ShadowScorer(database.db, tuningLog);
      await shadow.refresh(active.head);
      models.onChange((m) => {
        metrics.activeHead.reset();
        metrics.activeHead.set({ backbone: m.backbone.name, head_id: m.head.id, head_version: String(m.head.version) }, 1);
        showWorkerMemory(m.runtime.workerMemory);
        void shadow.refresh(m.head).catch((err: Error) => tuningLog.warn({ err: err.message }, 'could not refresh the shadow head'));
      });
      const guard = new PromotionGuard(database.db, models, policies, tuningLog);
      const writer = new DecisionWriter(database.db, {
        onCommit: (c) => {
          metrics.commitRequests.observe(c.requests);
          metrics.commitSeconds.observe(c.ms / 1000);
        },
      });
      const moderation = new ModerationService(database.db, models, policies, metrics, overrides.random, shadow, writer, {
        logger: logger.child({ subsystem: 'moderation' }),
        content: config.log.content,
      });
      const review = new ReviewService(database.db, policies, () => guard.poke());
      const training = new TrainingService(database, policies, tuningLog, {
        embed: async (backboneId, inputs) => {
          const m = models.active;
          if (m.backbone.id !== backboneId) throw new Error(`this replica serves backbone ${m.backbone.id}, not ${backboneId}`);
          return m.runtime.embed(inputs);
        },
        onPromoted: () => models.refresh(),
        onCandidate: () => shadow.refresh(models.active.head),
      });
      cleanup.unshift(() => training.stop());
      await training.recoverAbandonedRuns();
      await models.watch(database, config.headPollMs);
      guard.start(30_000);
      shadow.start();
      cleanup.unshift(async () => {
        guard.stop();
        await shadow.stop();
      });
      const retention = new RetentionService(database.db, policies, { idempotencyTtlHours: config.retention.idempotencyTtlHours }, logger.child({ subsystem: 'privacy' }));
      retention.start(config.retention.intervalMs);
      cleanup.unshift(() => retention.stop());
      const schedule = policies.get().settings.training;
      let scheduler: TrainingScheduler | null = null;
      if (config.trainingScheduler && schedule.enabled) {
        scheduler = new TrainingScheduler(training, tuningLog);
        scheduler.start(schedule.schedule, schedule.timezone);
      }
      return new AppContext(config, logger, database, !overrides.database, metrics, policies, models, auth, moderation, review, training, new RegistryService(database.db), scheduler, guard, shadow, retention);
    } catch (err) {
      for (const c of cleanup) await c().catch(() => undefined);
      throw err;
    }
  }

  /** Stops background work (schedule, training, guard, shadow, inference), then closes the database. */
  async destroy(graceMs = this.config.shutdownTimeoutMs): Promise<void> {
    this.draining = true;
    this.scheduler?.stop();
    await this.training.stop();
    this.guard.stop();
    await this.shadow.stop();
    await this.retention.stop();
    await this.models.stop(graceMs);
    if (this.ownsDatabase) await this.database.destroy();
  }
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
