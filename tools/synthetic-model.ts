/**
 * `npm run model:synthetic -- --arch bert --preset minilm-l6 --out models/minilm-l6-random [options]`:
 * writes a Hugging Face / optimum style model directory (model.onnx, tokenizer.json, config.json, …) with
 * the shape of a real BERT, DistilBERT, RoBERTa, XLM-R or DeBERTa-v2 classifier export and seeded random
 * weights, for testing model import and for benchmarks. `--quantize` writes transformers.js' layout instead:
 * onnx/model.onnx and onnx/model_quantized.onnx, its int8 version made like onnxruntime's quantize_dynamic.
 */
import { parseArgs } from 'node:util';
import {
  ARCHS,
  buildTransformerClassifier,
  CLASSIFIER_FORMS,
  DROPOUT_FORMS,
  LAYER_NORM_FORMS,
  OutputExistsError,
  PRESETS,
  SpecError,
  type ClassifierOptions,
  type QuantizeOptions,
} from './synthetic/index.js';

const USAGE = `usage: npm run model:synthetic -- --arch ARCH --out DIR [options]
  --arch ${ARCHS.join('|')}
  --out DIR                      where to write the model directory
  --preset ${PRESETS.join('|')}          sizes (default tiny)
  --labels a,b,c                 label names (default: the six Jigsaw toxicity labels)
  --problem-type single|multi    config problem_type (default multi)
  --no-problem-type              leave problem_type out of config.json
  --classifier ${CLASSIFIER_FORMS.join('|')}   final layer form (default gemm)
  --bias-first | --bias-last     operand order of the matmul classifier's Add (default bias first)
  --head-dense matmul|gemm       form of the dense layer before the classifier (default matmul)
  --dropout ${DROPOUT_FORMS.join('|')}  dropout before the classifier (default none)
  --layer-norm ${LAYER_NORM_FORMS.join('|')}    LayerNorm form; fused uses opset 17 (default decomposed, opset 14)
  --opset N                      14 to 17
  --no-token-type-ids            deberta-v2 only: drop the token_type_ids input (deberta-v3 style)
  --seed N                       random seed (default 42)
  --init-std X                   standard deviation of the random weights
  --quantize                     also write onnx/model_quantized.onnx (dynamic int8, like onnxruntime's
                                 quantize_dynamic; the float model goes to onnx/model.onnx)
  --weight-type int8|uint8       quantized weight type (default int8, symmetric)
  --full-range                   8-bit weights instead of quantize_dynamic's reduce_range (7 bits, the
                                 default here: full-range weights overflow onnxruntime's u8·s8 kernels
                                 on x86 CPUs without VNNI, and such a model is refused at import there)
  --per-channel                  one weight scale per output channel instead of one per tensor
  --vocab-size N --hidden N --layers N --heads N --intermediate N --max-positions N   override the preset
  --force                        replace DIR if it exists`;

