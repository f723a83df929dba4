/**
 * `npm run model:export -- <head-id | version> <out-dir>`: writes a standalone model directory with a
 * head's weights baked into the classifier (a version number means that version of the active backbone).
 */
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { loadModelDir } from '../inference/model-dir.js';
import { createLogger } from '../logger.js';
import { exportHead } from '../models/export/exporter.js';
import { getActiveHead, getBackbone, getHead, headIdOfVersion } from '../models/head.repository.js';

async function main(argv: string[]): Promise<number> {
  const [which, outDir] = argv;
  if (!which || !outDir || argv.length > 2) {
    process.stderr.write('usage: npm run model:export -- <head-id | version> <out-dir>\n');
    return 2;
  }
  const config = loadConfigOrReport('modtune export');
  if (!config) return 2;
  const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger: createLogger('warn') });
  try {
    await migrateToLatest(database.db);
    let headId = which;
    if (/^\d+$/.test(which)) {
      const active = await getActiveHead(database.db);
      if (!active) throw new Error('there is no active head, so a bare version number means nothing; give a head id');
      const id = await headIdOfVersion(database.db, active.backboneId, Number(which));
      if (!id) throw new Error(`the active backbone has no head version ${which}`);
      headId = id;
    }
    const head = await getHead(database.db, headId);
    if (!head) throw new Error(`no head ${headId}`);
    const backbone = (await getBackbone(database.db, head.backboneId))!;
    const model = await loadModelDir(backbone.path);
    if (model.sha256 !== backbone.sha256) throw new Error(`backbone '${backbone.name}' at ${backbone.path} has changed since it was registered`);
    const dest = await exportHead(model, head, outDir, backbone.name);
    process.stdout.write(`exported head ${head.id} (v${head.version}, ${head.status}) of backbone '${backbone.name}' to ${dest}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`modtune export: ${(err as Error).message}\n`);
    return 1;
  } finally {
    await database.destroy();
  }
}

process.exitCode = await main(process.argv.slice(2));
