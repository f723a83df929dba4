import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { idempotencyKeyOf, rawBody, requestHash } from '../../idempotency/idempotency.js';
import type { ModerationOutcome, ModerationRequest } from '../../moderation/moderation.service.js';
import { requireRole } from '../middleware/auth.js';
import { parseModerateInput } from '../inputs.js';
import { parseBody } from '../validation.js';

export const body = z.strictObject({
  input: z.unknown().optional(),
  policy: z.string().min(1).max(64).optional(),
  /** Per result and category: the deciding label's logit, its exact parts and the words that moved it. */
  explain: z.boolean().optional(),
});

function toResponse(out: ModerationOutcome) {
  return {
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
      ...(x.explanation ? { explanation: x.explanation } : {}),
    })),
  };
}

/**
 * Runs a moderation request and answers it, through the Idempotency-Key path when the request has a key
 * (shared by /v1/moderate and /v1/moderations).
 */
export async function answerModeration(
  ctx: AppContext,
  req: Request,
  res: Response,
  endpoint: string,
  request: ModerationRequest,
  shape: (o: ModerationOutcome) => unknown,
): Promise<void> {
  const key = idempotencyKeyOf(req.get('idempotency-key'));
  if (!key) {
    res.json(shape(await ctx.moderation.moderate(request)));
    return;
  }
  const ref = { apiKeyId: res.locals.principal!.keyId, endpoint, key, requestHash: requestHash(endpoint, rawBody(req)) };
  const out = await ctx.moderation.moderate(request, { ref, shape: (o) => ({ statusCode: 200, body: shape(o) }) });
  res.setHeader('Idempotent-Replayed', String(out.replayed));
  res.status(out.statusCode).json(out.body);
}

export function moderateRoutes(ctx: AppContext, json: RequestHandler[]): Router {
  const r = Router();
  r.post('/v1/moderate', requireRole(ctx.auth, 'client'), ...json, async (req, res) => {
    const b = parseBody(body, req.body);
    const inputs = parseModerateInput(b.input, ctx.config.limits);
    const request = { inputs, policy: b.policy, explain: b.explain === true, requestId: res.locals.requestId, clientKeyId: res.locals.principal!.keyId };
    await answerModeration(ctx, req, res, 'moderate', request, toResponse);
  });
  return r;
}
