/**
 * How a model's labels become a policy's category scores. Computed once per (policy, model) pairing;
 * a category that no model label feeds would never fire, so that pairing is refused.
 */
import type { Policy } from './policy.js';

export interface LabelMapping {
  /** For each policy category, the indices of the model labels that feed it. */
  sources: Record<string, number[]>;
  /** Model labels that feed no category (their scores are ignored). */
  unmapped: string[];
  /** Multi-label: a category's score is the max of its labels' sigmoids; single-label: the sum of softmax mass. */
  combine: 'max' | 'sum';
}

/** The model side of a mapping: its labels, how they combine, and the model's own label map (import). */
export interface LabelSpace {
  labels: string[];
  problemType: 'multi_label' | 'single_label';
  /** Model label → categories, from `config.json` (`modtune.label_map`); a policy's `labels:` wins. */
  labelMap?: Record<string, string[]>;
}

export class LabelMappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LabelMappingError';
  }
}

export function mapLabels(policy: Policy, space: LabelSpace): LabelMapping {
  const { labels, problemType } = space;
  const sources: Record<string, number[]> = Object.fromEntries(policy.categories.map((c) => [c, []]));
  const unmapped: string[] = [];
  labels.forEach((label, i) => {
    const explicit = policy.labelMap[label] ?? space.labelMap?.[label];
    // A model label map may name categories this policy does not have; those are simply not used here.
    const targets = explicit ? explicit.filter((c) => c in sources) : label in sources ? [label] : undefined;
    if (targets === undefined || (explicit && explicit.length > 0 && targets.length === 0)) {
      unmapped.push(label);
      return;
    }
    for (const cat of targets) sources[cat].push(i);
  });
  const missingLabels = Object.keys(policy.labelMap).filter((l) => !labels.includes(l));
  const uncovered = policy.categories.filter((c) => sources[c].length === 0);
  if (uncovered.length > 0) {
    throw new LabelMappingError(
      `policy '${policy.name}' (${policy.file}): no model label feeds ${uncovered.map((c) => `'${c}'`).join(', ')}; ` +
        `the model's labels are ${labels.map((l) => `'${l}'`).join(', ')}` +
        (missingLabels.length ? ` (the policy maps labels the model does not have: ${missingLabels.join(', ')})` : '') +
        `. Map a label to each category under 'labels:' or remove the category.`,
    );
  }
  return { sources, unmapped, combine: problemType === 'multi_label' ? 'max' : 'sum' };
}

/** Per-category scores for one item from its per-label probabilities. */
export function categoryScores(mapping: LabelMapping, probs: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [cat, idx] of Object.entries(mapping.sources)) {
    let s = 0;
    if (mapping.combine === 'max') {
      for (const i of idx) s = Math.max(s, probs[i]);
    } else {
      for (const i of idx) s += probs[i];
      s = Math.min(1, s);
    }
    out[cat] = s;
  }
  return out;
}
