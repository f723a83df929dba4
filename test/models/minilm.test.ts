/**
 * The MiniLM-L6-shaped BERT (vocab 30522, hidden 384, 6 layers, 12 heads, random weights) that the
 * benchmarks use: it imports, its head is verified at full size, and the runtime scores with it exactly
 * as a plain onnxruntime session does.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import ort from 'onnxruntime-node';
import { applyHead, maxAbsDiff } from '../../src/inference/head.js';
import { loadModelDir } from '../../src/inference/model-dir.js';
import { ModelRuntime } from '../../src/inference/runtime.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { importModel } from '../../src/models/import/importer.js';
import { quietLogger } from '../helpers/db.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';

ort.env.logLevel = 'fatal';
let work: string;
before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-minilm-'));
});
after(async () => {
  await fs.rm(work, { recursive: true, force: true });
});

test('MiniLM-L6-shaped BERT: import, verify at full size, score like onnxruntime', async () => {
  const src = await fixtureModelDir('bert', { preset: 'minilm-l6', classifier: 'gemm' });
  const config = JSON.parse(await fs.readFile(path.join(src, 'config.json'), 'utf8'));
  assert.deepEqual(
    [config.vocab_size, config.hidden_size, config.num_hidden_layers, config.num_attention_heads, config.intermediate_size],
    [30522, 384, 6, 12, 1536],
  );
  const r = await importModel({ sourceDir: src, outDir: path.join(work, 'minilm'), logger: quietLogger() });
  assert.equal(r.classifier.hidden, 384);
  assert.ok(r.verifiedMaxAbsDiff <= 1e-4, String(r.verifiedMaxAbsDiff));
  assert.equal(r.maxLength, 512);

  const model = await loadModelDir(r.outDir);
  const runtime = await ModelRuntime.start(model, { providers: ['cpu'], workers: 1, threadsPerWorker: 2, maxSequenceLength: 128, batchMaxSize: 8, batchMaxWaitMs: 1 }, quietLogger());
  try {
    const texts = ['you are a stupid idiot', 'have a nice day', 'the weather is lovely today, thanks for the help, see you tomorrow'];
    const emb = await runtime.embed(texts.map((text) => ({ text })));
    const ours = applyHead(model.baseHead, emb.features, texts.length);
    const session = await ort.InferenceSession.create(path.join(src, 'model.onnx'), { executionProviders: ['cpu'] });
    const enc = new SequenceEncoder(model.tokenizerJson, 128);
    const b = SequenceEncoder.pad(texts.map((t) => enc.encode(t)), enc.padId);
    const dims = [b.size, b.seqLen];
    const logits = (await session.run({
      input_ids: new ort.Tensor('int64', b.inputIds, dims),
      attention_mask: new ort.Tensor('int64', b.attentionMask, dims),
      token_type_ids: new ort.Tensor('int64', b.tokenTypeIds, dims),
    })).logits.data as Float32Array;
    await session.release();
    const diff = maxAbsDiff(ours, logits);
    assert.ok(diff.value <= 1e-4, `runtime head(features) vs the original export's logits: ${diff.value}`);
  } finally {
    await runtime.stop();
  }
});
