/**
 * model:pull's progress (src/models/hub/progress.ts): on a terminal a bar redrawn in place, at most every
 * 100 ms between a file's start and its end; elsewhere one line when a file starts and one when it is done.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressPrinter } from '../../src/models/hub/progress.js';
import { FakeClock } from '../helpers/fake-clock.js';

function stream(isTTY: boolean) {
  const out: string[] = [];
  return { out, isTTY, write: (s: string) => out.push(s) > 0 };
}

test('on a terminal: a bar redrawn in place, data at most every 100 ms, a newline when the file is done', async () => {
  const s = stream(true);
  const clock = new FakeClock();
  const print = progressPrinter(s, clock);
  const file = 'onnx/model.onnx';
  print({ file, done: 0, total: 4_000_000, phase: 'start' });
  await clock.advance(50);
  print({ file, done: 1_000_000, total: 4_000_000, phase: 'data' }); // 50 ms after the last draw: skipped
  await clock.advance(60);
  print({ file, done: 2_000_000, total: 4_000_000, phase: 'data' });
  print({ file, done: 4_000_000, total: 4_000_000, phase: 'done' });
  assert.deepEqual(s.out, [
    `\r  ${file} [..............................]   0% 0.0 MB / 4.0 MB`,
    `\r  ${file} [###############...............]  50% 2.0 MB / 4.0 MB`,
    `\r  ${file} [##############################] 100% 4.0 MB / 4.0 MB\n`,
  ]);
});

test('off a terminal: a line at the start (saying where a resume starts) and one when done, none per chunk; the cache in one line', () => {
  const s = stream(false);
  const print = progressPrinter(s, new FakeClock());
  print({ file: 'config.json', done: 0, total: 700, phase: 'cached' });
  print({ file: 'onnx/model.onnx', done: 1_500_000, total: 4_000_000, phase: 'start' });
  print({ file: 'onnx/model.onnx', done: 3_000_000, total: 4_000_000, phase: 'data' });
  print({ file: 'onnx/model.onnx', done: 4_000_000, total: 4_000_000, phase: 'done' });
  assert.deepEqual(s.out, ['  config.json: in the cache (0.0 MB)\n', '  onnx/model.onnx: fetching 4.0 MB, resuming at 1.5 MB\n', '  onnx/model.onnx: done\n']);
});
