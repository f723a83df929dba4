import { Router } from 'express';
import type { AppContext } from '../../context.js';
import { notFound } from '../../errors.js';
import { requireRole } from '../middleware/auth.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function decisionRoutes(ctx: AppContext): Router {
  const r = Router();
  r.get('/v1/decisions/:id', requireRole(ctx.auth, 'client', 'moderator'), async (req, res) => {
    const id = String(req.params.id);
    if (!UUID.test(id)) throw notFound('decision', id);
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
