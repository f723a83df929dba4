/**
 * The pages' scripts are TypeScript (type-checked against the API's types: tsconfig.pages.json) and
 * reach the browser as one bundled ES module each, built by esbuild when the server starts (~tens of ms,
 * once per process) and served from memory. No build step, nothing written to disk.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** URL path (as the page's <script src> names it) → its bundled JavaScript. */
export type PageBundles = ReadonlyMap<string, string>;

const ENTRIES: Record<string, string> = {
  '/review/review.js': fileURLToPath(new URL('./review/review.ts', import.meta.url)),
  '/dashboard/dashboard.js': fileURLToPath(new URL('./dashboard/dashboard.ts', import.meta.url)),
};

let built: Promise<PageBundles> | null = null;

export function bundlePages(): Promise<PageBundles> {
  built ??= (async () => {
    const out = new Map<string, string>();
    for (const [url, entry] of Object.entries(ENTRIES)) {
      const r = await build({ entryPoints: [entry], bundle: true, format: 'esm', target: 'es2022', platform: 'browser', write: false, logLevel: 'silent', legalComments: 'none' });
      out.set(url, r.outputFiles[0].text);
    }
    return out;
  })();
  built.catch(() => {
    built = null;
  });
  return built;
}
