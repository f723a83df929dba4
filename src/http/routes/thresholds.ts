/** The threshold advisor (admin): evidence for thresholds, and what proposed ones would change. Changes nothing. */
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, mounter, type BodyParsers } from '../endpoint.js';
import { badRequest } from '../../errors.js';
import type { Target } from '../../thresholds/advisor.js';
import { parseBody, UUID } from '../validation.js';

const threshold = z.number().min(0).max(1);
export const whatIfBody = z.strictObject({
  policy: z.string().min(1).max(64).optional(),
  /** The stored decisions of the last this many days (default 7). */
  days: z.number().int().min(1).max(365).optional(),
  /** Category → proposed thresholds (either or both; `block: null` never blocks). */
  thresholds: z.record(z.string(), z.strictObject({ flag: threshold.optional(), block: threshold.nullable().optional() })).refine((t) => Object.keys(t).length > 0, 'give at least one category'),
});

const interval = z.object({ estimate: z.number().nullable(), lower: z.number(), upper: z.number() });
const curvePoint = z.object({ threshold: z.number(), flagged: z.number().int(), truePositives: z.number().int(), precision: interval, recall: interval });
const action = z.enum(['allow', 'review', 'block']);
export const adviceResponse = z.object({
  policy: z.string(),
  head: z.object({ id: z.string(), version: z.number().int() }),
  confidence: z.number(),
  categories: z.array(
    z.object({
      category: z.string(),
      flag: z.number(),
      block: z.number().nullable(),
      sample: z.object({ audited_items: z.number().int(), positives: z.number().int(), trusted_items: z.number().int(), left_out_other_backbone: z.number().int() }),
      at_flag: curvePoint,
      curve: z.array(curvePoint),
      suggestion: z
        .discriminatedUnion('met', [
          z.object({ met: z.literal(true), threshold: z.number(), point: curvePoint, rule: z.string() }),
          z.object({ met: z.literal(false), reason: z.string(), moreAudits: z.number().int().nullable() }),
        ])
        .optional()
        .describe('only with a target'),
    }),
  ),
});
export const whatIfResponse = z.object({
  policy: z.string(),
  days: z.number().int(),
  decisions: z.number().int(),
  truncated: z.boolean(),
  actions: z.object({ current: z.record(action, z.number().int()), proposed: z.record(action, z.number().int()) }),
  changes: z.array(z.object({ move: z.string().describe("'allow→review' and the like"), decisions: z.number().int(), example_decision_ids: z.array(z.string()) })),
  policy_diff: z.string(),
  note: z.string(),
});

function unit(raw: unknown, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const x = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(x) || x <= 0 || x >= 1) throw badRequest('invalid_request', `${name} must be a number between 0 and 1 (exclusive), e.g. ${name}=0.9`);
  return x;
}

export const THRESHOLD_ENDPOINTS = {
  getThresholds: endpoint({
    method: 'get',
    path: '/v1/thresholds',
    roles: [],
    summary: "The threshold advisor: per category, a head's precision and recall on the blind audit sample at each threshold, with 95% intervals and sample sizes; with a target, the threshold that meets it or why not",
    query: [
      { name: 'category', description: 'One category (default: all of the policy)', schema: { type: 'string' } },
      { name: 'target_precision', description: 'Suggest the lowest threshold whose precision interval lies above this', schema: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 } },
      { name: 'target_recall', description: 'Suggest the highest threshold whose recall interval lies above this', schema: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 } },
      { name: 'head_id', description: 'A candidate head of the active backbone (default: the active head)', schema: { type: 'string' } },
      { name: 'policy', description: 'The policy (default: the default policy)', schema: { type: 'string' } },
    ],
    response: adviceResponse,
  }),
  postThresholdsWhatIf: endpoint({ method: 'post', path: '/v1/thresholds/what-if', roles: [], summary: 'Proposed thresholds against the stored decisions of the last days: how many change action, with examples, and the policy file diff (changes nothing)', body: whatIfBody, response: whatIfResponse }),
};

export function thresholdRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);
  on(THRESHOLD_ENDPOINTS.getThresholds, async (req, res) => {
    const q = req.query;
    const precision = unit(q.target_precision, 'target_precision');
    const recall = unit(q.target_recall, 'target_recall');
    if (precision !== undefined && recall !== undefined) throw badRequest('invalid_request', 'give one target: target_precision or target_recall');
    const target: Target | undefined = precision !== undefined ? { metric: 'precision', value: precision } : recall !== undefined ? { metric: 'recall', value: recall } : undefined;
    const headId = q.head_id;
    if (headId !== undefined && (typeof headId !== 'string' || !UUID.test(headId))) throw badRequest('invalid_request', 'head_id must be a head id');
    const str = (v: unknown, name: string) => {
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || v.length === 0 || v.length > 64) throw badRequest('invalid_request', `${name} must be 1-64 characters`);
      return v;
    };
    res.json(await ctx.thresholds.advise({ policy: str(q.policy, 'policy'), category: str(q.category, 'category'), headId: headId as string | undefined, target }));
  });
  on(THRESHOLD_ENDPOINTS.postThresholdsWhatIf, async (req, res) => {
    const b = parseBody(whatIfBody, req.body);
    res.json(await ctx.thresholds.whatIf({ policy: b.policy, days: b.days ?? 7, thresholds: b.thresholds }));
  });
  return r;
}
