/**
 * Every repository path the README, docs/ and the sources name under test/, src/, scripts/, bench/,
 * tools/, migrations/ or policies/ exists: a file moved or renamed takes the sentences that name it along.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, tsFiles } from '../helpers/source-scan.js';

const PATH = /(?<![\w./-])((?:test|src|scripts|bench|tools|migrations|policies)\/[\w./-]*\w\.(?:ts|mjs|sh|yaml|md|json|html|css))\b/g;

/** `file: path` for each named path that is not in the tree (a pattern such as `migrations/NNNN_name.ts` is not a path). */
function missing(file: string, text: string): string[] {
  return [...text.matchAll(PATH)].map((m) => m[1]).filter((p) => !/[*]|NNNN/.test(p) && !fs.existsSync(path.join(ROOT, p))).map((p) => `${file}: ${p}`);
}

test('the paths the README, docs/ and the sources name exist', () => {
  const docs = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const sources = tsFiles(path.join(ROOT, 'src')).map((f) => path.relative(ROOT, f));
  const problems = [...docs, ...sources].flatMap((f) => missing(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(problems, []);
});

test('the path reader finds a missing file and passes an existing one (self-check)', () => {
  assert.deepEqual(missing('x.md', 'see `test/http/static.medium.test.ts`, src/config.ts and migrations/NNNN_name.ts, not xsrc/a.ts'), ['x.md: test/http/static.medium.test.ts']);
});
