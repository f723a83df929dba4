// The bench:score peer: the simplest production-looking server around transformers.js's
// text-classification pipeline, on the same ONNX model as modtune. One request, one pipeline call.
// Usage: node server.mjs <models-root> <model-name> <threads>   (prints {"port": N} when listening)
import express from 'express';
import { env, pipeline } from '@huggingface/transformers';

const [root, name, threads] = process.argv.slice(2);
env.allowRemoteModels = false;
env.localModelPath = root;
const classify = await pipeline('text-classification', name, {
  local_files_only: true,
  dtype: 'fp32',
  device: 'cpu',
  session_options: { intraOpNumThreads: Number(threads) || undefined, interOpNumThreads: 1 },
});

const app = express();
app.post('/v1/moderate', express.json({ limit: '1mb' }), async (req, res) => {
  try {
    const out = await classify(req.body.input, { top_k: null });
    res.json({ results: [out] });
  } catch (err) {
    res.status(500).json({ error: String(err) });
  }
});
const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
