/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded PGlite in DATA_DIR).
 * A server migrates at start; beside a server that holds the embedded database this refuses and says so.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { DataDirLockedError } from '../db/data-dir-lock.js';
import { migrateToLatest } from '../db/migrator.js';
import { createLogger } from '../logger.js';

const USAGE = `usage: npm run migrate
Applies pending migrations to DATABASE_URL, or to the embedded database in DATA_DIR (the server also
applies them when it starts).
  --help`;

async function main(argv: string[]): Promise<number> {
  let help = false;
  try {
    help = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } } }).values.help === true;
  } catch (err) {
    process.stderr.write(`modtune migrate: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const config = loadConfigOrReport('modtune migrate');
  if (!config) return 2;
  const logger = createLogger('warn');
  let database;
  try {
    database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger, command: 'npm run migrate' });
  } catch (err) {
    if (!(err instanceof DataDirLockedError)) throw err;
    const hint = err.holder.url ? ' A server applies every migration it has when it starts: restart it to apply new ones.' : '';
    process.stderr.write(`modtune migrate: ${err.message}${hint}\n`);
    return 1;
  }
  try {
    const applied = await migrateToLatest(database.db);
    process.stdout.write(
      applied.length
        ? `applied ${applied.length} migration(s) to ${database.location}: ${applied.join(', ')}\n`
        : `${database.location} is up to date\n`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`modtune migrate: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await database.destroy();
  }
}

process.exitCode = await main(process.argv.slice(2));
