/**
 * The pages' scripts are TypeScript (type-checked against the API's types: tsconfig.pages.json) and
 * reach the browser as one bundled ES module each, served from memory. `npm run build` bundles them into
 * dist/ next to the pages' HTML, and the compiled server reads those files at start; under tsx
 * (`npm run dev`, tests) esbuild bundles them from the sources when the server starts (~tens of ms, once
 * per process, nothing written to disk).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { COMPILED } from '../../build-layout.js';

/** URL path (as the page's <script src> names it) → its bundled JavaScript. */
export type PageBundles = ReadonlyMap<string, string>;

/** URL path → the page's TypeScript entry, relative to this directory (the bundle's file in dist/ is the URL path). */
const ENTRIES: Record<string, string> = {
  '/review/review.js': './review/review.ts',
  '/dashboard/dashboard.js': './dashboard/dashboard.ts',
};

/**
 * Where the pages' TypeScript is: beside this file under tsx; from dist/http/pages/, the checkout's
 * src/http/pages/ (the tests, which load the build, compare the two; an image has no sources to bundle).
 */
const SOURCES = new URL(COMPILED ? '../../../src/http/pages/' : './', import.meta.url);

/** Bundles every page's script from its TypeScript sources (esbuild is loaded only for this). */
export async function bundleFromSources(): Promise<Map<string, string>> {
  const { build } = await import('esbuild');
  const out = new Map<string, string>();
  for (const [url, entry] of Object.entries(ENTRIES)) {
    const r = await build({
      entryPoints: [fileURLToPath(new URL(entry, SOURCES))],
      bundle: true,
      format: 'esm',
      target: 'es2022',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
      legalComments: 'none',
    });
    out.set(url, r.outputFiles[0].text);
  }
  return out;
}

/** The bundles `npm run build` wrote beside this file. */
async function readBuilt(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const url of Object.keys(ENTRIES)) out.set(url, await readFile(new URL(`.${url}`, import.meta.url), 'utf8'));
  return out;
}

let built: Promise<PageBundles> | null = null;

export function bundlePages(): Promise<PageBundles> {
  built ??= COMPILED ? readBuilt() : bundleFromSources();
  built.catch(() => {
    built = null;
  });
  return built;
}
