/**
 * Tests wait on conditions, not on time: a poll is test/helpers/wait.ts's waitFor (on the condition
 * actually awaited), code that takes a Clock is driven by the FakeClock, and a real-time pause whose
 * length is the point is holdFor (which says why). This test fails, naming file:line, on a raw sleep
 * anywhere in test/ outside test/helpers/ (the helpers that implement waiting): a `new Promise` that
 * resolves from a `setTimeout`, a `sleep(` call, Playwright's `waitForTimeout(`, and a hand-written
 * `Date.now()` deadline loop (the clock in a loop's condition, or in an `if` inside its body).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, strip, tsFiles } from '../helpers/source-scan.js';

/** Files the rule covers: test/**\/*.ts but the waiting helpers. `file` is relative to the root. */
function covered(file: string): boolean {
  const f = file.split(path.sep).join('/');
  return !f.startsWith('test/helpers/');
}

/** The index just past the bracket that closes the one at `open` (`(` or `{`), in comment- and string-free code. */
function closing(code: string, open: number): number {
  const o = code[open];
  const c = o === '(' ? ')' : '}';
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    if (code[i] === o) depth++;
    else if (code[i] === c && --depth === 0) return i + 1;
  }
  return code.length;
}

const NOW = /(?<![\w$.])(Date|performance)\s*\.\s*now\s*\(/;

/** Every wait on time in a test file's text, as `file:line: what`. */
export function scanWaits(file: string, src: string): string[] {
  const code = strip(src, { strings: true });
  const lineOf = (offset: number) => src.slice(0, offset).split('\n').length;
  const found: { offset: number; what: string }[] = [];

  // A promise resolved by a timer: `new Promise((r) => setTimeout(r, ms))`, `setTimeout(() => r(), ms)`.
  for (const m of code.matchAll(/(?<![\w$.])new\s+Promise\s*(<[^>]*>)?\s*\(/g)) {
    const open = m.index + m[0].length - 1;
    const body = code.slice(open, closing(code, open));
    const resolve = /^\(\s*(?:async\s*)?\(?\s*([\w$]+)/.exec(body)?.[1];
    if (!resolve) continue;
    const r = resolve.replace(/\$/g, '\\$');
    const timer = new RegExp(`(?<![\\w$.])setTimeout\\s*\\(\\s*(${r}\\b|\\(\\s*\\)\\s*=>\\s*\\{?\\s*${r}\\s*\\()`).exec(body);
    if (timer) found.push({ offset: open + timer.index, what: 'setTimeout used as a sleep' });
  }
  for (const m of code.matchAll(/(?<![\w$.])sleep\s*\(/g)) found.push({ offset: m.index, what: 'sleep(' });
  for (const m of code.matchAll(/\.\s*waitForTimeout\s*\(/g)) found.push({ offset: m.index, what: 'waitForTimeout(' });

  // A deadline loop: the clock read in a loop's condition, or compared in an `if` in its body (the
  // innermost loop around that `if` is the one named).
  const loops: { at: number; keyword: string; body: [number, number] | null }[] = [];
  for (const m of code.matchAll(/(?<![\w$.])(while|for)\s*\(/g)) {
    const open = m.index + m[0].length - 1;
    const headEnd = closing(code, open);
    if (NOW.test(code.slice(open, headEnd))) found.push({ offset: m.index, what: `${m[1]} loop on the clock (a deadline loop)` });
    let b = headEnd;
    while (/\s/.test(code[b] ?? '')) b++;
    loops.push({ at: m.index, keyword: m[1], body: code[b] === '{' ? [b, closing(code, b)] : null });
  }
  const flagged = new Set<number>();
  for (const cond of code.matchAll(/(?<![\w$.])if\s*\(/g)) {
    const open = cond.index + cond[0].length - 1;
    const head = code.slice(open, closing(code, open));
    if (!NOW.test(head) || !/[<>]/.test(head)) continue;
    const inner = loops.filter((l) => l.body && l.body[0] < cond.index && cond.index < l.body[1]).at(-1);
    if (inner && !flagged.has(inner.at)) {
      flagged.add(inner.at);
      found.push({ offset: inner.at, what: `${inner.keyword} loop checking the clock (a deadline loop)` });
    }
  }
  return found.sort((a, b) => a.offset - b.offset).map((f) => `${file}:${lineOf(f.offset)}: ${f.what}`);
}

test('no raw sleep or deadline loop in test/ outside the waiting helpers', () => {
  const files = tsFiles(path.join(ROOT, 'test')).map((f) => path.relative(ROOT, f));
  assert.ok(files.length > 50, 'found the tests');
  const problems = files.filter(covered).flatMap((f) => scanWaits(f.split(path.sep).join('/'), fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(problems, [], `wait with waitFor (the condition), the FakeClock, or holdFor (test/helpers/wait.ts):\n${problems.join('\n')}`);
});

test('the scanner finds sleeps and deadline loops, not timeouts, fake-clock sleeps, waitFor or what comments and strings say', () => {
  const src = [
    'await new Promise((r) => setTimeout(r, 50));',
    'await new Promise<void>((resolve) => setTimeout(() => resolve(), 10));',
    'await sleep(20);',
    'await page.waitForTimeout(300);',
    'const deadline = Date.now() + 1_000;',
    'while (Date.now() < deadline) await tick();',
    'for (const end = Date.now() + 9; Date.now() < end; ) await tick();',
    'while (!done) {',
    '  if (Date.now() > deadline) throw new Error("late");',
    '  await tick();',
    '}',
    'await clock.sleep(50);',
    'const p = new Promise((resolve, reject) => { const t = setTimeout(() => reject(new Error("timeout")), 90_000); });',
    '// await sleep(5); while (Date.now() < deadline) {}',
    "const s = 'await new Promise((r) => setTimeout(r, 5))';",
    'await waitFor(() => done, "done", 5_000);',
    'await holdFor(50, "the outage lasts this long");',
    'for (const x of xs) { const at = Date.now(); if (x > 1) push(at); }',
    'for (const kind of kinds) {',
    '  while (!ready) {',
    '    if (Date.now() > deadline) fail();',
    '  }',
    '}',
  ].join('\n');
  assert.deepEqual(scanWaits('x.ts', src), [
    'x.ts:1: setTimeout used as a sleep',
    'x.ts:2: setTimeout used as a sleep',
    'x.ts:3: sleep(',
    'x.ts:4: waitForTimeout(',
    'x.ts:6: while loop on the clock (a deadline loop)',
    'x.ts:7: for loop on the clock (a deadline loop)',
    'x.ts:8: while loop checking the clock (a deadline loop)',
    'x.ts:20: while loop checking the clock (a deadline loop)',
  ]);
});

test('only the helpers that implement waiting are exempt', () => {
  assert.equal(covered('test/helpers/wait.ts'), false);
  assert.equal(covered('test/thresholds/thresholds-api.medium.test.ts'), true);
  assert.equal(covered('test/app/cli-usage.e2e.test.ts'), true);
  assert.equal(covered('test/app/readme-flow.e2e.test.ts'), true);
  assert.equal(covered('test/inference/batcher.small.test.ts'), true);
});
