/**
 * A clock that moves only when a test says so (src/clock.ts). Timers fire in time order as it advances,
 * and promise callbacks run between them, so what happens at each instant is exact, however busy the
 * machine.
 */
import type { Clock } from '../../src/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** Lets every pending promise callback run (they all do before the next macrotask). */
export const settle = () => new Promise<void>((r) => setImmediate(r));

export class FakeClock implements Clock {
  private t = 0;
  private seq = 0;
  private timers: Timer[] = [];

  /** `epoch`: the wall-clock time at the fake clock's zero (its date() moves with now()). */
  constructor(private readonly epoch = Date.parse('2026-01-01T00:00:00Z')) {}

  now(): number {
    return this.t;
  }

  date(): Date {
    return new Date(this.epoch + this.t);
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimeout(timer: unknown): void {
    this.timers = this.timers.filter((t) => t !== timer);
  }

  /** Resolves after `ms` on this clock. */
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.setTimeout(r, ms));
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing each timer due on the way at its own time. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.t = due.at;
      due.fn();
      await settle();
    }
    this.t = end;
  }
}
