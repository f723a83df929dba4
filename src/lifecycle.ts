/**
 * What a process has started, in order, so it can be stopped in reverse: one list serves a start-up
 * that fails half-way and an orderly shutdown, so the two can never disagree about what needs closing.
 * Each stop runs once; one that fails is logged and the rest still run.
 */
import type { Logger } from './logger.js';

interface Entry {
  name: string;
  stop: (graceMs: number) => void | Promise<void>;
}

export class Lifecycle {
  private readonly entries: Entry[] = [];
  private stopping: Promise<void> | null = null;

  constructor(private readonly log: Logger | null = null) {}

  /**
   * Registers what to do to undo something just started; later registrations stop first. `graceMs` is
   * how long work already accepted may take to finish (0 when a start failed).
   */
  add(name: string, stop: (graceMs: number) => void | Promise<void>): void {
    if (this.stopping) throw new Error(`cannot register '${name}': shutdown has begun`);
    this.entries.push({ name, stop });
  }

  /** What is registered, in stop order (for logs and tests). */
  get names(): string[] {
    return this.entries.map((e) => e.name).reverse();
  }

  /** Stops everything registered, newest first; calling it again waits for the first call. */
  stopAll(graceMs = 0): Promise<void> {
    this.stopping ??= (async () => {
      for (const e of [...this.entries].reverse()) {
        try {
          await e.stop(graceMs);
        } catch (err) {
          this.log?.error({ component: e.name, err: err instanceof Error ? err.message : String(err) }, 'failed to stop cleanly');
        }
      }
    })();
    return this.stopping;
  }
}
