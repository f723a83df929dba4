/**
 * A loaded, validated policy and the pure decision it makes from per-category scores.
 */
import type { PolicyFile } from './schema.js';

export type Action = 'allow' | 'review' | 'block';

export interface CategoryRule {
  flag: number;
  block: number | null;
  uncertaintyMargin: number;
  /** The review page blurs a text the model flagged for this category until revealed. */
  graphic: boolean;
}

export interface Decision {
  action: Action;
  flagged: boolean;
  categories: Record<string, boolean>;
  categoryScores: Record<string, number>;
  /** Categories whose score lies within the uncertainty margin of the flag threshold. */
  uncertain: string[];
  /** Categories at or above their block threshold. */
  blocked: string[];
}

export interface Policy {
  name: string;
  /** Content hash of the file: the exact rules a decision was made under. */
  version: string;
  file: string;
  source: string;
  categories: string[];
  rules: Record<string, CategoryRule>;
  /** Explicit label map from the file (model label → categories, [] = ignored). */
  labelMap: Record<string, string[]>;
  settings: PolicyFile;
}

/**
 * A score as decisions carry it: 6 decimal places. The flag, block and uncertainty tests use it, the API
 * answers with it, and a decision stores it as float4 (migration 0018), which keeps 6 decimal places
 * exactly: what a client was told, what the decision says later and what the threshold advisor replays
 * are one number.
 */
export function roundScore(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

export function decide(policy: Policy, scores: Record<string, number>): Decision {
  const categories: Record<string, boolean> = {};
  const categoryScores: Record<string, number> = {};
  const uncertain: string[] = [];
  const blocked: string[] = [];
  let flagged = false;
  for (const cat of policy.categories) {
    const rule = policy.rules[cat];
    const score = roundScore(scores[cat] ?? 0);
    categoryScores[cat] = score;
    const hit = score >= rule.flag;
    categories[cat] = hit;
    flagged ||= hit;
    if (rule.block !== null && score >= rule.block) blocked.push(cat);
    if (Math.abs(score - rule.flag) <= rule.uncertaintyMargin) uncertain.push(cat);
  }
  const action: Action = blocked.length > 0 ? 'block' : flagged ? 'review' : 'allow';
  return { action, flagged, categories, categoryScores, uncertain, blocked };
}
