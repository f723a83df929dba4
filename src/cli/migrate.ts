/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the embedded PGlite in DATA_DIR). */
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { createLogger } from '../logger.js';

async function main(): Promise<number> {
  const config = loadConfigOrReport('modtune migrate');
  if (!config) return 2;
  const logger = createLogger('warn');
  const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger });
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

process.exitCode = await main();
