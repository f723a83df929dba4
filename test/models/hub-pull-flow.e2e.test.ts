/**
 * `npm run model:pull` as the README runs it, beside a running service, on the embedded database and on
 * PostgreSQL, against a local server that answers like the Hugging Face Hub (HF_ENDPOINT): pull → import →
 * register (through the server's admin API on the embedded database) → activate → the served category
 * scores are onnxruntime's logits on the pulled file, through transformers' softmax-or-sigmoid rule and the
 * label map; the backbone records the repo, commit and file hashes; a second pull downloads nothing. And
 * MODEL=<repo id>: a first start serves the pulled model, or the starter with one log line saying why.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import ort from 'onnxruntime-node';
import { probabilities } from '../../src/inference/head.js';
import { loadModelDir } from '../../src/inference/model-dir.js';
import { activationQuantizationBound } from '../../src/inference/onnx/quantized.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { ensureBuilt } from '../helpers/build.js';
import { seedEmbeddedDatabase, testDatabases } from '../helpers/db.js';
import { FakeHub, transformersJsFiles } from '../helpers/fake-hub.js';
import { startService, type ServiceProcess } from '../helpers/process.js';
import { createScratchDatabase, type ScratchDatabase } from '../helpers/scratch-database.js';
import { npm, serviceDir, type ServiceDir } from '../helpers/service-dir.js';

ort.env.logLevel = 'fatal';
const KEY = 'hub-pull-admin-key-0123456789abcdef';
const LABELS = ['toxic', 'severe_toxic', 'obscene', 'threat', 'insult', 'identity_hate'];
const LABEL_MAP: Record<string, string | null> = { toxic: 'harassment', insult: 'harassment', threat: 'violence', identity_hate: 'hate', severe_toxic: null, obscene: null };
const TEXTS = ['have a nice day', 'you are a stupid idiot', 'I will find you and hurt you'];

async function api(s: ServiceProcess, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.baseUrl}${p}`, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

/** What the pulled file itself says: onnxruntime's logits → transformers' rule → the label map's categories. */
async function reference(modelDir: string, onnxFile: string, kind: 'softmax' | 'sigmoid'): Promise<Record<string, number>[]> {
  const tokenizer = JSON.parse(await fs.readFile(path.join(modelDir, 'tokenizer.json'), 'utf8'));
  const enc = new SequenceEncoder(tokenizer, 256);
  const session = await ort.InferenceSession.create(path.join(modelDir, onnxFile), { executionProviders: ['cpu'] });
  const out: Record<string, number>[] = [];
  for (const text of TEXTS) {
    const b = SequenceEncoder.pad([enc.encode(text)], enc.padId);
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of session.inputNames) {
      feeds[name] = new ort.Tensor('int64', name === 'input_ids' ? b.inputIds : name === 'attention_mask' ? b.attentionMask : b.tokenTypeIds, [1, b.seqLen]);
    }
    const logits = (await session.run(feeds)).logits.data as Float32Array;
    const p = probabilities(logits, 0, LABELS.length, kind);
    const cats: Record<string, number> = {};
    LABELS.forEach((l, i) => {
      const c = LABEL_MAP[l];
      if (c) cats[c] = kind === 'softmax' ? (cats[c] ?? 0) + p[i] : Math.max(cats[c] ?? 0, p[i]);
    });
    out.push(cats);
  }
  await session.release();
  return out;
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const hub = new FakeHub();
let labelMapFile: string;

before(async () => {
  await ensureBuilt();
  // A Hub classifier without problem_type and six labels: transformers applies a softmax.
  hub.add('acme/tiny-toxic', { files: await transformersJsFiles({ arch: 'bert', labels: LABELS, writeProblemType: false }) });
  // The same labels, declared multi-label: a sigmoid per label.
  hub.add('acme/tiny-toxic-multi', { files: await transformersJsFiles({ arch: 'distilbert', labels: LABELS, problemType: 'multi_label_classification' }) });
  // fp32 and int8 (onnxruntime's dynamic quantization, classifier included), multi-label and single-label.
  hub.add('acme/tiny-toxic-q', {
    files: await transformersJsFiles({ arch: 'bert', labels: LABELS, problemType: 'multi_label_classification', classifier: 'matmul', seed: 5 }, { quantize: true }),
  });
  hub.add('acme/tiny-toxic-q-single', {
    files: await transformersJsFiles({ arch: 'bert', labels: LABELS, writeProblemType: false, classifier: 'matmul', seed: 6 }, { quantize: true }),
  });
  await hub.start();
});
after(async () => {
  await hub.stop();
});

const LABEL_MAP_YAML = Object.entries(LABEL_MAP).map(([k, v]) => `${k}: ${v ?? 'null'}`).join('\n');

/** A service directory of the test's own, the fake Hub as HF_ENDPOINT and a Hub cache inside it. */
async function setUp(tag: string): Promise<ServiceDir> {
  const s = await serviceDir(`pull-${tag}`, { key: KEY, labelMap: LABEL_MAP_YAML });
  labelMapFile = s.labelMap;
  return { ...s, env: (extra = {}) => s.env({ HF_ENDPOINT: hub.url, HF_HUB_CACHE: path.join(s.dir, 'hf-cache'), ...extra }) };
}

