/**
 * `npm test` and its levels (`npm run test:small`, …): node's test runner on the suite compiled to JavaScript.
 *
 * Why compiled: under tsx every test process, and every worker thread it starts (inference, the embedded
 * database), loads the TypeScript through tsx's loader: the service's modules took about 1.7 CPU-seconds more
 * a process than compiled, the whole suite 16 % more CPU (docs/RELIABILITY.md, "The suite compiled"), and
 * the suite is bound by CPU on two cores. So this:
 *  1. builds dist/ when it is older than the sources (the build `npm start` and the image run; the e2e tests
 *     spawn it already, and now the in-process tests load it too);
 *  2. compiles test/, tools/ and scripts/ the way the build compiles src/ (scripts/compile.ts) into
 *     .test-build/run-PID/, where `src` is a link to dist/, so a test's `../../src/x.js` import loads the build;
 *  3. runs node's test runner on the compiled test files from the repository root, with source maps on, so a
 *     failure's stack names the .ts line; then removes its folder (and those of runs that are gone).
 *
 *   npm test [-- [small|controller|medium|e2e|test/…/x.test.ts]... [--test-runner-flag...]]
 *
 * Levels and files narrow the run; arguments starting with `--` go to node (`--test-name-pattern=…`,
 * `--test-reporter=tap`, `--test-concurrency=N`; 2 unless given). `node --import tsx --test test/x.test.ts`
 * still runs one file under tsx, as `npm run dev` runs the service.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { ensureBuilt, processAlive } from '../test/helpers/build.js';
import { REPO } from '../test/helpers/repo.js';
import { filesUnder, isSource, NODE_MODULES } from './compile.js';
import { runOrder, selectTests, type Selection } from './test-selection.js';

const OUT_ROOT = path.join(REPO, '.test-build');

/**
 * V8 flags for the test processes (node's test runner passes its own to every test file's process; the
 * service processes the tests spawn get none, and run as `npm start` does). `--liftoff-only`: V8 compiles
 * WebAssembly with its baseline compiler only, without re-compiling the hot functions with its optimising
 * one. The in-process tests run PGlite (9 MB of WebAssembly) for seconds at a time, too short for those
 * compiles to pay back: the medium tests took fewer CPU-seconds with it, in two runs each way
 * (docs/RELIABILITY.md, "A cheaper suite"). What the code does is the same either way; the service keeps V8's
 * default (docs/PERFORMANCE.md, "V8's baseline tier only").
 */
const TEST_PROCESS_FLAGS = ['--liftoff-only'];
/** Compiled alongside the tests: what they import from outside src/. */
const COMPILED_DIRS = ['test', 'tools', 'scripts'];

/** Removes the folders of earlier runs whose process is gone (a run killed before it could clean up). */
async function removeStale(): Promise<void> {
  for (const name of await fs.readdir(OUT_ROOT).catch(() => [] as string[])) {
    const pid = Number(/^run-(\d+)$/.exec(name)?.[1] ?? 0);
    if (pid > 0 && pid !== process.pid && processAlive(pid)) continue;
    await fs.rm(path.join(OUT_ROOT, name), { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const all = (await filesUnder(REPO, 'test/')).filter((f) => f.endsWith('.test.ts')).sort();
  let selection: Selection;
  try {
    selection = selectTests(process.argv.slice(2), all, REPO, process.cwd());
  } catch (err) {
    process.stderr.write(`npm test: ${(err as Error).message}\n`);
    return 2;
  }
  const { files, flags } = selection;

  await ensureBuilt();
  await removeStale();
  const out = path.join(OUT_ROOT, `run-${process.pid}`);
  const sources = (await Promise.all(COMPILED_DIRS.map((d) => filesUnder(REPO, `${d}/`)))).flat();
  await build({ ...NODE_MODULES, entryPoints: sources.filter(isSource).map((f) => path.join(REPO, f)), outbase: REPO, outdir: out });
  await fs.symlink(path.relative(out, path.join(REPO, 'dist')), path.join(out, 'src'));

  const concurrency = flags.some((f) => f.startsWith('--test-concurrency')) ? [] : ['--test-concurrency=2'];
  const compiled = runOrder(files).map((f) => path.join(out, f.replace(/\.ts$/, '.js')));
  const child = spawn(process.execPath, ['--enable-source-maps', ...TEST_PROCESS_FLAGS, '--test', ...concurrency, ...flags, ...compiled], { cwd: REPO, stdio: 'inherit' });
  // Ctrl-C reaches the runner from the terminal (one process group): wait for it to stop its tests. A
  // SIGTERM sent to this process alone is passed on.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const code = await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? 128 + (sig ? os.constants.signals[sig] : 0))));
  await fs.rm(out, { recursive: true, force: true });
  return code;
}

process.exitCode = await main();
