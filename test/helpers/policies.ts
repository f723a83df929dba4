import { parsePolicy } from '../../src/policy/loader.js';
import type { Policy } from '../../src/policy/policy.js';

/**
 * A small policy for review tests: three categories with round thresholds, every decision audited
 * (so every scored item becomes a task) unless `review` says otherwise.
 */
export function reviewPolicy(name = 'default', review: Record<string, unknown> = {}, sections: Record<string, Record<string, unknown>> = {}): Policy {
  const settings = { audit_rate: 1, reviews_per_task: 1, audit_reviews_per_task: 1, ...review };
  const yaml = [
    'categories:',
    '  violence: { flag: 0.5, block: 0.9 }',
    '  harassment: { flag: 0.5, block: 0.95 }',
    '  hate: { flag: 0.5, block: 0.95 }',
    `review: ${JSON.stringify(settings)}`,
    ...Object.entries(sections).map(([k, v]) => `${k}: ${JSON.stringify(v)}`),
  ].join('\n');
  return parsePolicy(name, yaml);
}

export const policies = (...ps: Policy[]) => new Map(ps.map((p) => [p.name, p]));
