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
  /**
   * How likely this decision was to reach review at all under the policy, whichever draw sent it: 1 for a
   * decision the policy always routes (uncertain, or flagged with queue_flagged), else the chance of the
   * audit draw (and, for a block, of the confirmation draw). The gate weighs each reviewed item by its
   * inverse, so items the head routed do not stand for more of the traffic than they are.
   */
  inclusion: number;
}

/** The chance that decision `d` is reviewed under `policy` (see {@link Route.inclusion}). */
export function inclusionProbability(d: Decision, policy: Policy): number {
  const r = policy.settings.review;
  if (d.uncertain.length > 0 || (d.action === 'review' && r.queue_flagged)) return 1;
  if (d.action === 'block') return r.audit_rate + (1 - r.audit_rate) * r.confirm_block_rate;
  return r.audit_rate;
}

export function routeDecision(d: Decision, policy: Policy, random: () => number): Route | null {
  const r = policy.settings.review;
  const route = (reason: ReviewReason, requiredReviews = r.reviews_per_task): Route => ({
    reason,
    priority: PRIORITY[reason],
    requiredReviews,
    inclusion: inclusionProbability(d, policy),
  });
  if (random() < r.audit_rate) return route('audit', r.audit_reviews_per_task);
  if (d.action === 'block' && random() < r.confirm_block_rate) return route('confirm');
  if (d.uncertain.length > 0) return route('uncertain');
  if (d.action === 'review' && r.queue_flagged) return route('flagged');
  return null;
}
