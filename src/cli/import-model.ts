/**
 * `npm run model:import -- <dir> [--name N] [--label-map file] [--out DIR] [--onnx FILE]`: imports a
 * Hugging Face / optimum sequence-classification export, verifies it, and registers it as a backbone
 * (its own classifier becomes its base head). Activating it is a separate, explicit step. Beside a
 * server that holds the embedded database the registration goes through its API (see service.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { createLogger } from '../logger.js';
import { ImportError, importModel, type LabelMapInput } from '../models/import/importer.js';
import { RegistryService } from '../models/registry.service.js';
import { loadPolicies } from '../policy/loader.js';
import { PolicyRegistry } from '../policy/registry.js';
import { callService, resolveTarget, SERVER_OPTION, SERVER_USAGE, ServiceError } from './service.js';

const USAGE = `usage: npm run model:import -- <export-dir> [options]
Converts a Hugging Face / optimum sequence-classification export into a modtune model directory, checks
that its classifier reproduces the export's logits, and registers it (activate it separately).
  --name NAME                     the backbone's name (default: the export directory's name)
  --label-map FILE                YAML or JSON: model label -> category, list of categories, or null
  --out DIR                       where to write the model (default: next to MODEL_DIR, named NAME)
  --onnx FILE                     which .onnx file of the export to use (when it has several)
${SERVER_USAGE}
  --help`;

interface Registered {
  registered: boolean;
  backbone: { id: string; name: string };
  base_head: { id: string; version: number };
  activation_warning: string | null;
}

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
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    process.stderr.write(`modtune import: --name '${name}' must be letters, digits, '.', '_' or '-'\n`);
    return 2;
  }
  const outDir = parsed.values.out ?? path.join(path.dirname(config.model.dir), name);
  try {
    const policies = new PolicyRegistry(await loadPolicies(config.policy.dir), config.policy.defaultName);
    let labelMap: LabelMapInput | undefined;
    if (parsed.values['label-map']) {
      const text = await fs.readFile(parsed.values['label-map'], 'utf8');
      labelMap = parseYaml(text) as LabelMapInput; // YAML is a superset of JSON
      if (!labelMap || typeof labelMap !== 'object' || Array.isArray(labelMap)) throw new ImportError('the label map must map model labels to a category, a list of categories, or null');
    }
    const report = await importModel({
      sourceDir: source,
      outDir,
      onnxFile: parsed.values.onnx,
      labelMap,
      knownCategories: [...new Set(policies.all.flatMap((p) => p.categories))],
      logger,
    });
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`imported ${report.architecture}${report.modelType ? ` (${report.modelType})` : ''} from ${report.sourceOnnx} into ${report.outDir}`);
    out(`  inputs: ${report.inputs.join(', ')}; max length ${report.maxLength ?? 'unknown'}; tokenizer ${report.tokenizerVocab} tokens`);
    out(
      `  classifier: ${report.classifier.op} '${report.classifier.weight}' (${report.classifier.layout})${report.classifier.bias ? ` + '${report.classifier.bias}'` : ''}` +
        `${report.classifier.passedOver.length ? `, after ${report.classifier.passedOver.join(', ')}` : ''}; features: '${report.classifier.featuresTensor}' [${report.classifier.hidden}]`,
    );
    out(`  ${report.problemType === 'multi_label' ? 'multi-label (sigmoid)' : 'single-label (softmax)'}, ${report.labels.length} labels`);
    for (const [label, cats] of Object.entries(report.labelMap)) out(`    ${label} → ${cats.length ? cats.join(', ') : '(ignored)'}`);
    for (const label of report.unmappedLabels) out(`    ${label} → NOT MAPPED (add it to a label map or a policy's labels: to use its score)`);
    out(`  verified: max |head(features) − logits| = ${report.verifiedMaxAbsDiff.toExponential(2)} (tolerance 1e-4)`);

    let r: Registered;
    if (target.kind === 'server') {
      out(`${target.why}: registering it through ${target.url}`);
      r = await callService<Registered>(target, 'POST', '/v1/models/backbones', { path: path.resolve(report.outDir), name });
    } else {
      const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger, command: 'npm run model:import' });
      try {
        await migrateToLatest(database.db);
        r = await new RegistryService(database.db).registerLoaded(report.model, name, policies, { name: 'npm run model:import' });
      } finally {
        await database.destroy();
      }
    }
    out(`${r.registered ? 'registered' : 'already registered'} backbone ${r.backbone.id} ('${r.backbone.name}'), base head ${r.base_head.id} (v${r.base_head.version})`);
    if (r.activation_warning) out(`warning: activating it would be refused until the policies cover it:\n${r.activation_warning}`);
    else {
      const url = target.kind === 'server' ? target.url : `http://${config.host}:${config.port}`;
      out(`activate it with: curl -X POST -H "Authorization: Bearer $MODTUNE_ADMIN_KEY" ${url}/v1/models/${r.base_head.id}/activate`);
    }
    return 0;
  } catch (err) {
    process.stderr.write(`modtune import: ${err instanceof ImportError || err instanceof ServiceError ? '' : 'failed: '}${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
