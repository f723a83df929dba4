import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { parsePolicy } from '../../src/policy/loader.js';
import type { Policy } from '../../src/policy/policy.js';

/**
 * A small policy for review tests: three categories with round thresholds, every decision audited
 * (so every scored item becomes a task) unless `review` says otherwise. Tasks show the model's decision
 * (`blind: none`) unless `review.blind` says otherwise: most tests echo it back.
 */
export function reviewPolicy(name = 'default', review: Record<string, unknown> = {}, sections: Record<string, Record<string, unknown>> = {}): Policy {
  return parsePolicy(name, reviewPolicyYaml(review, sections));
}

const THREE_CATEGORIES: Record<string, string> = {
  violence: '{ flag: 0.5, block: 0.9 }',
  harassment: '{ flag: 0.5, block: 0.95 }',
  hate: '{ flag: 0.5, block: 0.95 }',
};

/** The shipped policy's 13 OpenAI categories, each flagged at 0.5 and blocked at `block`; `graphic` ones marked so. */
export function openAiCategories(block = 0.95, graphic: readonly string[] = []): Record<string, string> {
  return Object.fromEntries(OPENAI_CATEGORIES.map((c) => [c, `{ flag: 0.5, block: ${block}${graphic.includes(c) ? ', graphic: true' : ''} }`]));
}

/** The same policy as YAML, for a policy directory that a server process reads; `categories` replaces the three. */
export function reviewPolicyYaml(
  review: Record<string, unknown> = {},
  sections: Record<string, Record<string, unknown>> = {},
  categories: Record<string, string> = THREE_CATEGORIES,
): string {
  const settings = { audit_rate: 1, reviews_per_task: 1, audit_reviews_per_task: 1, blind: 'none', ...review };
  return [
    'categories:',
    ...Object.entries(categories).map(([c, rule]) => `  ${c}: ${rule}`),
    `review: ${JSON.stringify(settings)}`,
    ...Object.entries(sections).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ].join('\n');
}

export const policies = (...ps: Policy[]) => new Map(ps.map((p) => [p.name, p]));
