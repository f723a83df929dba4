/**
 * The repository's root: the first folder above this module that holds package.json. The same from
 * test/helpers/ (tsx) and from .test-build/test/helpers/ (the compiled tests `npm test` runs, see
 * scripts/test.ts), where counting `..` would stop one folder short.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const REPO = findRoot(path.dirname(fileURLToPath(import.meta.url)));
