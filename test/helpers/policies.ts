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

/** The same policy as YAML, for a policy directory that a server process reads. */
export function reviewPolicyYaml(review: Record<string, unknown> = {}, sections: Record<string, Record<string, unknown>> = {}): string {
  const settings = { audit_rate: 1, reviews_per_task: 1, audit_reviews_per_task: 1, blind: 'none', ...review };
  return [
    'categories:',
    '  violence: { flag: 0.5, block: 0.9 }',
    '  harassment: { flag: 0.5, block: 0.95 }',
    '  hate: { flag: 0.5, block: 0.95 }',
    `review: ${JSON.stringify(settings)}`,
    ...Object.entries(sections).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ].join('\n');
}

export const policies = (...ps: Policy[]) => new Map(ps.map((p) => [p.name, p]));