for (const kind of testDatabases()) {
  describe(`npm run model:pull beside a running service (${kind.name})`, { skip: kind.skip }, () => {
    let scratch: ScratchDatabase | null = null;
    let dir: string;
    let env: Record<string, string>;
    before(async () => {
      const s = await setUp(kind.name);
      dir = s.dir;
      if (kind.name !== 'pglite') scratch = await createScratchDatabase(process.env.TEST_DATABASE_URL!, 'hubpull');
      else await seedEmbeddedDatabase(path.join(dir, 'data'));
      env = s.env(scratch ? { DATABASE_URL: scratch.url } : {});
    });
    after(async () => {
      await scratch?.drop();
      await fs.rm(dir, { recursive: true, force: true });
    });

    test('pull → import → activate: served scores are the pulled file’s, by transformers’ rule; provenance recorded; the second pull fetches nothing', async () => {
      const service = await startService(env);
      try {
        for (const [repo, rule] of [
          ['acme/tiny-toxic', 'softmax'],
          ['acme/tiny-toxic-multi', 'sigmoid'],
        ] as const) {
          const pulled = await npm(['run', 'model:pull', '--', repo, '--label-map', labelMapFile], env);
          assert.equal(pulled.code, 0, pulled.stderr);
          const commit = hub.repos.get(repo)!.commit;
          assert.match(pulled.stdout, new RegExp(`pulled ${repo} at commit ${commit}: 5 files`));
          assert.match(pulled.stdout, rule === 'softmax' ? /single-label \(a softmax over the labels\), 6 labels/ : /multi-label \(a sigmoid per label\), 6 labels/);
          assert.match(pulled.stderr, /onnx\/model\.onnx: fetching [\d.]+ MB\n.*onnx\/model\.onnx: done/s, 'plain progress lines off a terminal');
          const headId = /base head ([0-9a-f-]+) \(v1\)/.exec(pulled.stdout)![1];
          if (kind.name === 'pglite') assert.match(pulled.stdout, /registering it through http:\/\/127\.0\.0\.1:\d+/);

          const head = await api(service, 'GET', `/v1/models/${headId}`);
          assert.equal(head.status, 200);
          assert.equal(head.body.backbone.problem_type, rule === 'softmax' ? 'single_label' : 'multi_label');
          assert.equal(head.body.backbone.hub.repo, repo);
          assert.equal(head.body.backbone.hub.commit, commit);
          const files = hub.repos.get(repo)!.files;
          const { createHash } = await import('node:crypto');
          assert.equal(head.body.backbone.hub.files['onnx/model.onnx'].sha256, createHash('sha256').update(files.get('onnx/model.onnx')!).digest('hex'));

          const activated = await api(service, 'POST', `/v1/models/${headId}/activate`, { reason: 'pulled from the Hub' });
          assert.equal(activated.status, 200, JSON.stringify(activated.body));
          const scored = await api(service, 'POST', '/v1/moderate', { input: TEXTS });
          assert.equal(scored.status, 200, JSON.stringify(scored.body));
          const snapshot = path.join(env.HF_HUB_CACHE, `models--${repo.replace('/', '--')}`, 'snapshots', commit);
          const want = await reference(snapshot, 'onnx/model.onnx', rule);
          scored.body.results.forEach((r: { category_scores: Record<string, number> }, i: number) => {
            for (const [cat, p] of Object.entries(want[i])) assert.ok(Math.abs(r.category_scores[cat] - p) <= 1e-5, `${repo} text ${i} ${cat}: served ${r.category_scores[cat]}, onnxruntime ${p}`);
          });
          if (rule === 'softmax') {
            // A softmax model's categories share one distribution: mapped labels' mass never exceeds 1.
            for (const r of scored.body.results as { category_scores: Record<string, number> }[]) assert.ok(Object.values(r.category_scores).reduce((a, b) => a + b, 0) <= 1 + 1e-6);
          }

          const before = hub.downloads().length;
          const again = await npm(['run', 'model:pull', '--', repo, '--label-map', labelMapFile], env);
          assert.equal(again.code, 0, again.stderr);
          assert.equal(hub.downloads().length, before, 'the second pull downloads no file');
          assert.match(again.stdout, /0\.0 MB fetched/);
          assert.match(again.stdout, /already holds this model: registering it as it is/);
          assert.match(again.stdout, new RegExp(`already registered backbone .*base head ${headId} \\(v1\\)`));
        }
      } finally {
        await service.stop('SIGTERM');
      }
    });

    test('--dtype int8, multi-label and single-label: the quantized file is pulled, its classifier dequantized; served scores within the int8 bound of onnxruntime on that file', async () => {
      const service = await startService(env);
      try {
        for (const [repo, rule] of [
          ['acme/tiny-toxic-q', 'sigmoid'],
          ['acme/tiny-toxic-q-single', 'softmax'],
        ] as const) {
          const repoName = repo.split('/')[1];
          const pulled = await npm(['run', 'model:pull', '--', repo, '--dtype', 'int8', '--label-map', labelMapFile], env);
          assert.equal(pulled.code, 0, pulled.stderr);
          assert.match(pulled.stdout, new RegExp(`from onnx/model_quantized\\.onnx into .*${repoName}-int8`));
          assert.match(pulled.stdout, /classifier: MatMulInteger/);
          assert.match(pulled.stdout, rule === 'softmax' ? /single-label \(a softmax over the labels\), 6 labels/ : /multi-label \(a sigmoid per label\), 6 labels/);
          assert.ok(!hub.downloads().some((l) => l.url.includes(`${repo}/`) && l.url.endsWith('onnx/model.onnx')), 'the float file is not fetched');
          const headId = /base head ([0-9a-f-]+) \(v1\)/.exec(pulled.stdout)![1];
          assert.equal((await api(service, 'POST', `/v1/models/${headId}/activate`, {})).status, 200);
          // One text per request: the graph quantizes activations per batch, so a text's int8 features depend on its batch.
          const imported = await loadModelDir(path.join(dir, 'models', `${repoName}-int8`));
          const session = await ort.InferenceSession.create(imported.onnxPath, { executionProviders: ['cpu'] });
          const enc = new SequenceEncoder(imported.tokenizerJson, 256);
          for (const text of TEXTS) {
            const served = await api(service, 'POST', '/v1/moderate', { input: text });
            assert.equal(served.status, 200);
            const b = SequenceEncoder.pad([enc.encode(text)], enc.padId);
            const feeds: Record<string, ort.Tensor> = {};
            for (const name of session.inputNames) {
              feeds[name] = new ort.Tensor('int64', name === 'input_ids' ? b.inputIds : name === 'attention_mask' ? b.attentionMask : b.tokenTypeIds, [1, b.seqLen]);
            }
            const out = await session.run(feeds);
            const p = probabilities(out.logits.data as Float32Array, 0, LABELS.length, rule);
            // The stated bound b on every logit (README, "int8"): a sigmoid moves at most b/4; a sum of softmax
            // probabilities P at most 2P(1 − P)·b ≤ b/2.
            const { bound } = activationQuantizationBound(out[imported.featuresOutput].data as Float32Array, imported.baseHead.weight, imported.baseHead.numLabels, imported.baseHead.dim);
            const allowed = (1.01 * bound) / (rule === 'sigmoid' ? 4 : 2) + 1e-5;
            for (const [label, cat] of Object.entries(LABEL_MAP)) {
              if (!cat) continue;
              const mine = LABELS.flatMap((l, i) => (LABEL_MAP[l] === cat ? [p[i]] : []));
              const want = rule === 'sigmoid' ? Math.max(...mine) : mine.reduce((a, b) => a + b, 0);
              const got = served.body.results[0].category_scores[cat];
              assert.ok(Math.abs(got - want) <= allowed, `${repo} ${text} ${label}→${cat}: served ${got}, onnxruntime ${want}, allowed ${allowed}`);
            }
          }
          await session.release();
        }
      } finally {
        await service.stop('SIGTERM');
      }
    });
  });
}

