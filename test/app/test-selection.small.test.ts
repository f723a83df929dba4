/**
 * `npm test`'s arguments (scripts/test-selection.ts): levels pick files by their suffix, a file is taken
 * relative to where the command runs, flags go to node, and anything else is refused by name.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runOrder, selectTests } from '../../scripts/test-selection.js';

const REPO = '/repo';
const ALL = ['test/a/x.small.test.ts', 'test/a/y.medium.test.ts', 'test/b/z.e2e.test.ts', 'test/b/w.small.test.ts'];

test('no level or file runs every test; flags pass through in order', () => {
  assert.deepEqual(selectTests(['--test-reporter=tap', '--test-name-pattern=x'], ALL, REPO, REPO), {
    files: ['test/a/x.small.test.ts', 'test/a/y.medium.test.ts', 'test/b/w.small.test.ts', 'test/b/z.e2e.test.ts'],
    flags: ['--test-reporter=tap', '--test-name-pattern=x'],
  });
});

test('a level picks the files named for it; a file is found from the working directory; each file once', () => {
  assert.deepEqual(selectTests(['small', 'x.small.test.ts', '../b/z.e2e.test.ts'], ALL, REPO, '/repo/test/a'), {
    files: ['test/a/x.small.test.ts', 'test/b/w.small.test.ts', 'test/b/z.e2e.test.ts'],
    flags: [],
  });
});

test('a path that is not a test file, or an unknown level, is refused by name', () => {
  assert.throws(() => selectTests(['test/a/x.ts'], ALL, REPO, REPO), /^Error: test\/a\/x\.ts: not a test file under test\/, nor a level \(small, controller, medium, e2e\)$/);
  assert.throws(() => selectTests(['large'], ALL, REPO, REPO), /^Error: large: not a test file/);
});

test('files start slowest level first (e2e, medium, controller, small), each level in path order', () => {
  const files = ['test/a/x.small.test.ts', 'test/b/y.e2e.test.ts', 'test/a/z.medium.test.ts', 'test/a/w.e2e.test.ts', 'test/c/v.controller.test.ts', 'test/a/u.medium.test.ts'];
  assert.deepEqual(runOrder(files), [
    'test/a/w.e2e.test.ts',
    'test/b/y.e2e.test.ts',
    'test/a/u.medium.test.ts',
    'test/a/z.medium.test.ts',
    'test/c/v.controller.test.ts',
    'test/a/x.small.test.ts',
  ]);
});
