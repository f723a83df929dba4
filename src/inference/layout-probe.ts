/**
 * The layout measurement, in a child process of its own. Each layout's sessions load the model and are
 * calibrated (calibrate.ts), then stopped; the child reports what it measured and exits, so the memory the
 * measured sessions held goes with it. In the service's own process a stopped session's memory is not all
 * given back to the system (measured: about one session's worth stays resident, docs/PERFORMANCE.md), which
 * would cost the memory that choosing fewer sessions saves.
 *
 * Protocol (IPC): the parent sends one ProbeRequest; the child answers one ProbeReply and exits.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { COMPILED } from '../build-layout.js';
import { createLogger } from '../logger.js';
import { calibrate, type Calibration, type Layout } from './calibrate.js';
import { loadModelDir } from './model-dir.js';
import { WorkerPool } from './pool.js';
import type { Provider } from './protocol.js';

export interface ProbeRequest {
  modelDir: string;
  providers: Provider[];
  maxLength: number;
  batchMaxSize: number;
  layouts: Layout[];
  allowSpinning: boolean;
}

export type ProbeReply =
  | { ok: true; provider: string; measured: (Layout & { calibration: Calibration })[] }
  | { ok: false; error: string };

/** Measures each layout in a child process; rejects if the child fails, exits without answering, or takes longer than `timeoutMs`. */
export function probeLayouts(req: ProbeRequest, timeoutMs = 300_000): Promise<Extract<ProbeReply, { ok: true }>> {
  const file = fileURLToPath(new URL(COMPILED ? './layout-probe.js' : './layout-probe.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    // The parent's execArgv (tsx's loader under the tests and `npm run dev`) carries over.
    const child = fork(file, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, MODTUNE_LAYOUT_PROBE: '1' } });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    let answered = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the layout measurement did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', (m: ProbeReply) => {
      answered = true;
      clearTimeout(timer);
      if (m.ok) resolve(m);
      else reject(new Error(`the layout measurement failed: ${m.error}`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!answered) reject(new Error(`the layout measurement exited (${signal ?? code}) without an answer${stderr ? `: ${stderr.trim()}` : ''}`));
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.send(req);
  });
}

async function measure(req: ProbeRequest): Promise<ProbeReply> {
  const model = await loadModelDir(req.modelDir);
  const log = createLogger('silent');
  const measured: (Layout & { calibration: Calibration })[] = [];
  let provider = 'cpu';
  for (const layout of req.layouts) {
    const pool = await WorkerPool.start(
      {
        onnxPath: model.onnxPath,
        providers: req.providers,
        threads: layout.threads,
        allowSpinning: req.allowSpinning,
        featuresOutput: model.featuresOutput,
        logitsOutput: model.logitsOutput,
        tokenizerJson: model.tokenizerJson,
        maxLength: req.maxLength,
      },
      layout.workers,
      log,
    );
    try {
      provider = pool.provider;
      measured.push({ ...layout, calibration: await calibrate({ maxBatch: req.batchMaxSize, workers: pool.size, run: (inputs) => pool.score(inputs) }) });
    } finally {
      await pool.stop(0);
    }
    // A GPU runs one session: there is nothing to compare.
    if (provider !== 'cpu') break;
  }
  return { ok: true, provider, measured };
}

if (process.env.MODTUNE_LAYOUT_PROBE === '1' && process.send) {
  process.once('message', (req: ProbeRequest) => {
    measure(req).then(
      (reply) => process.send!(reply, () => process.exit(0)),
      (err: Error) => process.send!({ ok: false, error: err.message } satisfies ProbeReply, () => process.exit(1)),
    );
  });
}
