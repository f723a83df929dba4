/**
 * Time is read through the injected Clock (src/clock.ts): a `Date.now()` or an argument-less
 * `new Date()` anywhere else in src/ fails this test, naming file:line. The browser pages
 * (src/http/pages/) are exempt: they run in the user's browser, on its clock.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, strip, tsFiles } from '../helpers/source-scan.js';

/** Files that may read the time themselves: the clock, and the pages. `file` is relative to the root. */
function mayReadTime(file: string): boolean {
  const f = file.split(path.sep).join('/');
  return f === 'src/clock.ts' || f.startsWith('src/http/pages/');
}

/** Every direct read of the time in a file's text, as `file:line: what`. */
function scanTime(file: string, src: string): string[] {
  const code = strip(src, { strings: true });
  const lineOf = (offset: number) => src.slice(0, offset).split('\n').length;
  const found: { offset: number; what: string }[] = [];
  for (const m of code.matchAll(/(?<![\w$.])Date\s*\.\s*now\s*\(/g)) found.push({ offset: m.index, what: 'Date.now()' });
  for (const m of code.matchAll(/(?<![\w$.])new\s+Date\s*(\(\s*\)|(?![\s(]))/g)) found.push({ offset: m.index, what: 'new Date()' });
  return found.sort((a, b) => a.offset - b.offset).map((f) => `${file}:${lineOf(f.offset)}: ${f.what}`);
}

test('no direct time read in src/ outside the clock and the browser pages', () => {
  const files = tsFiles(path.join(ROOT, 'src')).map((f) => path.relative(ROOT, f));
  assert.ok(files.length > 20, 'found the sources');
  const problems = files.filter((f) => !mayReadTime(f)).flatMap((f) => scanTime(f.split(path.sep).join('/'), fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(problems, [], `read the time through the Clock (src/clock.ts):\n${problems.join('\n')}`);
});

test('the scanner finds Date.now() and an argument-less new Date (with or without parentheses), not dates made from a value', () => {
  const src = [
    'const a = Date.now();',
    'const b = new Date();',
    'const c = new Date;',
    'const d = new Date(row.at);',
    "const e = new Date('2026-01-01');",
    '// Date.now() in a comment',
    "const f = 'new Date() in a string';",
    'const g = clock.date();',
    'const h = Date . now ( );',
    'const i = other.Date.now();',
  ].join('\n');
  assert.deepEqual(scanTime('x.ts', src), ['x.ts:1: Date.now()', 'x.ts:2: new Date()', 'x.ts:3: new Date()', 'x.ts:9: Date.now()']);
});