class UsageError extends Error {}

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got '${value}'`);
  return n;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

function parse(argv: string[]): { options: ClassifierOptions; out: string; force: boolean; quantize?: QuantizeOptions } | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      arch: { type: 'string' },
      out: { type: 'string' },
      preset: { type: 'string' },
      labels: { type: 'string' },
      'problem-type': { type: 'string' },
      'no-problem-type': { type: 'boolean' },
      classifier: { type: 'string' },
      'bias-first': { type: 'boolean' },
      'bias-last': { type: 'boolean' },
      'head-dense': { type: 'string' },
      dropout: { type: 'string' },
      'layer-norm': { type: 'string' },
      opset: { type: 'string' },
      'no-token-type-ids': { type: 'boolean' },
      seed: { type: 'string' },
      'init-std': { type: 'string' },
      'vocab-size': { type: 'string' },
      hidden: { type: 'string' },
      layers: { type: 'string' },
      heads: { type: 'string' },
      intermediate: { type: 'string' },
      'max-positions': { type: 'string' },
      quantize: { type: 'boolean' },
      'full-range': { type: 'boolean' },
      'weight-type': { type: 'string' },
      'per-channel': { type: 'boolean' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const arch = oneOf('arch', values.arch, ARCHS);
  if (!arch) throw new UsageError('--arch is required');
  if (!values.out) throw new UsageError('--out is required');
  if (values['bias-first'] && values['bias-last']) throw new UsageError('--bias-first and --bias-last exclude each other');
  const problem = oneOf('problem-type', values['problem-type'], ['single', 'multi'] as const);
  const weightType = oneOf('weight-type', values['weight-type'], ['int8', 'uint8'] as const);
  if ((weightType || values['per-channel'] || values['full-range']) && !values.quantize) throw new UsageError('--weight-type, --per-channel and --full-range go with --quantize');
  let initStd: number | undefined;
  if (values['init-std'] !== undefined) {
    initStd = Number(values['init-std']);
    if (!Number.isFinite(initStd)) throw new UsageError(`--init-std must be a number, got '${values['init-std']}'`);
  }
  const options: ClassifierOptions = {
    arch,
    preset: oneOf('preset', values.preset, PRESETS),
    labels: values.labels?.split(',').map((l) => l.trim()),
    problemType: problem && (problem === 'single' ? 'single_label_classification' : 'multi_label_classification'),
    writeProblemType: values['no-problem-type'] ? false : undefined,
    classifier: oneOf('classifier', values.classifier, CLASSIFIER_FORMS),
    biasAddOrder: values['bias-last'] ? 'bias-last' : values['bias-first'] ? 'bias-first' : undefined,
    headDense: oneOf('head-dense', values['head-dense'], ['matmul', 'gemm'] as const),
    dropout: oneOf('dropout', values.dropout, DROPOUT_FORMS),
    layerNorm: oneOf('layer-norm', values['layer-norm'], LAYER_NORM_FORMS),
    opset: int('opset', values.opset),
    tokenTypeIds: values['no-token-type-ids'] ? false : undefined,
    seed: int('seed', values.seed),
    initStd,
    vocabSize: int('vocab-size', values['vocab-size']),
    hidden: int('hidden', values.hidden),
    layers: int('layers', values.layers),
    heads: int('heads', values.heads),
    intermediate: int('intermediate', values.intermediate),
    maxPositions: int('max-positions', values['max-positions']),
  };
  // Leave unset options out so the preset and defaults apply.
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as ClassifierOptions;
  const quantize = values.quantize ? { type: weightType ?? 'int8', perChannel: values['per-channel'] ?? false, reduceRange: !values['full-range'] } : undefined;
  return { options: defined, out: values.out, force: values.force ?? false, quantize };
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const started = performance.now();
  try {
    const model = await buildTransformerClassifier(parsed.options, parsed.out, { overwrite: parsed.force, quantize: parsed.quantize });
    const s = model.spec;
    console.log(
      `${s.arch} classifier (vocab ${s.vocabSize}, hidden ${s.hidden}, ${s.layers} layers, ${s.heads} heads, ` +
        `${s.numLabels} labels, opset ${s.opset}) written to ${model.outDir} in ${((performance.now() - started) / 1000).toFixed(2)} s`,
    );
    for (const f of model.files) console.log(`  ${f.name.padEnd(24)} ${String(f.bytes).padStart(11)} bytes  sha256 ${f.sha256.slice(0, 16)}`);
    console.log(`  inputs: ${model.inputs.join(', ')}; output: ${model.outputs.join(', ')}`);
    console.log(
      `  classifier: ${model.head.opTypes.join(' → ')} on '${model.head.featuresTensor}' ` +
        `(weight ${model.head.weight} ${model.head.layout}, bias ${model.head.bias})`,
    );
    if (model.quantizedNodes) {
      console.log(`  onnx/model_quantized.onnx: ${model.quantizedNodes.length} MatMuls → MatMulInteger (${parsed.quantize!.type}${parsed.quantize!.perChannel ? ', per channel' : ''}); Gemm left float`);
    }
    return 0;
  } catch (err) {
    if (err instanceof OutputExistsError) {
      console.error(`${err.message} (pass --force to replace it)`);
      return 2;
    }
    if (err instanceof SpecError) {
      console.error(err.message);
      return 2;
    }
    console.error(`synthetic model build failed: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
