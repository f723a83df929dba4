/**
 * `npm run admin-key [-- --name N]`: mints a new admin key and prints it once, for a deployment whose admin
 * keys were lost (a first start that failed after printing its key, a key nobody stored). It needs the
 * database itself, which is the proof of authority: DATABASE_URL, or the embedded database in DATA_DIR
 * with no server holding it (beside a running server it refuses: stop the server, or mint one through the
 * admin API with a key you have). Audited as `api_key.recovered`.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { AuthService } from '../auth/auth.service.js';
import { RateLimiter } from '../auth/rate-limit.js';
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { DataDirLockedError } from '../db/data-dir-lock.js';
import { migrateToLatest } from '../db/migrator.js';
import { createLogger } from '../logger.js';

const USAGE = `usage: npm run admin-key [-- --name NAME]
Mints a new admin key on DATABASE_URL, or on the embedded database in DATA_DIR when no server holds it,
and prints it once on stdout (store it: only its hash is kept). Audited as api_key.recovered.
  --name NAME                     the key's name (default: "recovered admin (<user>@<host>)")
  --help`;

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({ args: argv, options: { name: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    process.stderr.write(`modtune admin-key: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const who = `${os.userInfo().username}@${os.hostname()}`;
  const name = values.name ?? `recovered admin (${who})`;
  if (!name.trim() || name.length > 200) {
    process.stderr.write('modtune admin-key: --name must be 1 to 200 characters\n');
    return 2;
  }
  const config = loadConfigOrReport('modtune admin-key');
  if (!config) return 2;
  const logger = createLogger('warn');
  let database;
  try {
    database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger, command: 'npm run admin-key' });
  } catch (err) {
    if (!(err instanceof DataDirLockedError)) throw err;
    const hint = err.holder.url
      ? ` To mint a key now, use one you have: curl -X POST -H "Authorization: Bearer <admin key>" -H 'Content-Type: application/json' -d '{"name": "admin", "role": "admin"}' ${err.holder.url}/v1/admin/api-keys; without one, stop the server, run this again, and start it.`
      : '';
    process.stderr.write(`modtune admin-key: ${err.message}${hint}\n`);
    return 1;
  }
  try {
    await migrateToLatest(database.db);
    const auth = new AuthService(database.db, logger, new RateLimiter(0, 0));
    const { key, row } = await auth.createKey({ name, role: 'admin', expiresAt: null }, null, null, 'api_key.recovered', `npm run admin-key (${who})`);
    process.stderr.write(`minted admin key ${row.id} ('${row.name}') on ${database.location}; it is printed once, below, and only its hash is kept\n`);
    process.stdout.write(`${key}\n`);
    return 0;
  } finally {
    await database.destroy();
  }
}

process.exitCode = await main(process.argv.slice(2));
