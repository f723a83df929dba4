/**
 * The starter head's behaviour on obvious text, through the real graph (onnxruntime) of the tiny model,
 * whose head is the default model's. The scores table goes to the test output as diagnostics.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import ort from 'onnxruntime-node';
import { OPENAI_CATEGORIES, type OpenAICategory } from '../../src/policy/categories.js';
import { SANITY_PROBES } from '../../src/starter/seeds.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { tinyModelDir } from '../helpers/tiny-model.js';

ort.env.logLevel = 'fatal';

describe('starter model sanity', () => {
  let session: ort.InferenceSession;
  let tokenizer: Tokenizer;
  before(async () => {
    const dir = await tinyModelDir();
    tokenizer = new Tokenizer(JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')), {});
    session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { executionProviders: ['cpu'] });
  });
  after(async () => {
    await session?.release();
  });

  async function scores(text: string): Promise<Record<OpenAICategory, number>> {
    const ids: number[] = tokenizer.encode(text).ids;
    const shape = [1, ids.length];
    const out = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map((v) => BigInt(v))), shape),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), shape),
      token_type_ids: new ort.Tensor('int64', new BigInt64Array(ids.length), shape),
    });
    const logits = out.logits.data as Float32Array;
    return Object.fromEntries(OPENAI_CATEGORIES.map((c, k) => [c, 1 / (1 + Math.exp(-logits[k]))])) as Record<
      OpenAICategory,
      number
    >;
  }

  it('scores threats of killing as violence', async () => {
    for (const text of ['I am going to kill you', 'I will find you and kill you']) {
      const s = await scores(text);
      assert.ok(s.violence >= 0.5, `${text}: violence ${s.violence}`);
    }
  });

  it('scores friendly everyday text below 0.2 on every category', async () => {
    for (const text of ['have a nice day', 'thanks for the help, see you tomorrow', 'the weather is lovely today']) {
      const s = await scores(text);
      for (const c of OPENAI_CATEGORIES) assert.ok(s[c] < 0.2, `${text}: ${c} ${s[c]}`);
    }
  });

  it('meets every expectation listed in SANITY_PROBES', async (t) => {
    const failures: string[] = [];
    for (const probe of SANITY_PROBES) {
      const s = await scores(probe.text);
      const shown = (probe.high ?? []).map((c) => `${c} ${s[c].toFixed(2)}`).join(', ');
      const worst = Math.max(...Object.values(s));
      t.diagnostic(`${probe.text.padEnd(40)} ${probe.maxAll !== undefined ? `max ${worst.toFixed(2)}` : shown}`);
      for (const c of probe.high ?? []) if (s[c] < 0.5) failures.push(`${probe.text}: ${c} ${s[c].toFixed(3)}`);
      if (probe.maxAll !== undefined && worst >= probe.maxAll) failures.push(`${probe.text}: max ${worst.toFixed(3)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('a long benign context does not dilute a threat in the text (context tokens weigh less)', async () => {
    const dir = await tinyModelDir();
    const encoder = new SequenceEncoder(JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')), 256);
    const context = 'the weather is lovely today, thanks for the help, see you tomorrow, have a nice day';
    const withContext = async (text: string, ctx: string) => {
      const b = SequenceEncoder.pad([encoder.encode(text, ctx)], encoder.padId);
      const dims = [1, b.seqLen];
      const out = await session.run({
        input_ids: new ort.Tensor('int64', b.inputIds, dims),
        attention_mask: new ort.Tensor('int64', b.attentionMask, dims),
        token_type_ids: new ort.Tensor('int64', b.tokenTypeIds, dims),
      });
      return 1 / (1 + Math.exp(-(out.logits.data as Float32Array)[OPENAI_CATEGORIES.indexOf('violence')]));
    };
    const threat = await withContext('I will find you and kill you', context);
    assert.ok(threat >= 0.5, `violence with a benign context: ${threat}`);
    const benign = await withContext('have a nice day', 'I will find you and kill you');
    assert.ok(benign < (await scores('I will find you and kill you')).violence, 'a threat in the context counts, but less than in the text');
  });
});
