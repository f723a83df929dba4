import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kindOf, processOf, tally } from '../../scripts/suite-profile.js';

const frame = (url: string, functionName = 'f') => ({ url, functionName, lineNumber: 0 });

test('a sampled frame is counted as its kind of code: PGlite, a package, a part of modtune, the tests, a part of node', () => {
  assert.equal(kindOf(frame('wasm://wasm/022a9842', 'wasm-function[12]')), 'PGlite: PostgreSQL (WebAssembly)');
  assert.equal(kindOf(frame('file:///r/node_modules/@electric-sql/pglite/dist/chunk-X.js')), 'PGlite: its JavaScript (file system, protocol)');
  assert.equal(kindOf(frame('file:///r/node_modules/kysely/dist/esm/index.js')), 'npm: kysely');
  assert.equal(kindOf(frame('file:///r/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs')), 'npm: @huggingface/tokenizers');
  assert.equal(kindOf(frame('file:///r/dist/tuning/math/measure.js')), 'modtune: src/tuning');
  assert.equal(kindOf(frame('file:///r/.test-build/run-1/test/helpers/db.js')), 'the tests and their helpers');
  assert.equal(kindOf(frame('node:internal/modules/esm/utils')), 'node: loading modules');
  assert.equal(kindOf(frame('node:internal/test_runner/harness')), 'node: the test runner');
  assert.equal(kindOf(frame('node:net')), 'node: the rest');
  assert.equal(kindOf(frame('', '(garbage collector)')), '(garbage collector)');
  assert.equal(kindOf(frame('', 'writev')), 'native: writev');
});

test('a profile is named by its test file, or by the script its process or worker thread runs', () => {
  assert.equal(processOf({ argv: ['/r/.test-build/run-9/test/tuning/guard.medium.test.js'], thread: 0 }), 'test/tuning/guard.medium.test.ts');
  assert.match(processOf({ argv: ['/elsewhere/dist/inference/worker.js'], thread: 3 }), /inference\/worker\.ts: a worker thread$/);
});

test('the tally leaves idle samples out and sums the rest by kind, process and function', () => {
  const t = tally([
    {
      argv: ['/r/.test-build/run-1/test/a.small.test.js'],
      thread: 0,
      profile: {
        nodes: [
          { id: 1, callFrame: frame('', '(idle)') },
          { id: 2, callFrame: frame('wasm://wasm/1', 'w') },
          { id: 3, callFrame: frame('file:///r/node_modules/pg/lib/client.js', 'query') },
        ],
        samples: [1, 2, 3, 2, 1],
        timeDeltas: [5_000_000, 1_000, 2_000, 3_000, 7_000_000],
      },
    },
  ]);
  assert.equal(t.all, 6_000);
  assert.deepEqual([...t.byKind], [['PGlite: PostgreSQL (WebAssembly)', 4_000], ['npm: pg', 2_000]]);
  assert.deepEqual([...t.byProcess], [['test/a.small.test.ts', 6_000]]);
  assert.equal(t.byFunction.size, 2);
});
