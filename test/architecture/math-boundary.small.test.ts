/**
 * The tuning maths (src/tuning/math/: the DPO loss, the objective, L-BFGS, the fit, calibration, the
 * measures, the gate's evaluation, drift statistics, the dataset's pure assembly) does no I/O: every module
 * it loads, followed through their own imports, is one of its own or one of the few pure modules below,
 * and no built-in but node:crypto (hashing). Type-only imports load nothing and are not followed. A
 * database, a file, a worker thread or a clock reaching the maths fails this test with the import chain.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, tsFiles, valueImports } from '../helpers/source-scan.js';

/** Pure modules outside the folder the maths may use (each checked through its own imports too). */
const PURE = ['src/inference/head.ts', 'src/inference/ngrams.ts', 'src/models/scorer.ts', 'src/policy/label-mapping.ts', 'src/random.ts'];
const BUILTINS = new Set(['node:crypto']);

/** `file` (relative to the root) and every module it reaches, with the chain that reached it, or the first forbidden step. */
function walk(start: string): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of valueImports(fs.readFileSync(path.join(ROOT, file), 'utf8'))) {
      const here = [...chain, `${file} → ${spec}`];
      if (!spec.startsWith('.')) {
        if (!BUILTINS.has(spec)) problems.push(here.join('\n  '));
        continue;
      }
      const target = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec.replace(/\.js$/, '.ts'))).split(path.sep).join('/');
      if (!target.startsWith('src/tuning/math/') && !PURE.includes(target)) problems.push(here.join('\n  '));
      else visit(target, here);
    }
  };
  visit(start, []);
  return problems;
}

test('src/tuning/math/ reaches nothing that does I/O', () => {
  const files = tsFiles(path.join(ROOT, 'src/tuning/math')).map((f) => path.relative(ROOT, f).split(path.sep).join('/'));
  assert.ok(files.length >= 12, `found the maths: ${files.length} files`);
  const problems = [...new Set(files.flatMap(walk))];
  assert.deepEqual(problems, [], `the maths must not load these:\n${problems.join('\n')}`);
});

test('the import reader: type-only imports are left out, value imports, re-exports and side-effect imports are read', () => {
  const src = [
    "import type { Pool } from 'pg';",
    "import { type Kysely, type Sql } from 'kysely';",
    "import { createHash } from 'node:crypto';",
    "import fs, { type Stats } from 'node:fs';",
    "export { applyHead } from '../../inference/head.js';",
    "import './side-effect.js';",
    "// import { x } from 'in-a-comment';",
    "const m = await import('node:worker_threads');",
  ].join('\n');
  assert.deepEqual(valueImports(src).sort(), ['../../inference/head.js', './side-effect.js', 'node:crypto', 'node:fs', 'node:worker_threads']);
});
