/**
 * The models the benches score with: the starter (models/default, built on first use) and a
 * MiniLM-L6-shaped BERT (6 layers, hidden 384, random weights), built by the synthetic exporter and
 * imported on first use, with a policy that maps its Jigsaw-style labels onto four categories.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../src/logger.js';
import { importModel } from '../src/models/import/importer.js';
import { buildTransformerClassifier } from '../tools/synthetic/index.js';

/** The starter model's directory under `root`, built if it is not there yet. */
export function starterModel(root: string): string {
  const dir = path.join(root, 'models/default');
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/build-model.ts', '--out', dir], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('building the starter model failed');
  }
  return dir;
}

/** The MiniLM-L6-shaped BERT: its export (for transformers.js), its imported directory and a policy for it. */
export async function minilmModel(root: string, log: Logger): Promise<{ exportDir: string; dir: string; policyYaml: string }> {
  const exportDir = path.join(root, 'models/minilm-l6-export');
  const dir = path.join(root, 'models/minilm-l6');
  if (!fs.existsSync(path.join(exportDir, 'config.json'))) {
    process.stdout.write('building the MiniLM-L6-shaped BERT (random weights)…\n');
    await buildTransformerClassifier({ arch: 'bert', preset: 'minilm-l6', classifier: 'gemm' }, exportDir);
  }
  if (!fs.existsSync(path.join(dir, 'config.json'))) await importModel({ sourceDir: exportDir, outDir: dir, logger: log });
  const policyYaml = [
    'categories:',
    '  harassment: { flag: 0.5, block: 0.95 }',
    '  violence: { flag: 0.5, block: 0.9 }',
    '  hate: { flag: 0.5, block: 0.95 }',
    '  sexual: { flag: 0.5, block: 0.95 }',
    'labels: { toxic: harassment, severe_toxic: harassment, insult: harassment, threat: violence, identity_hate: hate, obscene: sexual }',
  ].join('\n');
  return { exportDir, dir, policyYaml };
}

/** A bench model by name: its directory, the directory transformers.js reads, and the policy the service uses. */
export interface BenchModel {
  name: string;
  dir: string;
  /** Where transformers.js finds its files: the starter's own directory, the MiniLM's optimum-style export. */
  source: string;
  policyYaml: string;
}

export async function benchModel(name: string, root: string, log: Logger): Promise<BenchModel> {
  if (name === 'starter') {
    const dir = starterModel(root);
    return { name, dir, source: dir, policyYaml: await fsp.readFile(path.join(root, 'policies/default.yaml'), 'utf8') };
  }
  if (name === 'minilm') {
    const { exportDir, dir, policyYaml } = await minilmModel(root, log);
    return { name, dir, source: exportDir, policyYaml };
  }
  throw new Error(`unknown model '${name}' (starter, minilm)`);
}

/** Lays the model out for the transformers.js peer (bench/peer) under peerRoot/<name>: config, tokenizer, onnx/model.onnx. */
export async function peerModel(m: BenchModel, peerRoot: string, maxLength: number): Promise<void> {
  const peerDir = path.join(peerRoot, m.name);
  await fsp.mkdir(path.join(peerDir, 'onnx'), { recursive: true });
  if (m.name === 'starter') {
    // transformers.js knows architectures by model_type; the starter's graph is fed like a BERT's.
    const config = JSON.parse(await fsp.readFile(path.join(m.dir, 'config.json'), 'utf8'));
    await fsp.writeFile(path.join(peerDir, 'config.json'), JSON.stringify({ ...config, model_type: 'bert', architectures: ['BertForSequenceClassification'] }));
    await fsp.writeFile(path.join(peerDir, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: maxLength }));
    await fsp.copyFile(path.join(m.dir, 'tokenizer.json'), path.join(peerDir, 'tokenizer.json'));
  } else {
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) await fsp.copyFile(path.join(m.source, f), path.join(peerDir, f));
  }
  await fsp.symlink(path.join(m.source, 'model.onnx'), path.join(peerDir, 'onnx', 'model.onnx'));
}
