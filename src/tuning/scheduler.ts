/**
 * The in-process schedule (croner). Every replica runs it; each tick creates the run for its slot, and
 * the unique index on (scheduled_for) for cron runs makes sure only one replica's insert wins.
 */
import { systemClock, type Clock } from '../clock.js';
import { Cron } from 'croner';
import type { Logger } from '../logger.js';
import type { TrainingService } from './training.service.js';

export class TrainingScheduler {
  private job: Cron | null = null;

  constructor(
    private readonly training: TrainingService,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  start(expression: string, timezone: string): void {
    this.job = new Cron(expression, { timezone, protect: true, catch: (err) => this.log.error({ err }, 'scheduled training failed') }, async (self: Cron) => {
      const scheduled = self.currentRun() ?? this.clock.date();
      // The slot is the scheduled time, identical on every replica, not the moment this one woke up.
      const slot = new Date(Math.floor(scheduled.getTime() / 1000) * 1000);
      const id = await this.training.createRun('cron', { scheduledFor: slot });
      if (!id) {
        this.log.info({ slot }, 'another replica took this training slot');
        return;
      }
      await this.training.execute(id);
    });
    const next = this.job.nextRun();
    this.log.info({ expression, timezone, next }, 'training schedule armed');
  }

  get nextRun(): Date | null {
    return this.job?.nextRun() ?? null;
  }

  stop(): void {
    this.job?.stop();
    this.job = null;
  }
}
