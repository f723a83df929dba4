import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { InferenceTimeout } from '../../src/inference/errors.js';
import { applyHead, maxAbsDiff } from '../../src/inference/head.js';
import { loadModelDir, ModelError } from '../../src/inference/model-dir.js';
import { ModelRuntime, providerSkipped, type RuntimeOptions } from '../../src/inference/runtime.js';
import { SequenceEncoder } from '../../src/inference/tokenizer.js';
import { chooseLayout } from '../../src/inference/calibrate.js';
import { decodeModel, decodeTensor, tensorToFloat32 } from '../../src/inference/onnx/model.js';
import { readInitializers } from '../../src/inference/onnx/wire.js';
import { quietLogger } from '../helpers/db.js';
import { waitFor } from '../helpers/process.js';
import { TINY_MODEL_TEXTS, tinyModelDir } from '../helpers/tiny-model.js';

const opts: RuntimeOptions = {
  providers: ['cuda', 'webgpu', 'cpu'],
  workers: 2,
  threadsPerWorker: 1,
  maxSequenceLength: 64,
  batchMaxSize: 8,
  batchMaxWaitMs: 2,
};

describe('model runtime', () => {
  let runtime: ModelRuntime;
  before(async () => {
    runtime = await ModelRuntime.start(await loadModelDir(await tinyModelDir()), opts, quietLogger());
  });
  after(async () => {
    await runtime?.stop();
  });

  test('falls back to the CPU provider where no GPU provider can start', () => {
    assert.equal(runtime.provider, 'cpu');
    assert.equal(runtime.workers, 2);
  });

  test("a missing CUDA library is said as what it is on a CPU machine, not as the service's error", () => {
    const said = providerSkipped('cuda', 'Failed to load shared library libonnxruntime_providers_cuda.so: libcublasLt.so.12: cannot open shared object file');
    assert.match(said, /^CUDA is not available here .*expected on a machine without an NVIDIA GPU/);
    assert.doesNotMatch(said, /Failed to load/);
    assert.match(providerSkipped('webgpu', 'no adapter'), /^WebGPU is not available here/);
  });

  test('head(features) from the workers equals the logits of an independent ORT session', async () => {
    const texts = [...TINY_MODEL_TEXTS];
    const emb = await runtime.embed(texts.map((text) => ({ text })));
    const ours = applyHead(runtime.model.baseHead, emb.features, texts.length);

    ort.env.logLevel = 'fatal';
    const session = await ort.InferenceSession.create(runtime.model.onnxPath, { executionProviders: ['cpu'] });
    const batch = SequenceEncoder.pad(texts.map((t) => runtime.encoder.encode(t)), runtime.encoder.padId);
    const dims = [batch.size, batch.seqLen];
    const out = await session.run({
      input_ids: new ort.Tensor('int64', batch.inputIds, dims),
      attention_mask: new ort.Tensor('int64', batch.attentionMask, dims),
      token_type_ids: new ort.Tensor('int64', batch.tokenTypeIds, dims),
    });
    await session.release();
    const diff = maxAbsDiff(ours, out.logits.data as Float32Array);
    assert.ok(diff.value <= 1e-4, `max |head(features) - logits| = ${diff.value}`);
    assert.equal(emb.dim, runtime.model.baseHead.dim);
    assert.equal(emb.tokenCounts.length, texts.length);
  });

  test('the workers tokenize: ids, counts and truncation are what the tokenizer gives on its own', async () => {
    const long = Array.from({ length: 200 }, (_, i) => `word${i % 17}`).join(' ');
    const inputs = [{ text: TINY_MODEL_TEXTS[0] }, { text: long }, { text: 'a reply', context: TINY_MODEL_TEXTS[1] }, { text: '' }];
    const emb = await runtime.embed(inputs);
    inputs.forEach((input, r) => {
      const e = runtime.encoder.encode(input.text, input.context);
      assert.deepEqual([...emb.tokens.ids.subarray(emb.tokens.offsets[r], emb.tokens.offsets[r + 1])], e.ids, `row ${r} ids`);
      assert.equal(emb.tokenCounts[r], e.tokenCount, `row ${r} token count`);
      assert.equal(emb.truncated[r], e.truncated, `row ${r} truncated`);
    });
    assert.equal(emb.truncated[1], true, 'the long text was cut to the maximum length');
  });

  test('the batch size was calibrated at load, among the sizes up to the maximum, and the threads are named', async () => {
    const c = runtime.calibration;
    assert.ok(c, 'calibration ran');
    assert.deepEqual(c.points.map((p) => p.size), [1, 2, 4, 8].slice(0, c.points.length));
    assert.ok(c.points.every((p) => p.msPerText > 0 && Number.isFinite(p.msPerText)));
    assert.equal(runtime.batchSize, c.size);
    assert.ok([1, 2, 4, 8].includes(runtime.batchSize));
    if (process.platform === 'linux') {
      const names = (await fs.readdir(`/proc/${process.pid}/task`)).map((t) => fs.readFile(`/proc/${process.pid}/task/${t}/comm`, 'utf8').catch(() => ''));
      const comms = (await Promise.all(names)).map((n) => n.trim());
      assert.ok(comms.includes('mt-infer-0') && comms.includes('mt-infer-1'), `thread names: ${[...new Set(comms)].join(', ')}`);
    }
  });

  test('many concurrent single requests are batched and each gets its own features', async () => {
    const texts = TINY_MODEL_TEXTS.slice(0, 12);
    const together = await runtime.embed(texts.map((text) => ({ text })));
    const separately = await Promise.all(texts.map((text) => runtime.embed([{ text }])));
    separately.forEach((s, i) => {
      const row = together.features.subarray(i * together.dim, (i + 1) * together.dim);
      assert.ok(maxAbsDiff(s.features, row).value < 1e-6, `row ${i} differs between batched and single runs`);
    });
  });
});

