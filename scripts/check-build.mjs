// Preloaded by `npm start` and the CLIs' npm scripts (node --import ./scripts/check-build.mjs dist/…): they
// run the compiled build, so without one this says what to do instead of a module-not-found stack, and
// a build older than a source file is run with a warning. Plain JavaScript: it runs before any build.
// Worker threads inherit the flag; only the main thread checks.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread } from 'node:worker_threads';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STAMP = path.join(ROOT, 'dist', '.built');

/** The newest file under `dir` newer than `since` (ms), if any. */
function newerThan(dir, since) {
  if (!existsSync(dir)) return null;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    const found = e.isDirectory() ? newerThan(p, since) : statSync(p).mtimeMs > since ? p : null;
    if (found) return found;
  }
  return null;
}

if (isMainThread) {
  if (!existsSync(STAMP)) {
    process.stderr.write('modtune: there is no build in dist/: run `npm run build` first (or `npm run dev` to run the TypeScript sources through tsx)\n');
    process.exit(1);
  }
  const built = statSync(STAMP).mtimeMs;
  const changed = newerThan(path.join(ROOT, 'src'), built) ?? newerThan(path.join(ROOT, 'migrations'), built);
  if (changed) process.stderr.write(`modtune: warning: dist/ is older than ${path.relative(ROOT, changed)}: run \`npm run build\` to run the current code\n`);
}
