/**
 * `npm run model:pull -- <repo id> [--revision R] [--dtype fp32|int8] [--name N] [--label-map F]`: downloads a
 * text classifier's ONNX export from the Hugging Face Hub (src/models/hub/pull.ts), then imports and
 * registers it exactly as model:import does (import-flow.ts), recording the repo, the commit and every
 * file's sha256 in the backbone's config (modtune.import.hub).
 */
import { mb, progressPrinter } from '../models/hub/progress.js';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.js';
import { createLogger } from '../logger.js';
import { defaultName, holdsPull, provenanceOf, pullModel, PullError, shippedLabelMap, type Dtype } from '../models/hub/pull.js';
import { ImportError } from '../models/import/importer.js';
import { importAndRegister, NAME_PATTERN } from './import-flow.js';
import { resolveTarget, SERVER_OPTION, SERVER_USAGE, ServiceError } from './service.js';

const USAGE = `usage: npm run model:pull -- <repo id> [options]
Downloads a text-classification model's ONNX export from the Hugging Face Hub (e.g. Xenova/toxic-bert),
checks every file against the hash the Hub states, converts and verifies it like model:import, and
registers it (activate it separately).
  --revision REV                  branch, tag or commit (default main); the commit it names is recorded
  --dtype fp32|int8               which export: onnx/model.onnx (fp32, default) or onnx/model_quantized.onnx (int8)
  --name NAME                     the backbone's name (default: the repo's name, with -int8 for int8)
  --label-map FILE                YAML or JSON: model label -> category, list of categories, or null
                                  (default: policies/label-maps/<owner>--<name>.yaml when there is one)
  --out DIR                       where to write the model (default: next to MODEL_DIR, named NAME)
${SERVER_USAGE}
  --help
Environment: HF_TOKEN (gated or private models), HF_ENDPOINT (a mirror or proxy; default
https://huggingface.co), HF_HUB_CACHE or HF_HOME (the download cache, shared with Python's huggingface_hub;
default ~/.cache/huggingface/hub). An interrupted download resumes on the next pull; a revision pulled
before is used from the cache when the Hub cannot be reached.`;

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        revision: { type: 'string' },
        dtype: { type: 'string' },
        name: { type: 'string' },
        'label-map': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        ...SERVER_OPTION,
      },
    });
  } catch (err) {
    process.stderr.write(`modtune pull: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [repo] = parsed.positionals;
  if (!repo || parsed.positionals.length > 1) {
    process.stderr.write(`modtune pull: ${repo ? 'give one repo id' : 'which model? give a Hub repo id, e.g. Xenova/toxic-bert'}\n${USAGE}\n`);
    return 2;
  }
  const dtype = (parsed.values.dtype ?? 'fp32') as Dtype;
  if (dtype !== 'fp32' && dtype !== 'int8') {
    process.stderr.write(`modtune pull: --dtype must be fp32 or int8, not '${parsed.values.dtype}'\n`);
    return 2;
  }
  const name = parsed.values.name ?? defaultName(repo, dtype);
  if (!NAME_PATTERN.test(name)) {
    process.stderr.write(`modtune pull: --name '${name}' must be letters, digits, '.', '_' or '-'\n`);
    return 2;
  }
  const config = loadConfigOrReport('modtune pull');
  if (!config) return 2;
  const target = await resolveTarget(config, parsed.values.server);
  if (target.kind === 'refuse') {
    process.stderr.write(`modtune pull: ${target.message}\n`);
    return 1;
  }
  const out = (s: string) => process.stdout.write(`${s}\n`);
  try {
    out(`pulling ${repo}@${parsed.values.revision ?? 'main'} (${dtype}) from ${process.env.HF_ENDPOINT || 'https://huggingface.co'}`);
    const pulled = await pullModel({ repo, revision: parsed.values.revision, dtype, progress: progressPrinter(process.stderr) });
    const fetched = pulled.files.reduce((a, f) => a + f.fetched, 0);
    out(
      `${pulled.offline ? 'the Hub is unreachable: using the cached snapshot of' : 'pulled'} ${repo} at commit ${pulled.commit}: ${pulled.files.length} files, ` +
        `${mb(fetched)} fetched, each checked against the Hub's hash; in ${pulled.dir}`,
    );
    const outDir = parsed.values.out ?? path.join(path.dirname(config.model.dir), name);
    let labelMapFile = parsed.values['label-map'];
    const shipped = path.join(config.policy.dir, 'label-maps', `${repo.replace('/', '--')}.yaml`);
    if (!labelMapFile && (await shippedLabelMap(path.dirname(shipped), repo))) {
      labelMapFile = shipped;
      out(`using the label map shipped for ${repo}: ${path.relative(process.cwd(), shipped)}`);
    }
    await importAndRegister({
      config,
      target,
      source: pulled.dir,
      name,
      outDir,
      onnxFile: pulled.onnxFile,
      labelMapFile,
      provenance: provenanceOf(pulled),
      reuse: (m) => holdsPull(m, pulled),
      logger: createLogger('warn'),
      out,
    });
    return 0;
  } catch (err) {
    const known = err instanceof PullError || err instanceof ImportError || err instanceof ServiceError;
    process.stderr.write(`modtune pull: ${known ? '' : 'failed: '}${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
