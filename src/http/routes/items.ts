/** Data-subject requests: everything stored about an item, and its deletion (admin). */
import { Router } from 'express';
import type { AppContext } from '../../context.js';
import { notFound } from '../../errors.js';
import { requireRole } from '../middleware/auth.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function itemId(raw: unknown): string {
  const id = String(raw);
  if (!UUID.test(id)) throw notFound('item', id);
  return id;
}

export function itemRoutes(ctx: AppContext): Router {
  const r = Router();
  const admin = requireRole(ctx.auth, 'admin');
  r.get('/v1/items/:id', admin, async (req, res) => {
    res.json(await ctx.retention.item(itemId(req.params.id)));
  });
  r.delete('/v1/items/:id', admin, async (req, res) => {
    const id = itemId(req.params.id);
    const out = await ctx.retention.deleteItem(id, { name: res.locals.principal!.name, keyId: res.locals.principal!.keyId }, res.locals.requestId);
    res.json({ deleted: id, ...out });
  });
  return r;
}
