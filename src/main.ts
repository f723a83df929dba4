/** `npm start`: configuration from the environment, start, and shut down cleanly on SIGTERM/SIGINT. */
import { loadConfigOrReport } from './config.js';
import { ModtuneServer } from './server.js';
import { exitOnSignals } from './signals.js';

async function main(): Promise<void> {
  const config = loadConfigOrReport('modtune');
  if (!config) process.exit(2);
  const failed = (err: unknown) => {
    process.stderr.write(`modtune: failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  };
  let server: ModtuneServer;
  try {
    server = await ModtuneServer.create(config);
  } catch (err) {
    return failed(err);
  }
  // Signals are handled before the server listens and logs `listening`: a supervisor (or a test) that
  // sends SIGTERM the moment it learns the port gets a drain, not the default action's abrupt exit, which
  // resets every connection waiting to be accepted. A signal during start waits for it, then stops.
  let started: Promise<unknown> = Promise.resolve();
  exitOnSignals('modtune', server.ctx.logger, async () => {
    await started.catch(() => undefined);
    await server.destroy();
  });
  try {
    started = server.start();
    await started;
  } catch (err) {
    failed(err);
  }
}

void main();
