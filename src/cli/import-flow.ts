/**
 * What model:import and model:pull share once an export is on disk: convert and verify it (importer.ts),
 * report what was found, and register the backbone — through the running server's admin API when one
 * holds the embedded database, else directly (service.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Config } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { loadModelDir, type ModelDir } from '../inference/model-dir.js';
import type { Logger } from '../logger.js';
import { ImportError, importModel, sameImport, type LabelMapInput } from '../models/import/importer.js';
import { RegistryService } from '../admin/registry.service.js';
import { loadPolicies } from '../policy/loader.js';
import { PolicyRegistry } from '../policy/registry.js';
import { callService, type Target } from './service.js';

export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

interface Registered {
  registered: boolean;
  backbone: { id: string; name: string };
  base_head: { id: string; version: number };
  activation_warning: string | null;
}

export interface ImportFlow {
  config: Config;
  target: Exclude<Target, { kind: 'refuse' }>;
  source: string;
  name: string;
  outDir: string;
  onnxFile?: string;
  labelMapFile?: string;
  provenance?: Record<string, unknown>;
  /** An existing outDir that this returns true for is registered as it is instead of refused (a repeated pull). */
  reuse?: (existing: ModelDir) => boolean;
  logger: Logger;
  out: (line: string) => void;
}

export async function readLabelMap(file: string): Promise<LabelMapInput> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ImportError(`--label-map ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  let labelMap: LabelMapInput;
  try {
    labelMap = parseYaml(text) as LabelMapInput; // YAML is a superset of JSON
  } catch (err) {
    throw new ImportError(`--label-map ${file} is not YAML or JSON: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!labelMap || typeof labelMap !== 'object' || Array.isArray(labelMap)) throw new ImportError('the label map must map model labels to a category, a list of categories, or null');
  return labelMap;
}

/** Imports (or reuses) and registers; returns what was registered. Throws ImportError / ServiceError. */
export async function importAndRegister(f: ImportFlow): Promise<{ model: ModelDir; registered: Registered }> {
  const { config, target, out } = f;
  const policies = new PolicyRegistry(await loadPolicies(config.policy.dir), config.policy.defaultName);
  const labelMap = f.labelMapFile ? await readLabelMap(f.labelMapFile) : undefined;
  const existing = await loadModelDir(f.outDir).catch(() => null);
  // The same import again (a pull of the same commit, or the same export and label map): no copy.
  const same = existing !== null && (f.reuse ? f.reuse(existing) : await sameImport(existing, f.source, f.onnxFile, labelMap));
  let model: ModelDir;
  if (existing && same) {
    model = existing;
    out(`${f.outDir} already holds this model: registering it as it is`);
  } else {
    out(`converting ${f.source}${f.onnxFile ? ` (${f.onnxFile})` : ''}: finding the classifier, exposing its input, and checking head(features) against the graph's logits…`);
    const report = await importModel({
      sourceDir: f.source,
      outDir: f.outDir,
      onnxFile: f.onnxFile,
      labelMap,
      knownCategories: [...new Set(policies.all.flatMap((p) => p.categories))],
      logger: f.logger,
      provenance: f.provenance,
    });
    model = report.model;
    out(`imported ${report.architecture}${report.modelType ? ` (${report.modelType})` : ''} from ${report.sourceOnnx} into ${report.outDir}`);
    out(`  inputs: ${report.inputs.join(', ')}; max length ${report.maxLength ?? 'unknown'}; tokenizer ${report.tokenizerVocab} tokens`);
    out(
      `  classifier: ${report.classifier.op} '${report.classifier.weight}' (${report.classifier.layout})${report.classifier.bias ? ` + '${report.classifier.bias}'` : ''}` +
        `${report.classifier.passedOver.length ? `, after ${report.classifier.passedOver.join(', ')}` : ''}; features: '${report.classifier.featuresTensor}' [${report.classifier.hidden}]`,
    );
    out(`  ${report.problemType === 'multi_label' ? 'multi-label (a sigmoid per label)' : 'single-label (a softmax over the labels)'}, ${report.labels.length} labels`);
    for (const [label, cats] of Object.entries(report.labelMap)) out(`    ${label} → ${cats.length ? cats.join(', ') : '(ignored)'}`);
    for (const label of report.unmappedLabels) out(`    ${label} → NOT MAPPED (add it to a label map or a policy's labels: to use its score)`);
    out(`  verified: max |head(features) − logits| = ${report.verifiedMaxAbsDiff.toExponential(2)} (tolerance 1e-4)`);
  }

  let r: Registered;
  if (target.kind === 'server') {
    out(`${target.why}: registering it through ${target.url}`);
    r = await callService<Registered>(target, 'POST', '/v1/models/backbones', { path: path.resolve(model.dir), name: f.name });
  } else {
    const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger: f.logger, command: 'npm run model:import' });
    try {
      await migrateToLatest(database.db);
      r = await new RegistryService(database.db).registerLoaded(model, f.name, policies, { name: 'npm run model:import' });
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
  return { model, registered: r };
}
