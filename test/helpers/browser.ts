/**
 * Debian's chromium driven by playwright-core (which downloads no browser of its own). Tests that need
 * it skip with a clear message where it is not installed; CI installs it (.ci/run).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean) as string[];

export const chromiumPath = CANDIDATES.find((p) => fs.existsSync(p));

export const browserSkip: string | false = chromiumPath
  ? false
  : 'chromium is not installed (apt-get install chromium, or set CHROMIUM_PATH): browser tests skipped';

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-quic', '--no-first-run', '--disable-sync'],
  });
}

/** The keys the review page binds to its first 13 categories, in the policy's order. */
export const CATEGORY_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', 'q', 'w', 't'];

/** Opens the review page on `page` and signs in with `key` as a moderator would, up to the idle view. */
export async function openReview(page: Page, baseUrl: string | undefined, key: string): Promise<void> {
  if (!baseUrl) throw new Error('the app does not listen: start it with { listen: true }');
  await page.goto(`${baseUrl}/review`);
  await page.locator('#key').fill(key);
  await page.keyboard.press('Enter');
  await page.locator('#idle').waitFor({ state: 'visible' });
}

/**
 * Records what a page says outside itself: each dialog's message (dismissed, or accepted into
 * `confirmed` while `accept()` says so) and each console error, for tests that assert there were none.
 */
export function watchPage(page: Page, into: { dialogs: string[]; consoleErrors?: string[]; confirmed?: string[]; accept?: () => boolean }): void {
  page.on('dialog', (d) => {
    if (into.accept?.()) {
      into.confirmed?.push(d.message());
      void d.accept();
      return;
    }
    into.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') into.consoleErrors?.push(m.text());
  });
}

/**
 * Opens `url` and checks what both pages promise: 200, a CSP that lets only the page's own scripts run
 * (and, with `styles`, only its own style sheets), no unsafe-inline or unsafe-eval, no inline script.
 */
export async function expectStrictPage(page: Page, url: string, o: { styles?: boolean } = {}): Promise<void> {
  const res = await page.goto(url);
  assert.equal(res?.status(), 200);
  const csp = res!.headers()['content-security-policy'];
  assert.match(csp, /script-src 'self'/);
  if (o.styles) assert.match(csp, /style-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(await page.evaluate(() => [...document.scripts].filter((s) => !s.src).length), 0, 'no inline script');
}
