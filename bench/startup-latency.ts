/**
 * `npm run bench:startup`: start-up time (cold: empty data directory, so migrations, registration and
 * the first admin key; warm: the same directory again) and /v1/moderate latency for one text, on the
 * default starter model (built first if missing; that build is timed separately).
 *
 * Runs the real process (`node --import tsx src/main.ts`) exactly as `npm start` does.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const MODEL_DIR = path.resolve(process.env.MODEL_DIR ?? 'models/default');
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 300);

async function ensureModel(): Promise<number | null> {
  try {
    await fs.access(path.join(MODEL_DIR, 'config.json'));
    return null;
  } catch {
    const t = performance.now();
    await new Promise<void>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/build-model.ts', '--out', MODEL_DIR], { stdio: 'inherit' });
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`model build failed (${code})`))));
    });
    return performance.now() - t;
  }
}

async function start(dataDir: string, adminKey: string): Promise<{ ms: number; port: number; stop: () => Promise<void> }> {
  const t = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, DATA_DIR: dataDir, MODEL_DIR, PORT: '0', MODTUNE_ADMIN_KEY: adminKey, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.on('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  const ms = performance.now() - t;
  return {
    ms,
    port,
    stop: () =>
      new Promise((resolve) => {
        child.on('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const buildMs = await ensureModel();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-bench-'));
  const key = `mt_bench_${'x'.repeat(40)}`;
  try {
    const cold = await start(dataDir, key);
    await cold.stop();
    const warm = await start(dataDir, key);
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
    const f = (x: number) => x.toFixed(1);
    console.log(`model: ${MODEL_DIR}`);
    if (buildMs !== null) console.log(`starter model build: ${f(buildMs / 1000)} s`);
    console.log(`start-up, cold (empty data dir): ${f(cold.ms)} ms`);
    console.log(`start-up, warm (same data dir):  ${f(warm.ms)} ms`);
    console.log(`/v1/moderate, one text, sequential, ${REQUESTS} requests over loopback:`);
    console.log(`  p50 ${f(pct(times, 50))} ms   p95 ${f(pct(times, 95))} ms   p99 ${f(pct(times, 99))} ms   mean ${f(times.reduce((a, b) => a + b, 0) / times.length)} ms`);
    console.log(`  ratio warm/cold start-up: ${(warm.ms / cold.ms).toFixed(2)}`);
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

await main();
