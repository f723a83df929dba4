/**
 * The one scorer: a head (its linear and lexical parts) → logits → per-label probabilities → policy
 * category scores. Serving, shadow scoring, the gate's evaluation, the promotion guard and training's
 * reference logits all go through here, so "what the head says about a category" has one definition.
 */
import { applyHead, probabilities, type Head, type TokenRows } from '../inference/head.js';
import type { NgramSource } from '../inference/ngrams.js';
import { categoryScores, type LabelMapping } from '../policy/label-mapping.js';

export type ProbabilityKind = 'sigmoid' | 'softmax';

export function probabilityKind(problemType: string): ProbabilityKind {
  return problemType === 'single_label' ? 'softmax' : 'sigmoid';
}

/** Features (and token ids, for a lexical part; n-gram rows, for an n-gram part) of `n` items. */
export interface ScoringInput {
  features: Float32Array;
  tokens: TokenRows | null;
  /** The items' n-gram rows in whichever config a head asks for; needed only by heads with an n-gram part. */
  ngrams?: NgramSource | null;
  n: number;
}

export class Scorer {
  constructor(
    readonly head: Head,
    readonly kind: ProbabilityKind,
    readonly mapping: LabelMapping,
  ) {}

  /** [n, numLabels] logits. */
  logits(input: ScoringInput): Float64Array {
    const g = this.head.ngrams;
    return applyHead(this.head, input.features, input.n, input.tokens, g && input.ngrams ? input.ngrams(g.config) : null);
  }

  /** Category scores of row `r` of `logits`. */
  categoryScoresAt(logits: Float64Array, r: number): Record<string, number> {
    const C = this.head.numLabels;
    return categoryScores(this.mapping, probabilities(logits, r * C, C, this.kind));
  }

  /** Category scores of every item. */
  score(input: ScoringInput): Record<string, number>[] {
    const logits = this.logits(input);
    return Array.from({ length: input.n }, (_, r) => this.categoryScoresAt(logits, r));
  }
}
