/**
 * Which decisions go to human review, and why. Pure: the random source is passed in.
 *
 * The audit draw comes first and ignores the scores, so audited items are an unbiased sample of all
 * traffic; that is what lets accuracy be measured honestly. Then a sample of blocks for confirmation,
 * then scores near a flag threshold, then anything the policy flagged (action "review" promises a human).
 */
import type { ReviewReason } from '../db/schema/review.js';
import type { Decision, Policy } from '../policy/policy.js';

export const PRIORITY: Record<ReviewReason, number> = {
  appeal: 100,
  flagged: 50,
  confirm: 40,
  uncertain: 20,
  audit: 20,
};

export interface Route {
  reason: ReviewReason;
  priority: number;
  requiredReviews: number;
}

export function routeDecision(d: Decision, policy: Policy, random: () => number): Route | null {
  const r = policy.settings.review;
  const route = (reason: ReviewReason, requiredReviews = r.reviews_per_task): Route => ({
    reason,
    priority: PRIORITY[reason],
    requiredReviews,
  });
  if (random() < r.audit_rate) return route('audit', r.audit_reviews_per_task);
  if (d.action === 'block' && random() < r.confirm_block_rate) return route('confirm');
  if (d.uncertain.length > 0) return route('uncertain');
  if (d.action === 'review' && r.queue_flagged) return route('flagged');
  return null;
}
