import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, isoTime, mounter, type BodyParsers } from '../endpoint.js';
import { idParam } from '../validation.js';

export const decisionResponse = z.object({
  id: z.string(),
  item_id: z.string(),
  external_id: z.string().nullable(),
  request_id: z.string(),
  action: z.enum(['allow', 'review', 'block']),
  flagged: z.boolean(),
  categories: z.record(z.string(), z.boolean()),
  category_scores: z.record(z.string(), z.number()),
  policy: z.object({ name: z.string(), version: z.string() }),
  model: z.object({ backbone_id: z.string(), backbone: z.string(), head_id: z.string(), head_version: z.number().int() }),
  token_count: z.number().int(),
  truncated: z.boolean(),
  created_at: isoTime,
});

export const DECISION_ENDPOINTS = {
  get: endpoint({ method: 'get', path: '/v1/decisions/:id', roles: ['client', 'moderator'], summary: 'A stored decision', response: decisionResponse }),
};

export function decisionRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);
  on(DECISION_ENDPOINTS.get, async (req, res) => {
    const id = idParam(req.params.id, 'decision');
    const d = await ctx.moderation.getDecision(id, res.locals.principal!);
    res.json({
      id: d.id,
      item_id: d.item_id,
      external_id: d.external_id,
      request_id: d.request_id,
      action: d.action,
      flagged: d.flagged,
      categories: d.categories,
      category_scores: d.category_scores,
      policy: { name: d.policy_name, version: d.policy_version },
      model: { backbone_id: d.backbone_id, backbone: d.backbone_name, head_id: d.head_id, head_version: d.head_version },
      token_count: d.token_count,
      truncated: d.truncated,
      created_at: d.created_at,
    });
  });
  return r;
}
