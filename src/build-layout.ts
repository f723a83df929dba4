/**
 * The two ways this code runs. `npm run build` compiles src/ to dist/ and migrations/ to dist/migrations/,
 * and `npm start` (and the image) runs that with plain node; `npm run dev`, the tests and the benches run
 * the TypeScript through tsx. What is found at run time by path (worker threads' modules, migrations, the
 * pages' bundles) is found through here, in either layout.
 */

/** True when this file runs as dist/build-layout.js, false when tsx runs src/build-layout.ts. */
export const COMPILED = import.meta.url.endsWith('.js');

/**
 * How to start the worker thread whose module is `entry`, named as its compiled file
 * (`new URL('./worker.js', import.meta.url)`). Compiled, the thread starts from that file. Under tsx it
 * starts from worker-boot.mjs, which registers tsx and imports the .ts source named in `entry` (Node 20
 * does not start a worker from a .ts file); the caller puts `entry` in the thread's workerData.
 */
export function workerStart(entry: URL): { file: URL; entry: string } {
  if (COMPILED) return { file: entry, entry: entry.href };
  return { file: new URL('./worker-boot.mjs', import.meta.url), entry: entry.href.replace(/\.js$/, '.ts') };
}
