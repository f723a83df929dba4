/**
 * Which test files `npm test` runs (scripts/test.ts), from its arguments: levels, files, and flags for node.
 * Pure, so test/app/test-selection.small.test.ts checks it without running a suite.
 */
import path from 'node:path';

/** The test levels, each a file-name suffix: `x.<level>.test.ts` (test/architecture/test-layout.small.test.ts). */
export const LEVELS = ['small', 'controller', 'medium', 'e2e'] as const;

export interface Selection {
  /** Repository-relative paths of the .test.ts files to run, sorted. */
  files: string[];
  /** Arguments for node (those starting with `--`), in the order given. */
  flags: string[];
}

/**
 * `all`: every test file, repository-relative; `args`: levels (`small`, …), test files (relative to `cwd`
 * or absolute) and `--` flags. No level or file: every test. Anything else is an error that names it.
 */
export function selectTests(args: string[], all: string[], repo: string, cwd: string): Selection {
  const flags = args.filter((a) => a.startsWith('--'));
  const picks = args.filter((a) => !a.startsWith('--'));
  if (picks.length === 0) return { files: [...all].sort(), flags };
  const files = new Set<string>();
  for (const p of picks) {
    if ((LEVELS as readonly string[]).includes(p)) {
      for (const f of all) if (f.endsWith(`.${p}.test.ts`)) files.add(f);
      continue;
    }
    const rel = path.relative(repo, path.resolve(cwd, p)).split(path.sep).join('/');
    if (!all.includes(rel)) throw new Error(`${p}: not a test file under test/, nor a level (${LEVELS.join(', ')})`);
    files.add(rel);
  }
  return { files: [...files].sort(), flags };
}

/**
 * The order the runner starts files in (two at a time): the slowest levels first, each level in path order.
 * The process-level (e2e) files take the longest and some wait on the clock (the replicas test waits for a
 * whole-minute cron slot), so started early, other files fill the other slot meanwhile; the small files,
 * quickest, come last, so the two slots finish close together instead of one core idling while the other
 * finishes a long file.
 */
export function runOrder(files: string[]): string[] {
  const rank = (f: string) => {
    const level = LEVELS.findIndex((l) => f.endsWith(`.${l}.test.ts`));
    return level === -1 ? LEVELS.length : LEVELS.length - 1 - level;
  };
  return [...files].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}
