/**
 * How a modtune process (`npm start`, `npm run worker`) ends: the first SIGTERM/SIGINT stops it in
 * order and exits 0 (1 if stopping failed); a second one exits at once; an unhandled rejection is fatal.
 */
import type { Logger } from './logger.js';

export function exitOnSignals(program: string, logger: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: string) => {
    if (stopping) {
      process.stderr.write(`${program}: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'signal received');
    stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err }, 'unhandled promise rejection; exiting (acknowledged decisions are already committed)');
    process.exit(1);
  });
}
