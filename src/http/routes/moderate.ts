import { Router, type Request, type RequestHandler, type Response } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, mounter, type BodyParsers, type JsonSchema } from '../endpoint.js';
import { idempotencyKeyOf, rawBody, requestHash } from '../../idempotency/idempotency.js';
import type { ModerationOutcome, ModerationRequest } from '../../moderation/moderation.service.js';
import { parseModerateInput } from '../inputs.js';
import { parseBody } from '../validation.js';

export const body = z.strictObject({
  input: z.unknown().optional(),
  policy: z.string().min(1).max(64).optional(),
  /** Per result and category: the deciding label's logit, its exact parts and the words that moved it. */
  explain: z.boolean().optional(),
});

const wordShare = z.object({ word: z.string(), contribution: z.number() });
/** With `explain`, per category: the deciding label's logit and its exact parts, and the words that moved it. */
const categoryExplanation = z.object({
  label: z.string(),
  logit: z.number(),
  parts: z.object({ bias: z.number(), backbone: z.number(), lexical: z.number(), ngrams: z.number() }),
  words: z.array(wordShare),
  backbone_words: z.array(wordShare).optional(),
});
export const moderateResponse = z.object({
  id: z.string().describe('the request id'),
  model: z.string(),
  policy: z.object({ name: z.string(), version: z.string() }),
  results: z.array(
    z.object({
      decision_id: z.string(),
      item_id: z.string(),
      external_id: z.string().nullable(),
      action: z.enum(['allow', 'review', 'block']),
      flagged: z.boolean(),
      categories: z.record(z.string(), z.boolean()),
      category_scores: z.record(z.string(), z.number()),
      truncated: z.boolean(),
      review_task_id: z.string().nullable().describe('set when the decision went to human review'),
      explanation: z.record(z.string(), categoryExplanation).optional(),
    }),
  ),
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

/** `input` as the document describes it (the route checks it by hand, inputs.ts, to name the exact element at fault). */
const MODERATE_INPUT: JsonSchema = {
  description: 'A text, texts, or objects with the text and optional context and platform ids',
  oneOf: [
    { type: 'string' },
    {
      type: 'array',
      items: {
        oneOf: [
          { type: 'string' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['text'],
            properties: {
              text: { type: 'string' },
              context: { type: 'string' },
              external_id: { type: 'string', maxLength: 256, minLength: 1 },
              author_id: { type: 'string', maxLength: 256, minLength: 1 },
              thread_id: { type: 'string', maxLength: 256, minLength: 1 },
            },
          },
        ],
      },
    },
  ],
};

export const MODERATE_ENDPOINTS = {
  postModerate: endpoint({ method: 'post', path: '/v1/moderate', roles: ['client'], summary: 'Score and decide: per input the action, categories, scores, decision and review task ids', body: body, bodyOverrides: { input: MODERATE_INPUT }, response: moderateResponse, responseDescription: 'One result per input, in order' }),
};

export function moderateRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);
  on(MODERATE_ENDPOINTS.postModerate, async (req, res) => {
    const b = parseBody(body, req.body);
    const inputs = parseModerateInput(b.input, ctx.config.limits);
    const request = { inputs, policy: b.policy, explain: b.explain === true, requestId: res.locals.requestId, clientKeyId: res.locals.principal!.keyId };
    await answerModeration(ctx, req, res, 'moderate', request, toResponse);
  });
  return r;
}
