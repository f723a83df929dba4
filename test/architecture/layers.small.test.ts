/**
 * The layers docs/ARCHITECTURE.md names, checked on the code: a module of `src/` loads (type-only imports
 * aside) only modules of its own layer or of a layer below, and the folders' import graph has no cycle.
 * A folder is a first-level folder of `src/` (`http/` with its subfolders), or `tuning/math/`; a file
 * directly in `src/` is its own.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, tsFiles, valueImports } from '../helpers/source-scan.js';

/** Bottom first. */
export const LAYERS: { name: string; folders: string[] }[] = [
  { name: 'foundation', folders: ['clock.ts', 'errors.ts', 'random.ts', 'logger.ts', 'build-layout.ts', 'events.ts', 'lifecycle.ts', 'metrics.ts', 'signals.ts'] },
  { name: 'database, inference, policies, maths', folders: ['db', 'inference', 'policy', 'audit', 'idempotency', 'tuning/math'] },
  { name: 'features', folders: ['auth', 'review', 'moderation', 'models', 'tuning', 'privacy', 'starter', 'thresholds'] },
  { name: 'read models and background work', folders: ['admin', 'jobs', 'config.ts'] },
  { name: 'HTTP and the composition root', folders: ['http', 'context.ts'] },
  { name: 'entry points', folders: ['server.ts', 'main.ts', 'worker.ts', 'cli', 'worker-boot.mjs'] },
];

export function folderOf(file: string): string {
  const parts = file.split('/').slice(1); // under src/
  if (parts.length === 1) return parts[0];
  if (parts[0] === 'tuning' && parts[1] === 'math') return 'tuning/math';
  return parts[0];
}

const rank = new Map(LAYERS.flatMap((l, i) => l.folders.map((f) => [f, i] as const)));

/** Value imports between folders: [from folder, to folder, file, spec]. */
function edges(): [string, string, string, string][] {
  const out: [string, string, string, string][] = [];
  for (const abs of tsFiles(path.join(ROOT, 'src'))) {
    const file = path.relative(ROOT, abs).split(path.sep).join('/');
    if (file.startsWith('src/http/pages/')) continue; // browser code, bundled on its own
    for (const spec of valueImports(fs.readFileSync(abs, 'utf8'))) {
      if (!spec.startsWith('.')) continue;
      const target = path.relative(ROOT, path.resolve(path.dirname(abs), spec)).split(path.sep).join('/').replace(/\.js$/, '.ts');
      const [a, b] = [folderOf(file), folderOf(target)];
      if (a !== b) out.push([a, b, file, spec]);
    }
  }
  return out;
}

test('every folder of src/ is in a layer', () => {
  const folders = new Set(tsFiles(path.join(ROOT, 'src')).map((f) => folderOf(path.relative(ROOT, f).split(path.sep).join('/'))));
  assert.deepEqual([...folders].filter((f) => !rank.has(f)).sort(), []);
});

test('no import reaches up a layer', () => {
  const up = edges()
    .filter(([a, b]) => rank.get(b)! > rank.get(a)!)
    .map(([a, b, file, spec]) => `${file} → ${spec} (${LAYERS[rank.get(a)!].name} loads ${LAYERS[rank.get(b)!].name})`);
  assert.deepEqual(up, []);
});

test('the folders import each other without a cycle', () => {
  const next = new Map<string, Set<string>>();
  for (const [a, b] of edges()) next.set(a, (next.get(a) ?? new Set()).add(b));
  // Depth-first search; a grey folder met again closes a cycle.
  const state = new Map<string, 'grey' | 'black'>();
  const cycles: string[] = [];
  const visit = (f: string, pathSoFar: string[]) => {
    state.set(f, 'grey');
    for (const g of next.get(f) ?? []) {
      if (state.get(g) === 'grey') cycles.push([...pathSoFar.slice(pathSoFar.indexOf(g)), f, g].join(' → '));
      else if (!state.has(g)) visit(g, [...pathSoFar, f]);
    }
    state.set(f, 'black');
  };
  for (const f of next.keys()) if (!state.has(f)) visit(f, []);
  assert.deepEqual(cycles, []);
});
