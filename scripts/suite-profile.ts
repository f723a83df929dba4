/**
 * Where the test suite's CPU goes: runs the README's test command with V8's sampling profiler in every Node
 * process and thread it starts (the test files, the service processes they spawn, inference and database
 * threads; scripts/suite-profile-preload.mjs), then sums the samples by kind of code, by process and by
 * function, and prints three tables.
 *
 *   node --import tsx scripts/suite-profile.ts [--keep DIR] [-- npm test arguments...]
 *
 * What it counts: time on a thread running JavaScript or WebAssembly, or in a native call made from it
 * (a socket write, a module compile), sampled every 2 ms; idle time is left out. What it does not: the
 * kernel's side of system calls beyond the calling thread, onnxruntime's own intra-op threads, V8's
 * background compiler and GC threads, Chromium, PostgreSQL's server, and any process killed with SIGKILL
 * (the SIGKILL tests' service processes). The profiler slows what it samples, the main threads most, so
 * read the shares, not the seconds, and compare runs of this script with each other only.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { REPO } from '../test/helpers/repo.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}
interface Written {
  argv: string[];
  thread: number;
  profile: Profile;
}

/** The kind of code a sampled frame is: the package, the part of modtune, or the part of Node. */
export function kindOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : `native: ${functionName}`;
  if (url.startsWith('wasm://')) return 'PGlite: PostgreSQL (WebAssembly)';
  if (url.includes('/@electric-sql/pglite/')) return 'PGlite: its JavaScript (file system, protocol)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm: ${pkg[1]}`;
  const own = /\/dist\/([^/]+)/.exec(url);
  if (own) return `modtune: src/${own[1].replace(/\.js$/, '.ts')}`;
  if (url.includes('/.test-build/')) return 'the tests and their helpers';
  if (url.startsWith('node:internal/modules') || url.startsWith('node:internal/deps/cjs-module-lexer')) return 'node: loading modules';
  if (url.startsWith('node:internal/test_runner')) return 'node: the test runner';
  if (url.startsWith('node:internal/source_map')) return 'node: source maps';
  return 'node: the rest';
}

/** Which process or thread a profile came from: the test file, the service, or the worker's module. */
export function processOf(w: Pick<Written, 'argv' | 'thread'>): string {
  const script = w.argv.find((a) => /\.(m?js|ts)$/.test(a)) ?? w.argv[0] ?? '?';
  const test = /(test\/.+\.test)\.js$/.exec(script);
  const name = test ? `${test[1]}.ts` : path.relative(REPO, script).replace(/^dist\//, 'src/').replace(/\.js$/, '.ts');
  return w.thread === 0 ? name : `${name}: a worker thread`;
}

interface Totals {
  all: number;
  byKind: Map<string, number>;
  byProcess: Map<string, number>;
  byFunction: Map<string, number>;
}

export function tally(profiles: Iterable<Written>): Totals {
  const t: Totals = { all: 0, byKind: new Map(), byProcess: new Map(), byFunction: new Map() };
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const w of profiles) {
    const nodes = new Map(w.profile.nodes.map((n) => [n.id, n]));
    const proc = processOf(w);
    w.profile.samples.forEach((id, i) => {
      const frame = nodes.get(id)!.callFrame;
      if (frame.functionName === '(idle)') return;
      const us = w.profile.timeDeltas[i] ?? 0;
      const kind = kindOf(frame);
      t.all += us;
      add(t.byKind, kind, us);
      add(t.byProcess, proc, us);
      add(t.byFunction, `${frame.functionName || '(anonymous)'} (${kind}${frame.url ? `, ${path.basename(frame.url)}:${frame.lineNumber + 1}` : ''})`, us);
    });
  }
  return t;
}

function table(title: string, m: Map<string, number>, all: number, rows: number): string {
  const lines = [`| ${title} | CPU-s sampled | share |`, '|---|---|---|'];
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, rows)) lines.push(`| ${k.replace(/\|/g, '\\|')} | ${(v / 1e6).toFixed(1)} | ${((100 * v) / all).toFixed(1)} % |`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { keep: { type: 'string' } }, allowPositionals: true });
  const dir = values.keep ? path.resolve(values.keep) : fs.mkdtempSync(path.join(os.tmpdir(), 'modtune-suite-profile-'));
  fs.mkdirSync(dir, { recursive: true });
  const preload = path.join(REPO, 'scripts', 'suite-profile-preload.mjs');
  const env = { ...process.env, SUITE_PROFILE_DIR: dir, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim() };
  const started = Date.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn('npm', ['test', '--', ...positionals], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
  const totals = tally(files.map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Written));
  process.stdout.write(
    `npm test ${positionals.join(' ')}: exit ${code}, ${Math.round((Date.now() - started) / 1000)} s; ${files.length} threads profiled, ` +
      `${(totals.all / 1e6).toFixed(1)} CPU-s sampled\n\n` +
      `${table('kind of code', totals.byKind, totals.all, 25)}\n\n${table('process or thread', totals.byProcess, totals.all, 25)}\n\n` +
      `${table('function', totals.byFunction, totals.all, 20)}\n`,
  );
  if (!values.keep) fs.rmSync(dir, { recursive: true, force: true });
  return code;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.join(REPO, 'scripts', 'suite-profile.ts')) process.exitCode = await main();
