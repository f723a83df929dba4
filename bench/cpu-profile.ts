/**
 * `npm run bench:cpu-profile -- DIR`: summarizes the V8 CPU profiles that `bench:score --cpu-prof DIR`
 * had the service write (one per thread; the main thread's has thread id 0 in its name): self time by
 * where the code lives (a package, a src/ file, node's internals, GC) and the costliest functions.
 */
import fs from 'node:fs';
import path from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

export function where(url: string, fn: string): string {
  if (fn === '(garbage collector)' || fn === '(program)' || fn === '(idle)' || fn === '(root)') return fn;
  if (!url) return '(native)';
  // PGlite's PostgreSQL, compiled to WebAssembly (the only wasm module the service loads).
  if (url.startsWith('wasm://')) return 'wasm (PGlite)';
  if (url.startsWith('node:internal/')) return `node:internal/${url.slice(14).split('/')[0]}`;
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 13).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return path.basename(url);
}

function summarize(file: string, top = 25): string[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const busy = total - idle;
  const groups = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    const g = where(f.url, f.functionName);
    groups.set(g, (groups.get(g) ?? 0) + t);
    const name = `${f.functionName || '(anonymous)'} ${g}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + t);
  }
  const pct = (t: number) => `${((100 * t) / busy).toFixed(1)}%`;
  const rows = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, t]) => `| ${k} | ${(t / 1000).toFixed(0)} | ${pct(t)} |`);
  return [
    `${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (${((100 * busy) / total).toFixed(0)}%)`,
    '',
    '| where | self ms | of busy |',
    '|---|---|---|',
    ...rows(groups),
    '',
    '| function | self ms | of busy |',
    '|---|---|---|',
    ...rows(fns),
    '',
  ];
}

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: npm run bench:cpu-profile -- DIR (a directory of .cpuprofile files)\n');
  process.exit(2);
}
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
// CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread.
const main = files.filter((f) => f.split('.')[4] === '0');
for (const f of main.length ? main : files) process.stdout.write(summarize(path.join(dir, f)).join('\n') + '\n');
