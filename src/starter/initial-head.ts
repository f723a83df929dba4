/**
 * Trains the starter model's initial head on the synthetic seed phrases (pure: the tokenizer comes in as
 * a function). Features are the graph's own: the normalised masked mean of the phrase's rows.
 */
import { OPENAI_CATEGORIES } from '../policy/categories.js';
import { poolFeatures } from './features.js';
import { fitOneVsRest, type LogisticFit } from './head-fit.js';
import { DEFAULT_SYNTHETIC, labelMatrix, syntheticTrainingSet, type FillerWords } from './training-set.js';

export interface HeadParams {
  l2: number;
  positiveShare: number;
  /**
   * Benign examples whose features are all zero: text made only of unknown words pools to the zero vector,
   * which the head scores by its bias alone; these keep that bias low.
   */
  zeroFeatureNegatives: number;
}

/** Tuned by hand against the sanity probes (see test/starter/starter-sanity.medium.test.ts). */
export const DEFAULT_HEAD_PARAMS: HeadParams = {
  l2: 1e-5,
  positiveShare: 0.1,
  zeroFeatureNegatives: 20,
};

export interface InitialHead {
  /** Row-major [labels, dim], float64 (the graph stores it as float32). */
  weight: Float64Array;
  bias: Float64Array;
  labels: string[];
  examples: number;
  /** Unknown tokens met in the seed phrases (0 when the vocabulary has every seed word). */
  unknownTokens: number;
  fits: LogisticFit[];
}

export interface TrainHeadInput {
  table: Float32Array;
  dim: number;
  encode: (text: string) => number[];
  unkId: number;
  /** Word pools for the random negative phrases (see training-set.ts). */
  filler: FillerWords;
  params?: HeadParams;
  /** mean-max-min pooling: which rows have a vector (features are then 3 × dim). */
  extremes?: { known: Float32Array } | null;
}

export function trainInitialHead(input: TrainHeadInput): InitialHead {
  const params = input.params ?? DEFAULT_HEAD_PARAMS;
  const { table } = input;
  const dim = input.extremes ? 3 * input.dim : input.dim;
  const phrases = syntheticTrainingSet({ ...DEFAULT_SYNTHETIC, filler: input.filler });
  const labels = [...OPENAI_CATEGORIES];
  const n = phrases.length + params.zeroFeatureNegatives;
  const x = new Float64Array(n * dim); // trailing rows stay zero: the zero-feature negatives
  const y = new Uint8Array(n * labels.length);
  y.set(labelMatrix(phrases));
  let unknownTokens = 0;
  phrases.forEach((p, i) => {
    const ids = input.encode(p.text);
    for (const id of ids) if (id === input.unkId) unknownTokens++;
    x.set(poolFeatures(table, input.dim, ids, undefined, input.extremes ?? null), i * dim);
  });
  const fit = fitOneVsRest({ x, n, dim }, y, labels.length, {
    l2: params.l2,
    positiveShare: params.positiveShare,
  });
  return { weight: fit.weight, bias: fit.bias, labels, examples: n, unknownTokens, fits: fit.fits };
}