describe('MODEL=<repo id> on a first start', () => {
  test('the pulled model serves when the Hub answers; the starter, with one log line why, when it does not', async () => {
    const s = await setUp('first');
    try {
      await fs.writeFile(path.join(s.dir, 'policies', 'label-maps', 'acme--tiny-toxic.yaml'), LABEL_MAP_YAML);
      // A first start is one with no model in the database: a migrated copy of the embedded one has none.
      for (const d of ['data-a', 'data-b']) await seedEmbeddedDatabase(path.join(s.dir, d));
      const pulled = await startService(s.env({ MODEL: 'acme/tiny-toxic', DATA_DIR: path.join(s.dir, 'data-a') }));
      try {
        const ready = await api(pulled, 'GET', '/readyz');
        assert.equal(ready.body.model.backbone, 'tiny-toxic');
        assert.match(pulled.tail(), new RegExp(`first start: serving acme/tiny-toxic at commit ${hub.repos.get('acme/tiny-toxic')!.commit.slice(0, 12)}, pulled from ${hub.url.replace(/\./g, '\\.')} \\(MODEL\\)`));
      } finally {
        await pulled.stop('SIGTERM');
      }

      const down = `http://127.0.0.1:${await closedPort()}`;
      const starter = await startService(s.env({ MODEL: 'acme/other-model', HF_ENDPOINT: down, DATA_DIR: path.join(s.dir, 'data-b') }));
      try {
        const ready = await api(starter, 'GET', '/readyz');
        assert.equal(ready.body.model.backbone, 'default');
        const lines = starter.problems().filter((l) => l.includes('first start: MODEL=acme/other-model could not be used'));
        assert.equal(lines.length, 1, starter.tail());
        assert.match(lines[0], /the starter model serves instead: pulling acme\/other-model@main: cannot reach the Hub at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
      } finally {
        await starter.stop('SIGTERM');
      }
    } finally {
      await fs.rm(s.dir, { recursive: true, force: true });
    }
  });
});
