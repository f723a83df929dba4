/**
 * The background work of a deployment, in one object (atproto ozone's daemon is the model): the promotion
 * guard, the cross-process announcements it and training listen for, the sweep of queued training runs,
 * retention and the training schedule. A process that runs the jobs (the worker, or the API process with
 * BACKGROUND_JOBS on) starts them with {@link BackgroundJobs.start}; one that leaves them to another
 * process announces its events to them with {@link announceToJobs}. context.ts only wires.
 *
 * Every part registers its stop in the process's Lifecycle as it starts (under the names the logs and
 * the context's `components` show), so a start that fails half-way unwinds exactly what it started.
 */
import { epochMs, type Clock } from '../clock.js';
import type { Config } from '../config.js';
import type { Database } from '../db/connect.js';
import type { EventBus } from '../events.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Logger } from '../logger.js';
import type { ModelService } from '../models/model.service.js';
import type { PolicyRegistry } from '../policy/registry.js';
import type { RetentionService } from '../privacy/retention.js';
import { notifyTaskCompleted, REVIEW_COMPLETED_CHANNEL } from '../review/review.repository.js';
import { PromotionGuard } from '../tuning/guard.service.js';
import { TrainingScheduler } from '../tuning/scheduler.js';
import { notifyRunRequested, TRAINING_REQUESTED_CHANNEL } from '../tuning/training.repository.js';
import type { TrainingService } from '../tuning/training.service.js';

export interface JobsDeps {
  config: Pick<Config, 'guardIntervalMs' | 'queuedRunSweepMs' | 'trainingScheduler' | 'retention'>;
  database: Database;
  events: EventBus;
  clock: Clock;
  models: ModelService;
  policies: PolicyRegistry;
  training: TrainingService;
  retention: RetentionService;
  logger: Logger;
}

export class BackgroundJobs {
  /** Watches a newly promoted head's live agreement and rolls it back if it falls. */
  readonly guard: PromotionGuard;
  /** The training schedule, when the policy enables it and TRAINING_SCHEDULER is on; else null. */
  scheduler: TrainingScheduler | null = null;

  constructor(private readonly deps: JobsDeps) {
    this.guard = new PromotionGuard(deps.database.db, deps.models, deps.policies, deps.logger, deps.clock);
  }

  /** Starts every job, registering each one's stop in `lifecycle` as it goes. */
  async start(lifecycle: Lifecycle): Promise<void> {
    const { config, database, events, clock, training, retention, policies, logger } = this.deps;
    const guard = this.guard;
    events.on('review.task_completed', () => guard.poke());
    guard.start(config.guardIntervalMs);
    lifecycle.add('promotion guard', () => guard.stop());
    // Reviews completed on API replicas that leave the jobs to this process arrive by NOTIFY (PostgreSQL).
    lifecycle.add('review listener', await database.listen(REVIEW_COMPLETED_CHANNEL, () => guard.poke()));
    // Training runs: asked for here, trained here; asked for on an API replica without the jobs, announced
    // by NOTIFY; queued and not announced (a missed NOTIFY, a process that stopped first), swept up.
    events.on('training.requested', ({ runId }) => training.startInBackground(runId));
    lifecycle.add('training requests', await database.listen(TRAINING_REQUESTED_CHANNEL, (runId) => training.pickUpInBackground({ runId })));
    const sweep = setInterval(() => training.pickUpInBackground({ queuedBefore: new Date(epochMs(clock) - config.queuedRunSweepMs) }), config.queuedRunSweepMs);
    sweep.unref();
    lifecycle.add('queued-run sweep', () => clearInterval(sweep));
    retention.start(config.retention.intervalMs);
    lifecycle.add('retention', () => retention.stop());
    const schedule = policies.get().settings.training;
    if (config.trainingScheduler && schedule.enabled) {
      const s = new TrainingScheduler(training, logger, clock);
      s.start(schedule.schedule, schedule.timezone);
      lifecycle.add('training schedule', () => s.stop());
      this.scheduler = s;
    }
  }
}

/**
 * In a process that leaves the jobs to another: a completed review tells the guard to re-check now (not
 * at its next interval), and a training run asked for here is announced to the process that trains (on
 * an embedded database, which no other process can open, it is trained here after all).
 */
export function announceToJobs(deps: Pick<JobsDeps, 'database' | 'events' | 'training'>): void {
  const { database, events, training } = deps;
  events.on('review.task_completed', ({ taskId }) => notifyTaskCompleted(database.db, taskId));
  events.on('training.requested', ({ runId }) => (database.kind === 'pglite' ? training.startInBackground(runId) : notifyRunRequested(database.db, runId)));
}