describe('batch calibration off', () => {
  test('BATCH_CALIBRATE=false keeps BATCH_MAX_SIZE; a batch size of 1 is never calibrated', async () => {
    const dir = await loadModelDir(await tinyModelDir());
    for (const [o, size] of [
      [{ ...opts, workers: 1, batchCalibrate: false }, 8],
      [{ ...opts, workers: 1, batchMaxSize: 1 }, 1],
    ] as const) {
      const rt = await ModelRuntime.start(dir, o, quietLogger());
      try {
        assert.equal(rt.calibration, null);
        assert.equal(rt.batchSize, size);
        assert.equal((await rt.embed([{ text: 'still scores' }])).tokenCounts.length, 1);
      } finally {
        await rt.stop();
      }
    }
  });
});

describe('layout calibration', () => {
  test('with several layouts, each is measured and the chosen one serves: its session count, its batch size', async () => {
    const rt = await ModelRuntime.start(
      await loadModelDir(await tinyModelDir()),
      { ...opts, layouts: [{ workers: 2, threads: 1 }, { workers: 1, threads: 1 }] },
      quietLogger(),
    );
    try {
      assert.ok(rt.layout, 'calibration measured the layouts');
      assert.deepEqual(rt.layout.points.map((p) => p.workers), [1, 2], 'fewest sessions first');
      const chosen = chooseLayout(rt.layout.points);
      assert.deepEqual({ workers: rt.layout.workers, threads: rt.layout.threads }, { workers: chosen.workers, threads: chosen.threads });
      assert.equal(rt.workers, chosen.workers, "the chosen layout's pool serves; the other was stopped");
      assert.equal(rt.batchSize, chosen.size);
      assert.equal((await rt.embed([{ text: 'still scores' }])).tokenCounts.length, 1);
    } finally {
      await rt.stop();
    }
  });

  test('calibration off, or one layout given: no layout is measured', async () => {
    const dir = await loadModelDir(await tinyModelDir());
    for (const o of [
      { ...opts, workers: 1, batchCalibrate: false, layouts: [{ workers: 1, threads: 1 }, { workers: 2, threads: 1 }] },
      { ...opts, workers: 1, layouts: [{ workers: 1, threads: 1 }] },
    ]) {
      const rt = await ModelRuntime.start(dir, o, quietLogger());
      try {
        assert.equal(rt.layout, null);
        assert.equal(rt.workers, 1);
      } finally {
        await rt.stop();
      }
    }
  });
});

describe('inference timeout', () => {
  /** The runtime's one worker thread (private): the test makes it stop answering. */
  function onlyWorker(rt: ModelRuntime): Worker {
    const pool = (rt as unknown as { pool: { slots: { worker: Worker }[] } }).pool;
    assert.equal(pool.slots.length, 1);
    return pool.slots[0].worker;
  }

  test('a worker that never answers: its batch fails with InferenceTimeout (not split and retried), the worker is replaced, the next request succeeds', async () => {
    const rt = await ModelRuntime.start(
      await loadModelDir(await tinyModelDir()),
      { ...opts, workers: 1, batchCalibrate: false, batchMaxWaitMs: 20, inferenceTimeoutMs: 150 },
      quietLogger(),
    );
    try {
      const hung = onlyWorker(rt);
      // Its batches never reach it, so it never answers: a hung session, as far as the pool can tell.
      const swallowed: unknown[] = [];
      hung.postMessage = (msg: unknown) => void swallowed.push(msg);
      const texts = Array.from({ length: 4 }, () => ({ text: TINY_MODEL_TEXTS[0] }));
      const results = await Promise.allSettled(texts.map((t) => rt.embed([t])));
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        assert.ok(r.reason instanceof InferenceTimeout, String(r.reason));
        assert.match(r.reason.message, /inference did not finish within 150 ms/);
      }
      assert.equal(swallowed.length, 1, 'the four were one batch, sent once');
      // A split retry would have failed on the way with "no inference worker is running", not the timeout.

      await waitFor(() => rt.workers === 1 && onlyWorker(rt) !== hung, 'a replacement worker', 60_000);
      assert.ok(rt.workerMemory.has('mt-infer-1'), 'the replacement is a new thread');
      const emb = await rt.embed([{ text: TINY_MODEL_TEXTS[1] }]);
      assert.equal(emb.tokenCounts.length, 1);
    } finally {
      await rt.stop();
    }
  });
});

