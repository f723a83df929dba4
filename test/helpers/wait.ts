/**
 * The only places a test waits on real time. `waitFor` polls for the condition actually awaited (never a
 * fixed pause that hopes the condition holds by then); `holdFor` is a deliberate real-time pause, for
 * where the duration itself is the point (a fault that must last N ms against a real process, pacing
 * load), and says why. Code that takes a Clock is driven by the FakeClock (fake-clock.ts) instead.
 * test/architecture/test-waits.small.test.ts fails on a raw sleep, or a hand-written `Date.now()` deadline loop,
 * anywhere else in test/.
 */

/** Waits until `cond` holds, polling every `everyMs`; throws naming `what` after `ms`. */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 30_000, everyMs = 50): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/**
 * A deliberate real-time pause of `ms`: the time passing is what the test needs (a fault held for a
 * while, a pace of requests), not a condition to poll for. `why` says so at the call site.
 */
export function holdFor(ms: number, why: string): Promise<void> {
  void why;
  return new Promise<void>((r) => setTimeout(r, ms));
}

/** A bare pause, kept for importers of helpers/process.ts; new tests use waitFor or holdFor. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
