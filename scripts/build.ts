/**
 * `npm run build`: the JavaScript that `npm start`, the CLIs and the image run. src/ → dist/ and
 * migrations/ → dist/migrations/, one file per source (esbuild: ESM, source maps; no type-checking,
 * that is `npm run typecheck`); the pages' browser scripts (the folders under src/http/pages) bundled
 * into dist/ as the server bundles them under tsx; every other file under src/ (the pages' HTML and CSS)
 * copied. Built beside dist/ and swapped in, so a process running from dist/ never sees half a build.
 * dist/.built is the stamp: its time is when the sources were read (check-build.mjs compares).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleFromSources } from '../src/http/pages/bundle.js';
import { filesUnder, isSource, NODE_MODULES } from './compile.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = path.join(ROOT, 'dist');
const SRC = path.join(ROOT, 'src');
const MIGRATIONS = path.join(ROOT, 'migrations');
/** Browser code: bundled for the pages, never run by node. */
const PAGE_SOURCES = /^http\/pages\/[^/]+\//;
/** Under tsx only (build-layout.ts): it registers tsx in worker threads. */
const TSX_ONLY = new Set(['worker-boot.mjs']);

async function main(): Promise<void> {
  const started = new Date();
  const out = `${DIST}.tmp-${process.pid}`;
  await fs.rm(out, { recursive: true, force: true });
  const src = await filesUnder(SRC);
  const modules = src.filter((f) => isSource(f) && !PAGE_SOURCES.test(f));
  await build({ ...NODE_MODULES, entryPoints: modules.map((f) => path.join(SRC, f)), outbase: SRC, outdir: out });
  const migrations = (await filesUnder(MIGRATIONS)).filter(isSource);
  await build({ ...NODE_MODULES, entryPoints: migrations.map((f) => path.join(MIGRATIONS, f)), outbase: MIGRATIONS, outdir: path.join(out, 'migrations') });
  for (const f of src.filter((f) => !isSource(f) && !TSX_ONLY.has(f))) {
    await fs.mkdir(path.dirname(path.join(out, f)), { recursive: true });
    await fs.copyFile(path.join(SRC, f), path.join(out, f));
  }
  for (const [url, js] of await bundleFromSources()) await fs.writeFile(path.join(out, 'http', 'pages', url), js);

  await fs.writeFile(path.join(out, '.built'), `${started.toISOString()}\n`);
  await fs.utimes(path.join(out, '.built'), started, started);
  const old = `${DIST}.old-${process.pid}`;
  await fs.rename(DIST, old).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await fs.rename(out, DIST);
  await fs.rm(old, { recursive: true, force: true });
  process.stdout.write(`built dist/ (${modules.length} modules, ${migrations.length} migrations) in ${Date.now() - started.getTime()} ms\n`);
}

await main();
