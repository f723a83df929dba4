/**
 * What a synthetic Hugging Face sequence classifier looks like: its architecture, sizes, labels and the
 * export variants that real torch.onnx / optimum exports differ in. Pure: presets, defaults, validation.
 */

export const ARCHS = ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'deberta-v2'] as const;
export type Arch = (typeof ARCHS)[number];

export const PRESETS = ['tiny', 'minilm-l6'] as const;
export type PresetName = (typeof PRESETS)[number];

export type ProblemType = 'multi_label_classification' | 'single_label_classification';

/**
 * The final classification layer:
 * - `gemm`: Gemm(x, W[numLabels, hidden], b, transB=1), what torch.onnx emits for nn.Linear on a 2-D input;
 * - `gemm-nt`: Gemm(x, W[hidden, numLabels], b) without transB (a pre-transposed weight);
 * - `matmul`: MatMul(x, W[hidden, numLabels]) then Add with the bias, as in optimum exports that keep a
 *   3-D-style linear; the weight gets a torch-style `onnx::MatMul_N` name.
 */
export const CLASSIFIER_FORMS = ['gemm', 'gemm-nt', 'matmul'] as const;
export type ClassifierForm = (typeof CLASSIFIER_FORMS)[number];

/** Eval exports drop dropout; some exports keep it as an Identity or as Dropout(training_mode=false). */
export const DROPOUT_FORMS = ['none', 'identity', 'dropout'] as const;
export type DropoutForm = (typeof DROPOUT_FORMS)[number];

/** `decomposed`: ReduceMean/Sub/Pow/…/Add as opset < 17 exports have; `fused`: LayerNormalization (opset 17). */
export const LAYER_NORM_FORMS = ['decomposed', 'fused'] as const;
export type LayerNormForm = (typeof LAYER_NORM_FORMS)[number];

/** Operand order of a MatMul+Add linear's Add: torch's `linear` symbolic emits Add(bias, MatMul). */
export const BIAS_ADD_ORDERS = ['bias-first', 'bias-last'] as const;
export type BiasAddOrder = (typeof BIAS_ADD_ORDERS)[number];

export interface ModelSizes {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  /** Longest token sequence the model accepts (RoBERTa-style tables get padding_idx + 1 extra rows). */
  maxPositions: number;
  /** Standard deviation of the random weights (LayerNorm weights are 1 and their biases 0 regardless). */
  initStd: number;
}

export const PRESET_SIZES: Record<PresetName, ModelSizes> = {
  // BERT's N(0, 0.02) at width 32 makes every layer a near-identity, so the logits of any two texts
  // differ by ~1e-4: useless for checking masks or features. 0.1 ≈ 0.02·√(768/32) gives each layer the
  // gain BERT-base's init has at width 768, and texts then move the logits by ~5e-2.
  tiny: { vocabSize: 1000, hidden: 32, layers: 2, heads: 4, intermediate: 64, maxPositions: 128, initStd: 0.1 },
  // sentence-transformers/all-MiniLM-L6-v2 and the MiniLM-L6 classifiers fine-tuned from it; BERT's init.
  'minilm-l6': { vocabSize: 30522, hidden: 384, layers: 6, heads: 12, intermediate: 1536, maxPositions: 512, initStd: 0.02 },
};

/** Jigsaw's labels, as unitary/toxic-bert and most open toxicity classifiers name them. */
export const DEFAULT_LABELS = ['toxic', 'severe_toxic', 'obscene', 'threat', 'insult', 'identity_hate'] as const;

export interface ClassifierSpec extends ModelSizes {
  arch: Arch;
  numLabels: number;
  labels: string[];
  problemType: ProblemType;
  /** Write `problem_type` into config.json (real configs sometimes lack it). */
  writeProblemType: boolean;
  seed: number;
  classifier: ClassifierForm;
  /** Form of the dense layer before the classifier (pooler / pre_classifier / head dense). */
  headDense: 'matmul' | 'gemm';
  biasAddOrder: BiasAddOrder;
  dropout: DropoutForm;
  layerNorm: LayerNormForm;
  opset: number;
  /** DeBERTa-v2 only: whether the graph takes token_type_ids (deberta-v3 exports usually do not). */
  tokenTypeIds: boolean;
}

export interface ClassifierOptions extends Partial<Omit<ClassifierSpec, 'arch'>> {
  arch: Arch;
  preset?: PresetName;
}

export class SpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpecError';
  }
}

