/**
 * The MiniLM-L6-shaped BERT (vocab 30522, hidden 384, 6 layers, 12 heads, random weights) that the
 * benchmarks use: it imports, its head is verified at full size, and the runtime scores with it exactly
 * as a plain onnxruntime session does. The reference session is fed by transformers.js' tokenizer, not
 * modtune's SequenceEncoder, so a bug in modtune's truncation, special tokens, pairs or padding fails it.
 * (transformers.js bundles the same @huggingface/tokenizers core, so a bug there would not.)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AutoTokenizer, env } from '@huggingface/transformers';
import ort from 'onnxruntime-node';
import { applyHead, maxAbsDiff } from '../../src/inference/head.js';
import { loadModelDir } from '../../src/inference/model-dir.js';
import { ModelRuntime } from '../../src/inference/runtime.js';
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
    const texts = ['you are a stupid idiot', 'have a nice day', 'the weather is lovely today, thanks for the help, see you tomorrow', 'Ça va? Don’t—WORRY!! naïve café 😀'];
    const pairs = [
      { text: 'what do you mean?', context: 'an earlier message in the thread' },
      { text: 'shut up', context: 'I think the referee was unfair' },
    ];
    const emb = await runtime.embed([...texts.map((text) => ({ text })), ...pairs]);
    const ours = applyHead(model.baseHead, emb.features, texts.length + pairs.length);

    env.allowRemoteModels = false;
    env.localModelPath = path.dirname(src);
    const tokenizer = await AutoTokenizer.from_pretrained(path.basename(src), { local_files_only: true });
    const session = await ort.InferenceSession.create(path.join(src, 'model.onnx'), { executionProviders: ['cpu'] });
    const reference = async (encoded: { input_ids: number[][]; attention_mask: number[][]; token_type_ids?: number[][] }): Promise<Float32Array> => {
      assert.ok(encoded.token_type_ids, 'a BERT tokenizer gives token_type_ids');
      const dims = [encoded.input_ids.length, encoded.input_ids[0].length];
      const tensor = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), dims);
      const out = await session.run({ input_ids: tensor(encoded.input_ids), attention_mask: tensor(encoded.attention_mask), token_type_ids: tensor(encoded.token_type_ids) });
      return out.logits.data as Float32Array;
    };
    const options = { padding: true, truncation: true, max_length: 128, return_tensor: false } as const;
    const singles = await reference(tokenizer(texts, options));
    const paired = await reference(tokenizer(pairs.map((p) => p.text), { ...options, text_pair: pairs.map((p) => p.context) }));
    await session.release();
    const logits = new Float32Array([...singles, ...paired]);
    const diff = maxAbsDiff(ours, logits);
    assert.ok(diff.value <= 1e-4, `runtime head(features) vs the original export's logits on transformers.js token ids: ${diff.value} at ${diff.index}`);
  } finally {
    await runtime.stop();
  }
});
