/**
 * `npm run model:import -- <dir> [--name N] [--label-map file] [--out DIR] [--onnx FILE]`: imports a
 * Hugging Face / optimum sequence-classification export, verifies it, and registers it as a backbone
 * (its own classifier becomes its base head). Activating it is a separate, explicit step.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { createLogger } from '../logger.js';
import { findBackboneBySha, findBaseHead, labelSpace } from '../models/head.repository.js';
import { ImportError, importModel, type LabelMapInput } from '../models/import/importer.js';
import { registerBackbone } from '../models/model.service.js';
import { loadPolicies } from '../policy/loader.js';
import { PolicyRegistry } from '../policy/registry.js';

const USAGE = 'usage: npm run model:import -- <export-dir> [--name NAME] [--label-map FILE.yaml|json] [--out DIR] [--onnx FILE]';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { name: { type: 'string' }, 'label-map': { type: 'string' }, out: { type: 'string' }, onnx: { type: 'string' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [source] = parsed.positionals;
  if (!source || parsed.positionals.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrReport('modtune import');
  if (!config) return 2;
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

    const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger });
    try {
      await migrateToLatest(database.db);
      const existing = await findBackboneBySha(database.db, report.model.sha256);
      const { backbone, head } = existing
        ? { backbone: existing, head: (await findBaseHead(database.db, existing.id))! }
        : await database.db.transaction().execute((trx) => registerBackbone(trx, report.model, 'import', name));
      out(`${existing ? 'already registered' : 'registered'} backbone ${backbone.id} ('${backbone.name}'), base head ${head.id} (v${head.version})`);
      try {
        policies.bind(labelSpace(backbone));
        out(`activate it with: curl -X POST -H "Authorization: Bearer $ADMIN_KEY" http://${config.host}:${config.port}/v1/models/${head.id}/activate`);
      } catch (err) {
        out(`warning: activating it would be refused until the policies cover it:\n${(err as Error).message}`);
      }
    } finally {
      await database.destroy();
    }
    return 0;
  } catch (err) {
    process.stderr.write(`modtune import: ${err instanceof ImportError ? '' : 'failed: '}${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
