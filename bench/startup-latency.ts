/**
 * `npm run bench:startup`: start-up time of the real process, run the ways it is run — `npm run dev`
 * (`node --import tsx src/main.ts`), `npm start` (`node dist/main.js`, the compiled build, made first by
 * `npm run build`) and the compiled build with `--enable-source-maps` — cold (empty data directory:
 * PGlite initdb, migrations, registration, the first admin key) and warm (the same directory again), to
 * the `listening` log line and to the first green `/readyz`; BENCH_RUNS rounds (default 3), the ways
 * alternating, medians reported (and the warm process's RSS when ready). Then /v1/moderate latency for one text on a warm `npm start`. The default
 * starter model (built first if missing; that build is timed separately).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const MODEL_DIR = path.resolve(process.env.MODEL_DIR ?? 'models/default');
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WAYS: Record<string, string[]> = {
  'npm run dev (tsx)': ['--import', 'tsx', 'src/main.ts'],
  'npm start (dist/)': ['dist/main.js'],
  'dist/ + --enable-source-maps': ['--enable-source-maps', 'dist/main.js'],
};

function run(command: string, args: string[]): Promise<number> {
  const t = performance.now();
  return new Promise((resolve, reject) => {
    const p = spawn(command, args, { stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? resolve(performance.now() - t) : reject(new Error(`${command} ${args.join(' ')} failed (${code})`))));
  });
}

async function ensureModel(): Promise<number | null> {
  try {
    await fs.access(path.join(MODEL_DIR, 'config.json'));
    return null;
  } catch {
    return run(process.execPath, ['--import', 'tsx', 'src/cli/build-model.ts', '--out', MODEL_DIR]);
  }
}

interface Started {
  listening: number;
  ready: number;
  /** The process's resident memory (MB) at the first green /readyz. */
  rssMb: number;
  port: number;
  stop: () => Promise<void>;
}

async function start(args: string[], dataDir: string, adminKey: string): Promise<Started> {
  const t = performance.now();
  const child = spawn(process.execPath, args, {
    env: { ...process.env, DATA_DIR: dataDir, MODEL_DIR, PORT: '0', MODTUNE_ADMIN_KEY: adminKey, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    void exited.then(() => reject(new Error(`server exited before listening:\n${out.slice(-2000)}`)));
  });
  const listening = performance.now() - t;
  child.stdout!.resume();
  while ((await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0)) !== 200) await new Promise((r) => setTimeout(r, 10));
  const ready = performance.now() - t;
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(await fs.readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN);
  return {
    listening,
    ready,
    rssMb: rssKb / 1024,
    port,
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<void> {
  const modelMs = await ensureModel();
  const buildMs = await run('npm', ['run', '--silent', 'build']);
  const key = `mt_bench_${'x'.repeat(40)}`;
  const results = new Map<string, { cold: Started[]; warm: Started[] }>(Object.keys(WAYS).map((w) => [w, { cold: [], warm: [] }]));
  const dirs: string[] = [];
  try {
    for (let round = 0; round < RUNS; round++) {
      const ways = Object.keys(WAYS);
      if (round % 2) ways.reverse();
      for (const way of ways) {
        const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-bench-'));
        dirs.push(dataDir);
        const cold = await start(WAYS[way], dataDir, key);
        await cold.stop();
        const warm = await start(WAYS[way], dataDir, key);
        await warm.stop();
        results.get(way)!.cold.push(cold);
        results.get(way)!.warm.push(warm);
        await fs.rm(dataDir, { recursive: true, force: true });
      }
    }

    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-bench-'));
    dirs.push(dataDir);
    await (await start(WAYS['npm start (dist/)'], dataDir, key)).stop();
    const warm = await start(WAYS['npm start (dist/)'], dataDir, key);
    const url = `http://127.0.0.1:${warm.port}/v1/moderate`;
    const send = async (text: string) => {
      const t = performance.now();
      const r = await fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: text }),
      });
      if (r.status !== 200) throw new Error(`status ${r.status}: ${await r.text()}`);
      await r.arrayBuffer();
      return performance.now() - t;
    };
    for (let i = 0; i < 20; i++) await send('warm-up request number ' + i);
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) times.push(await send(`I will find you and hurt you, message ${i}`));
    await warm.stop();
    times.sort((a, b) => a - b);

    const f = (x: number) => x.toFixed(0);
    const all = (xs: Started[], k: 'listening' | 'ready') => xs.map((s) => f(s[k])).join(', ');
    console.log(`model: ${MODEL_DIR}`);
    if (modelMs !== null) console.log(`starter model build: ${(modelMs / 1000).toFixed(1)} s`);
    console.log(`npm run build: ${f(buildMs)} ms`);
    console.log(`start-up, ${RUNS} runs each, median ms to "listening" / to /readyz 200 (every run's "listening" in brackets):`);
    for (const [way, r] of results) {
      console.log(`  ${way.padEnd(30)} cold ${f(median(r.cold.map((s) => s.listening)))} / ${f(median(r.cold.map((s) => s.ready)))} [${all(r.cold, 'listening')}]`);
      console.log(`  ${''.padEnd(30)} warm ${f(median(r.warm.map((s) => s.listening)))} / ${f(median(r.warm.map((s) => s.ready)))} [${all(r.warm, 'listening')}]   RSS ${f(median(r.warm.map((s) => s.rssMb)))} MB`);
    }
    console.log(`/v1/moderate on npm start (warm), one text, sequential, ${REQUESTS} requests over loopback:`);
    console.log(`  p50 ${pct(times, 50).toFixed(1)} ms   p95 ${pct(times, 95).toFixed(1)} ms   p99 ${pct(times, 99).toFixed(1)} ms   mean ${(times.reduce((a, b) => a + b, 0) / times.length).toFixed(1)} ms`);
  } finally {
    for (const d of dirs) await fs.rm(d, { recursive: true, force: true });
  }
}

await main();
