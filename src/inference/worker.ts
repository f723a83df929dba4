/**
 * An inference worker: owns one ORT session and a tokenizer, and runs batches sent by the pool (texts,
 * which it tokenizes and pads itself, or pre-tokenized batches). session.run blocks the thread it runs
 * on, which is why this is not on the main thread; tokenizing here keeps it off the request path too.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { tokenRows } from './head.js';
import { NgramFeaturizer, ngramKey, type NgramConfig, type SparseRows } from './ngrams.js';
import type { FromWorker, InputSpec, Tokenized, ToWorker, WorkerInit } from './protocol.js';
import { createWithFallback, sessionProviderOptions } from './providers.js';
import { SequenceEncoder, type Batch } from './tokenizer.js';

const init = workerData as WorkerInit;
const port = parentPort!;
// Hide ORT's native error line for providers that are missing; the pool logs the attempts itself.
ort.env.logLevel = 'fatal';

// Name the thread (Linux; 15 characters at most) before ORT starts any: its threads inherit the name.
try {
  fs.writeFileSync('/proc/thread-self/comm', init.threadName.slice(0, 15));
} catch {
  // not Linux, or /proc not mounted: the name is only for operators and bench:score
}

const post = (msg: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(msg, transfer);

const featurizers = new Map<string, NgramFeaturizer>();

/** The texts' n-gram rows per config: CPU work that stays off the request path, like tokenizing. */
function ngramRows(texts: string[], configs: NgramConfig[]): { key: string; rows: SparseRows }[] {
  return configs.map((c) => {
    const key = ngramKey(c);
    let f = featurizers.get(key);
    if (!f) featurizers.set(key, (f = new NgramFeaturizer(c)));
    return { key, rows: f.rows(texts) };
  });
}

function tensor(type: string, data: BigInt64Array, dims: number[]): ort.Tensor {
  if (type === 'int32') return new ort.Tensor('int32', Int32Array.from(data, Number), dims);
  return new ort.Tensor('int64', data, dims);
}

function feeds(inputs: InputSpec[], b: Batch): Record<string, ort.Tensor> {
  const dims = [b.size, b.seqLen];
  const out: Record<string, ort.Tensor> = {};
  for (const { name, type } of inputs) {
    if (name === 'input_ids') out[name] = tensor(type, b.inputIds, dims);
    else if (name === 'attention_mask') out[name] = tensor(type, b.attentionMask, dims);
    else if (name === 'token_type_ids') out[name] = tensor(type, b.tokenTypeIds, dims);
  }
  return out;
}

async function main(): Promise<void> {
  let encoder: SequenceEncoder;
  let created;
  try {
    encoder = new SequenceEncoder(init.tokenizerJson, init.maxLength);
    created = await createWithFallback(init.providers, (p) =>
      ort.InferenceSession.create(init.onnxPath, {
        executionProviders: sessionProviderOptions(p) as ort.InferenceSession.ExecutionProviderConfig[],
        intraOpNumThreads: init.threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
        // Session config entries (onnxruntime_session_options_config_keys.h): "0" stops the pools spinning.
        ...(init.allowSpinning ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
      }),
    );
  } catch (err) {
    const attempts = (err as { attempts?: { provider: 'cpu'; error: string }[] }).attempts ?? [];
    post({ type: 'init-failed', message: (err as Error).message, attempts });
    return;
  }
  const session = created.value;
  const meta = (session as unknown as { inputMetadata?: { name: string; type?: string }[] }).inputMetadata ?? [];
  const inputs: InputSpec[] = session.inputNames.map((name) => ({
    name,
    type: meta.find((m) => m.name === name)?.type ?? 'int64',
  }));
  post({ type: 'ready', provider: created.provider, attempts: created.attempts, inputs, padId: encoder.padId });

  port.on('message', async (msg: ToWorker) => {
    if (msg.type === 'close') {
      await session.release().catch(() => undefined);
      port.close();
      return;
    }
    const started = performance.now();
    try {
      let batch: Batch;
      let tokens: Tokenized | undefined;
      let ngrams: { key: string; rows: SparseRows }[] | undefined;
      if (msg.type === 'score') {
        const encoded = msg.inputs.map((i) => encoder.encode(i.text, i.context));
        batch = SequenceEncoder.pad(encoded, encoder.padId);
        tokens = flatten(encoded);
        if (msg.ngrams?.length) ngrams = ngramRows(msg.inputs.map((i) => i.text), msg.ngrams);
      } else {
        batch = msg.batch;
      }
      const fetches = msg.wantLogits ? [init.featuresOutput, init.logitsOutput] : [init.featuresOutput];
      const out = await session.run(feeds(inputs, batch), fetches);
      const f = out[init.featuresOutput];
      // Copy into buffers this thread owns so they can be transferred rather than cloned.
      const features = Float32Array.from(f.data as Float32Array);
      const featureDim = Number(f.dims[f.dims.length - 1]);
      const logits = msg.wantLogits ? Float32Array.from(out[init.logitsOutput].data as Float32Array) : undefined;
      const runMs = performance.now() - started;
      const transfer: ArrayBuffer[] = [features.buffer, ...(logits ? [logits.buffer] : [])];
      if (tokens) for (const a of [tokens.ids, tokens.offsets, tokens.tokenCounts, tokens.truncated]) transfer.push(a.buffer as ArrayBuffer);
      for (const g of ngrams ?? []) transfer.push(g.rows.offsets.buffer as ArrayBuffer, g.rows.index.buffer as ArrayBuffer, g.rows.value.buffer as ArrayBuffer);
      post({ type: 'result', id: msg.id, features, featureDim, logits, tokens, ngrams, seqLen: batch.seqLen, runMs }, transfer);
    } catch (err) {
      post({ type: 'error', id: msg.id, message: (err as Error).message.split('\n')[0] });
    }
  });
}

function flatten(encoded: ReturnType<SequenceEncoder['encode']>[]): Tokenized {
  return {
    ...tokenRows(encoded.map((e) => e.ids)),
    tokenCounts: Int32Array.from(encoded, (e) => e.tokenCount),
    truncated: Uint8Array.from(encoded, (e) => (e.truncated ? 1 : 0)),
  };
}

void main();
