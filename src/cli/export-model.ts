/**
 * `npm run model:export -- <head-id | version> <out-dir>`: writes a standalone model directory with a
 * head's weights baked into the classifier (a version number means that version of the active backbone).
 * Beside a server that holds the embedded database, the head's weights come through its API.
 */
import { parseArgs } from 'node:util';
import { loadConfigOrReport } from '../config.js';
import { openDatabase } from '../db/connect.js';
import { migrateToLatest } from '../db/migrator.js';
import { loadModelDir } from '../inference/model-dir.js';
import type { NgramConfig } from '../inference/ngrams.js';
import { createLogger } from '../logger.js';
import { exportHead, type ExportedHead } from '../models/export/exporter.js';
import { getActiveHead, getBackbone, getHead, headIdOfVersion } from '../models/head.repository.js';
import { callService, resolveTarget, SERVER_OPTION, SERVER_USAGE } from './service.js';

const USAGE = `usage: npm run model:export -- <head-id | version> <out-dir> [options]
Writes model.onnx (the head baked into the classifier, its lexical part included), the tokenizer files and
config.json: a directory onnxruntime, transformers.js and model:import load as is.
${SERVER_USAGE}
  --help`;

interface Weights {
  id: string;
  version: number;
  status: string;
  backbone: { name: string; path: string; sha256: string };
  num_labels: number;
  dim: number;
  weight: string;
  bias: string;
  lexical: { tokens: string; weight: string } | null;
  ngrams: { config: NgramConfig; rows: string; buckets: string; weight: string } | null;
}

const f32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const i32 = (b64: string) => {
  const b = Buffer.from(b64, 'base64');
  return new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

interface Found {
  head: ExportedHead & { status: string };
  backbone: { name: string; path: string; sha256: string };
}

async function fromServer(target: { url: string; key: string }, which: string): Promise<Found> {
  let id = which;
  if (/^\d+$/.test(which)) {
    const { data } = await callService<{ data: { id: string; version: number; backbone_id: string; active: boolean }[] }>(target, 'GET', '/v1/models');
    const active = data.find((h) => h.active);
    if (!active) throw new Error('there is no active head, so a bare version number means nothing; give a head id');
    const match = data.find((h) => h.backbone_id === active.backbone_id && h.version === Number(which));
    if (!match) throw new Error(`the active backbone has no head version ${which}`);
    id = match.id;
  }
  const w = await callService<Weights>(target, 'GET', `/v1/models/${encodeURIComponent(id)}/weights`);
  return {
    head: {
      id: w.id,
      version: w.version,
      status: w.status,
      numLabels: w.num_labels,
      dim: w.dim,
      weight: f32(w.weight),
      bias: f32(w.bias),
      lexical: w.lexical ? { tokens: i32(w.lexical.tokens), weight: f32(w.lexical.weight) } : null,
      ngrams: w.ngrams ? { config: w.ngrams.config, rows: i32(w.ngrams.rows), buckets: i32(w.ngrams.buckets), weight: f32(w.ngrams.weight) } : null,
    },
    backbone: w.backbone,
  };
}

async function fromDatabase(config: NonNullable<ReturnType<typeof loadConfigOrReport>>, which: string): Promise<Found> {
  const database = await openDatabase({ url: config.database.url, dataDir: config.database.dataDir, logger: createLogger('warn'), command: 'npm run model:export' });
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
    return { head, backbone: (await getBackbone(database.db, head.backboneId))! };
  } finally {
    await database.destroy();
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, ...SERVER_OPTION } });
  } catch (err) {
    process.stderr.write(`modtune export: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [which, outDir] = parsed.positionals;
  if (!which || !outDir || parsed.positionals.length > 2) {
    process.stderr.write(`modtune export: give a head (id or version) and an output directory\n${USAGE}\n`);
    return 2;
  }
  const config = loadConfigOrReport('modtune export');
  if (!config) return 2;
  const target = await resolveTarget(config, parsed.values.server);
  if (target.kind === 'refuse') {
    process.stderr.write(`modtune export: ${target.message}\n`);
    return 1;
  }
  try {
    const { head, backbone } = target.kind === 'server' ? await fromServer(target, which) : await fromDatabase(config, which);
    const model = await loadModelDir(backbone.path);
    if (model.sha256 !== backbone.sha256) throw new Error(`backbone '${backbone.name}' at ${backbone.path} has changed since it was registered`);
    const dest = await exportHead(model, head, outDir, backbone.name);
    process.stdout.write(`exported head ${head.id} (v${head.version}, ${head.status}) of backbone '${backbone.name}' to ${dest}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`modtune export: ${(err as Error).message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
