import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { requireRole } from '../middleware/auth.js';
import { parseModerateInput } from '../inputs.js';
import { parseBody } from '../validation.js';

const body = z.strictObject({
  input: z.unknown().optional(),
  policy: z.string().min(1).max(64).optional(),
});

export function moderateRoutes(ctx: AppContext, json: RequestHandler[]): Router {
  const r = Router();
  r.post('/v1/moderate', requireRole(ctx.auth, 'client'), ...json, async (req, res) => {
    const b = parseBody(body, req.body);
    const inputs = parseModerateInput(b.input, ctx.config.limits);
    const out = await ctx.moderation.moderate({
      inputs,
      policy: b.policy,
      requestId: res.locals.requestId,
      clientKeyId: res.locals.principal!.keyId,
    });
    res.json({
      id: out.requestId,
      model: out.model,
      policy: out.policy,
      results: out.results.map((x) => ({
        decision_id: x.decisionId,
        item_id: x.itemId,
        external_id: x.externalId,
        action: x.action,
        flagged: x.flagged,
        categories: x.categories,
        category_scores: x.categoryScores,
        truncated: x.truncated,
        review_task_id: x.reviewTaskId,
      })),
    });
  });
  return r;
}
