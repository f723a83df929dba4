/**
 * The test kit's layout: every test sits in test/<feature>/ and names its level in its file name.
 * - `*.small.test.ts`: pure code; no database, model session, server, process or browser.
 * - `*.controller.test.ts`: the HTTP layer on fake services (test/helpers/controller.ts): routes, auth,
 *   400s; no database and no inference runtime.
 * - `*.medium.test.ts`: real services on a database copied from the migrated template (PGlite and
 *   PostgreSQL), the app in-process, a model session.
 * - `*.e2e.test.ts`: real processes (the built service, CLIs, SIGKILL) or a browser.
 * `npm run test:small` (and :controller, :medium, :e2e) runs one level.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LEVELS } from '../../scripts/test-selection.js';
import { ROOT, valueImports } from '../helpers/source-scan.js';

/** Folders named for a kind of test rather than a feature. */
const KIND_FOLDERS = new Set(['unit', 'e2e', 'browser', 'reliability', 'integration', 'medium', 'small', 'controller']);

function testFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.test.ts')) out.push(rel);
    }
  };
  walk('test');
  return out.sort();
}

/** What a level's tests may not load directly: what starts a database, a model, a server, a process or a browser. */
const HEAVY = [
  /^@electric-sql\/pglite/,
  /^onnxruntime-node$/,
  /^pg$/,
  /^node:(child_process|net|http|worker_threads)$/,
  /\/helpers\/(app|db|factories|scratch-database|process|build|browser|service-dir|tiny-model|model-cache|fake-hub|feedback)\.js$/,
  /\/src\/(server|context|db\/connect|inference\/runtime)\.js$/,
];

test('every test is test/<feature>/<name>.<level>.test.ts, in a folder named for a feature', () => {
  const problems = testFiles().flatMap((f) => {
    const parts = f.split('/');
    const level = /\.(\w+)\.test\.ts$/.exec(f)?.[1];
    const out: string[] = [];
    if (parts.length !== 3) out.push(`${f}: not directly in test/<feature>/`);
    else if (KIND_FOLDERS.has(parts[1])) out.push(`${f}: '${parts[1]}' names a kind of test, not a feature`);
    if (!LEVELS.includes(level as (typeof LEVELS)[number])) out.push(`${f}: the name must end in .${LEVELS.join('|.')}.test.ts`);
    return out;
  });
  assert.deepEqual(problems, []);
});

test('small and controller tests load nothing that starts a database, a model session, a server, a process or a browser', () => {
  const problems = testFiles()
    .filter((f) => /\.(small|controller)\.test\.ts$/.test(f))
    .flatMap((f) => valueImports(fs.readFileSync(path.join(ROOT, f), 'utf8')).filter((spec) => HEAVY.some((re) => re.test(spec))).map((spec) => `${f} → ${spec}`));
  assert.deepEqual(problems, []);
});

test('the rule sees a heavy import (self-check)', () => {
  const heavy = (src: string) => valueImports(src).filter((spec) => HEAVY.some((re) => re.test(spec)));
  const src = [
    'import {',
    '  startTestApp,',
    "} from '../helpers/app.js';",
    "import type { TestApp } from '../helpers/db.js';",
    "import '../../src/server.js';",
    "import { x } from '../../src/tuning/math/dpo.js';",
    "const later = await import('../helpers/browser.js');",
    `const quoted = "import { a } from '../helpers/db.js'";`,
  ].join('\n');
  assert.deepEqual(heavy(src).sort(), ['../../src/server.js', '../helpers/app.js', '../helpers/browser.js']);
});
