/** `npm start`: configuration from the environment, start, and shut down cleanly on SIGTERM/SIGINT. */
import { loadConfigOrReport } from './config.js';
import { ModtuneServer } from './server.js';
import { exitOnSignals } from './signals.js';

async function main(): Promise<void> {
  const config = loadConfigOrReport('modtune');
  if (!config) process.exit(2);
  let server: ModtuneServer;
  try {
    server = await ModtuneServer.create(config);
    await server.start();
  } catch (err) {
    process.stderr.write(`modtune: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  exitOnSignals('modtune', server.ctx.logger, () => server.destroy());
}

void main();
