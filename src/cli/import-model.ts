/**
 * `npm run model:import -- <dir> [--name N] [--label-map file] [--out DIR] [--onnx FILE]`: imports a
 * Hugging Face / optimum sequence-classification export, verifies it, and registers it as a backbone
 * (its own classifier becomes its base head). Activating it is a separate, explicit step. Beside a
 * server that holds the embedded database the registration goes through its API (see service.ts).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.js';
import { createLogger } from '../logger.js';
import { ImportError } from '../models/import/importer.js';
import { importAndRegister, NAME_PATTERN } from './import-flow.js';
import { resolveTarget, SERVER_OPTION, SERVER_USAGE, ServiceError } from './service.js';

const USAGE = `usage: npm run model:import -- <export-dir> [options]
Converts a Hugging Face / optimum sequence-classification export into a modtune model directory, checks
that its classifier reproduces the export's logits, and registers it (activate it separately).
  --name NAME                     the backbone's name (default: the export directory's name)
  --label-map FILE                YAML or JSON: model label -> category, list of categories, or null
  --out DIR                       where to write the model (default: next to MODEL_DIR, named NAME)
  --onnx FILE                     which .onnx file of the export to use (when it has several)
${SERVER_USAGE}
  --help`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: 'string' }, 'label-map': { type: 'string' }, out: { type: 'string' }, onnx: { type: 'string' }, help: { type: 'boolean', short: 'h' }, ...SERVER_OPTION },
    });
  } catch (err) {
    process.stderr.write(`modtune import: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [source] = parsed.positionals;
  if (!source || parsed.positionals.length > 1) {
    process.stderr.write(`modtune import: ${source ? 'give one export directory' : 'which export directory?'}\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrReport('modtune import');
  if (!config) return 2;
  // Before the (slow) conversion: a database this command may not open should stop it at once.
  const target = await resolveTarget(config, parsed.values.server);
  if (target.kind === 'refuse') {
    process.stderr.write(`modtune import: ${target.message}\n`);
    return 1;
  }
  const logger = createLogger('warn');
  const name = parsed.values.name ?? path.basename(path.resolve(source));
  if (!NAME_PATTERN.test(name)) {
    process.stderr.write(`modtune import: --name '${name}' must be letters, digits, '.', '_' or '-'\n`);
    return 2;
  }
  const outDir = parsed.values.out ?? path.join(path.dirname(config.model.dir), name);
  try {
    await importAndRegister({
      config,
      target,
      source,
      name,
      outDir,
      onnxFile: parsed.values.onnx,
      labelMapFile: parsed.values['label-map'],
      logger,
      out: (s) => process.stdout.write(`${s}\n`),
    });
    return 0;
  } catch (err) {
    process.stderr.write(`modtune import: ${err instanceof ImportError || err instanceof ServiceError ? '' : 'failed: '}${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
