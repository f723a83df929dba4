/** OpenAI-compatible moderation endpoint: same request and response schema as /v1/moderations. */
import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, mounter, type BodyParsers, type JsonSchema } from '../endpoint.js';
import { OPENAI_CATEGORIES } from '../../policy/categories.js';
import { answerModeration } from './moderate.js';
import { parseOpenAIInput } from '../inputs.js';
import { parseBody } from '../validation.js';

export const body = z.object({
  input: z.unknown().optional(),
  model: z.string().max(256).optional(),
});

/** `input` as the document describes it (checked by hand in the route, as OpenAI does). */
const OPENAI_INPUT: JsonSchema = {
  description: "OpenAI's form: a string, strings, or text parts ({type: 'text', text})",
  oneOf: [{ type: 'string' }, { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'object', properties: { type: { const: 'text' }, text: { type: 'string' } } }] } }],
};

const openaiCategory = z.enum(OPENAI_CATEGORIES);
/** OpenAI's moderation response (all 13 categories, always), plus `modtune` per result. */
export const moderationsResponse = z.object({
  id: z.string(),
  model: z.string(),
  results: z.array(
    z.object({
      flagged: z.boolean(),
      categories: z.record(openaiCategory, z.boolean()),
      category_scores: z.record(openaiCategory, z.number()),
      category_applied_input_types: z.record(openaiCategory, z.array(z.string())),
      modtune: z.object({
        decision_id: z.string(),
        item_id: z.string(),
        external_id: z.string().nullable(),
        action: z.enum(['allow', 'review', 'block']),
        review_task_id: z.string().nullable(),
      }),
    }),
  ),
});

export const MODERATIONS_ENDPOINTS = {
  postModerations: endpoint({ method: 'post', path: '/v1/moderations', roles: ['client'], summary: 'OpenAI-compatible moderation; each result also has `modtune: {decision_id, item_id, external_id, action, review_task_id}`', body: body, bodyOverrides: { input: OPENAI_INPUT }, response: moderationsResponse, responseDescription: "OpenAI's moderation response" }),
};

export function moderationsRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);
  on(MODERATIONS_ENDPOINTS.postModerations, async (req, res) => {
    const b = parseBody(body, req.body);
    const inputs = parseOpenAIInput(b.input, ctx.config.limits);
    const request = { inputs, requestId: res.locals.requestId, clientKeyId: res.locals.principal!.keyId };
    await answerModeration(ctx, req, res, 'moderations', request, (out) => ({
      id: `modr-${out.requestId}`,
      model: out.model,
      results: out.results.map((x) => {
        const categories: Record<string, boolean> = {};
        const scores: Record<string, number> = {};
        const applied: Record<string, string[]> = {};
        // OpenAI's schema always has all 13; a category the policy leaves out is never flagged.
        for (const c of OPENAI_CATEGORIES) {
          categories[c] = x.categories[c] ?? false;
          scores[c] = x.categoryScores[c] ?? 0;
          applied[c] = ['text'];
        }
        // OpenAI's fields first and unchanged; what an integration needs to act on the decision (appeal
        // it, tell block from review, find its review task) under one extension key the SDKs keep.
        return {
          flagged: x.flagged,
          categories,
          category_scores: scores,
          category_applied_input_types: applied,
          modtune: { decision_id: x.decisionId, item_id: x.itemId, external_id: x.externalId, action: x.action, review_task_id: x.reviewTaskId },
        };
      }),
    }));
  });
  return r;
}
