/**
 * What `npm run build` (scripts/build.ts) and `npm test` (scripts/test.ts) share: how a TypeScript source
 * becomes the JavaScript node runs (esbuild, one file per source, ESM, source maps; no type-checking, that is
 * `npm run typecheck`), and how they list the files to compile.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BuildOptions } from 'esbuild';

/** esbuild's options for modules node runs; callers add the entry points and where they go. */
export const NODE_MODULES: BuildOptions = { format: 'esm', platform: 'node', target: 'node20', sourcemap: true, sourcesContent: false, logLevel: 'warning' };

/** Every file under `dir`, as a relative path with forward slashes. */
export async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...(await filesUnder(dir, `${prefix}${e.name}/`)));
    else if (e.isFile()) out.push(`${prefix}${e.name}`);
  }
  return out;
}

/** A TypeScript source to compile (declaration files are not). */
export const isSource = (f: string) => f.endsWith('.ts') && !f.endsWith('.d.ts');