/** Fills in the preset (default `tiny`) and defaults, then validates; every problem is named in one error. */
export function resolveSpec(opts: ClassifierOptions): ClassifierSpec {
  const problems: string[] = [];
  if (!ARCHS.includes(opts.arch)) problems.push(`arch must be one of ${ARCHS.join(', ')}, got '${opts.arch}'`);
  const presetName = opts.preset ?? 'tiny';
  if (!PRESETS.includes(presetName)) problems.push(`preset must be one of ${PRESETS.join(', ')}, got '${presetName}'`);
  const preset = PRESET_SIZES[presetName] ?? PRESET_SIZES.tiny;
  const layerNorm = opts.layerNorm ?? 'decomposed';
  const labels =
    opts.labels ??
    (opts.numLabels !== undefined
      ? Array.from({ length: opts.numLabels }, (_, i) => `LABEL_${i}`)
      : [...DEFAULT_LABELS]);
  const spec: ClassifierSpec = {
    arch: opts.arch,
    vocabSize: opts.vocabSize ?? preset.vocabSize,
    hidden: opts.hidden ?? preset.hidden,
    layers: opts.layers ?? preset.layers,
    heads: opts.heads ?? preset.heads,
    intermediate: opts.intermediate ?? preset.intermediate,
    maxPositions: opts.maxPositions ?? preset.maxPositions,
    initStd: opts.initStd ?? preset.initStd,
    numLabels: opts.numLabels ?? labels.length,
    labels,
    problemType: opts.problemType ?? 'multi_label_classification',
    writeProblemType: opts.writeProblemType ?? true,
    seed: opts.seed ?? 42,
    classifier: opts.classifier ?? 'gemm',
    headDense: opts.headDense ?? 'matmul',
    biasAddOrder: opts.biasAddOrder ?? 'bias-first',
    dropout: opts.dropout ?? 'none',
    layerNorm,
    opset: opts.opset ?? (layerNorm === 'fused' ? 17 : 14),
    tokenTypeIds: opts.tokenTypeIds ?? true,
  };
  const positive = ['vocabSize', 'hidden', 'layers', 'heads', 'intermediate', 'maxPositions', 'numLabels'] as const;
  for (const key of positive) {
    if (!Number.isInteger(spec[key]) || spec[key] <= 0) problems.push(`${key} must be a positive integer, got ${spec[key]}`);
  }
  if (!(spec.initStd > 0 && spec.initStd < 10)) problems.push(`initStd must be in (0, 10), got ${spec.initStd}`);
  if (spec.hidden % spec.heads !== 0) problems.push(`hidden (${spec.hidden}) must be a multiple of heads (${spec.heads})`);
  if (spec.vocabSize < 400) problems.push(`vocabSize must be at least 400 (special tokens and the alphabet), got ${spec.vocabSize}`);
  if (spec.maxPositions < 8) problems.push(`maxPositions must be at least 8, got ${spec.maxPositions}`);
  if (spec.labels.length !== spec.numLabels) {
    problems.push(`${spec.labels.length} labels given but numLabels is ${spec.numLabels}`);
  }
  if (new Set(spec.labels).size !== spec.labels.length || spec.labels.some((l) => l.length === 0)) {
    problems.push('labels must be distinct and non-empty');
  }
  if (!Number.isInteger(spec.seed)) problems.push(`seed must be an integer, got ${spec.seed}`);
  if (!CLASSIFIER_FORMS.includes(spec.classifier)) problems.push(`classifier must be one of ${CLASSIFIER_FORMS.join(', ')}`);
  if (!['matmul', 'gemm'].includes(spec.headDense)) problems.push(`headDense must be matmul or gemm`);
  if (!BIAS_ADD_ORDERS.includes(spec.biasAddOrder)) problems.push(`biasAddOrder must be one of ${BIAS_ADD_ORDERS.join(', ')}`);
  if (!DROPOUT_FORMS.includes(spec.dropout)) problems.push(`dropout must be one of ${DROPOUT_FORMS.join(', ')}`);
  if (!LAYER_NORM_FORMS.includes(spec.layerNorm)) problems.push(`layerNorm must be one of ${LAYER_NORM_FORMS.join(', ')}`);
  if (!['multi_label_classification', 'single_label_classification'].includes(spec.problemType)) {
    problems.push(`problemType must be multi_label_classification or single_label_classification`);
  }
  if (!Number.isInteger(spec.opset) || spec.opset < 14 || spec.opset > 17) problems.push(`opset must be 14 to 17, got ${spec.opset}`);
  else if (spec.layerNorm === 'fused' && spec.opset < 17) problems.push(`layerNorm 'fused' (LayerNormalization) needs opset 17, got ${spec.opset}`);
  if (opts.tokenTypeIds === false && spec.arch !== 'deberta-v2') {
    problems.push('tokenTypeIds can only be turned off for deberta-v2 (the other families have fixed inputs)');
  }
  if (problems.length > 0) throw new SpecError(`invalid synthetic model spec: ${problems.join('; ')}`);
  return spec;
}

/** The graph inputs the family's optimum export has, in order. */
export function inputNames(spec: Pick<ClassifierSpec, 'arch' | 'tokenTypeIds'>): string[] {
  switch (spec.arch) {
    case 'bert':
      return ['input_ids', 'attention_mask', 'token_type_ids'];
    case 'deberta-v2':
      return spec.tokenTypeIds ? ['input_ids', 'attention_mask', 'token_type_ids'] : ['input_ids', 'attention_mask'];
    default:
      return ['input_ids', 'attention_mask'];
  }
}

/** RoBERTa and XLM-R pad with id 1 and number positions from padding_idx + 1. */
export function paddingId(arch: Arch): number {
  return arch === 'roberta' || arch === 'xlm-roberta' ? 1 : 0;
}

/** Rows of the position table: RoBERTa-style models reserve padding_idx + 1 positions (514 for 512 tokens). */
export function positionRows(spec: Pick<ClassifierSpec, 'arch' | 'maxPositions'>): number {
  return spec.arch === 'roberta' || spec.arch === 'xlm-roberta' ? spec.maxPositions + paddingId(spec.arch) + 1 : spec.maxPositions;
}

export function layerNormEps(arch: Arch): number {
  switch (arch) {
    case 'roberta':
    case 'xlm-roberta':
      return 1e-5;
    case 'deberta-v2':
      return 1e-7;
    default:
      return 1e-12;
  }
}
