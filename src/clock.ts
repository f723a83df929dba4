/**
 * Time, as everything in `src/` reads it: a monotonic clock for durations and timers, and the wall clock
 * for what is stored or compared with stored times (expiries, leases, "the last N days"). Passed in
 * through the context's overrides, so tests move time by hand (test/helpers/fake-clock.ts) instead of
 * racing the real one on a busy machine or backdating rows. Nothing else in `src/` reads the time
 * (test/architecture/time-boundary.small.test.ts): the browser pages, which run in the user's browser, are the exception.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock (only differences mean anything). */
  now(): number;
  /** The wall clock: what is written to the database, and compared with what was. */
  date(): Date;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  date: () => new Date(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** Wall-clock milliseconds since the epoch on this clock. */
export const epochMs = (clock: Clock): number => clock.date().getTime();