describe('model refusal', () => {
  test('a model whose head does not reproduce the graph logits is refused, naming the mismatch', async () => {
    const dir = await tinyModelDir({ logitOffset: 0.5 });
    await assert.rejects(
      ModelRuntime.start(await loadModelDir(dir), { ...opts, workers: 1 }, quietLogger()),
      (err: Error) => {
        assert.ok(err instanceof ModelError);
        assert.match(err.message, /head verification failed: head\(features\) differs from the graph's logits by up to 5\.000e-1/);
        assert.match(err.message, /tolerance 0\.0001/);
        return true;
      },
    );
  });

  async function brokenCopy(edit: (config: Record<string, any>) => void): Promise<string> {
    const src = await tinyModelDir();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-broken-'));
    for (const f of ['model.onnx', 'tokenizer.json']) await fs.copyFile(path.join(src, f), path.join(dir, f));
    const config = JSON.parse(await fs.readFile(path.join(src, 'config.json'), 'utf8'));
    edit(config);
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(config));
    return dir;
  }

  test('config problems are refused with what was found and what was expected', async () => {
    await assert.rejects(loadModelDir(await brokenCopy((c) => delete c.modtune)), /no 'modtune' section; it must name the graph output .*features_output/);
    await assert.rejects(loadModelDir(await brokenCopy((c) => (c.modtune.head.weight = 'nope'))), /classifier weight 'nope' named in config.json is not an initializer/);
    await assert.rejects(loadModelDir(await brokenCopy((c) => (c.id2label = { 0: 'a', 1: 'b' }))), /has 13 outputs but config.json id2label has 2 labels/);
    await assert.rejects(loadModelDir(await brokenCopy((c) => (c.id2label = { 0: 'a', 2: 'b' }))), /without gaps/);
    await assert.rejects(loadModelDir(await brokenCopy((c) => (c.modtune.head.layout = 'in_out'))), /has 100 outputs but config.json id2label has 13/);
    await assert.rejects(loadModelDir(path.join(os.tmpdir(), 'no-such-model-dir')), /no model\.onnx/);
  });

  test('the base head is read from the graph at the wire level: the same tensors a full decode finds; a damaged file is refused', async () => {
    const src = await tinyModelDir();
    const bytes = new Uint8Array(await fs.readFile(path.join(src, 'model.onnx')));
    const config = JSON.parse(await fs.readFile(path.join(src, 'config.json'), 'utf8'));
    const { weight, bias } = config.modtune.head as { weight: string; bias: string };
    const found = readInitializers(bytes, new Set([weight, bias, 'no-such-tensor']));
    assert.deepEqual([...found.keys()].sort(), [bias, weight].sort());
    const full = new Map(decodeModel(bytes).graph.initializer.map((t) => [t.name, t]));
    for (const name of [weight, bias]) {
      assert.deepEqual(tensorToFloat32(decodeTensor(found.get(name)!)), tensorToFloat32(full.get(name)!));
    }
    const head = (await loadModelDir(src)).baseHead;
    assert.deepEqual([...head.bias], [...tensorToFloat32(full.get(bias)!).data]);

    const dir = await brokenCopy(() => undefined);
    await fs.writeFile(path.join(dir, 'model.onnx'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await assert.rejects(loadModelDir(dir), /model\.onnx cannot be parsed as ONNX/);
  });

  test('a features output that is not what the classifier sees is refused', async () => {
    // Point "features" at the raw token vectors' output name to break the contract.
    const dir = await brokenCopy((c) => (c.modtune.features_output = 'logits'));
    await assert.rejects(
      ModelRuntime.start(await loadModelDir(dir), { ...opts, workers: 1 }, quietLogger()),
      /the features output 'logits' has 13 values per item but the classifier expects 100/,
    );
  });
});
