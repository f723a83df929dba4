/**
 * `npm run worker`: a process that runs only the background jobs — the training schedule, the promotion
 * guard and retention — against the same PostgreSQL database as the API replicas, which then run with
 * BACKGROUND_JOBS=false (as Bluesky's ozone splits its daemon from its API). It serves no HTTP. It loads
 * the active model too: training recomputes features and the guard follows the served head.
 * An embedded database belongs to one process, so with one the API process runs the jobs itself.
 */
import { loadConfigOrReport } from './config.js';
import { AppContext } from './context.js';
import { exitOnSignals } from './signals.js';

export const WORKER_COMMAND = 'npm run worker';

async function main(): Promise<void> {
  const config = loadConfigOrReport('modtune worker');
  if (!config) process.exit(2);
  if (!config.database.url) {
    process.stderr.write(
      'modtune worker: needs DATABASE_URL (PostgreSQL). The embedded database belongs to one process, so without ' +
        'PostgreSQL the API process (npm start) runs the background jobs itself (BACKGROUND_JOBS=true, the default).\n',
    );
    process.exit(2);
  }
  let ctx: AppContext;
  try {
    ctx = await AppContext.fromConfig(config, { role: 'worker', command: WORKER_COMMAND });
  } catch (err) {
    process.stderr.write(`modtune worker: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  // Handled before `worker running` is logged, so a signal sent on that line stops the worker in order.
  exitOnSignals('modtune worker', ctx.logger, () => ctx.destroy());
  ctx.logger.info({ jobs: ctx.components }, 'worker running');
}

void main();
