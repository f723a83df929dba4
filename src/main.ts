/** `npm start`: configuration from the environment, start, and shut down cleanly on SIGTERM/SIGINT. */
import { loadConfigOrReport } from './config.js';
import { ModtuneServer } from './server.js';

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
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`modtune: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    server.ctx.logger.info({ signal }, 'signal received');
    server.destroy().then(
      () => process.exit(0),
      (err: Error) => {
        server.ctx.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('unhandledRejection', (err) => {
    server.ctx.logger.fatal({ err }, 'unhandled promise rejection; exiting (acknowledged decisions are already committed)');
    process.exit(1);
  });
}

void main();
