/**
 * Debian's chromium driven by playwright-core (which downloads no browser of its own). Tests that need
 * it skip with a clear message where it is not installed; CI installs it (.ci/run).
 */
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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
