/** Data-subject requests: items by the platform's external id, everything stored about an item, and its deletion (admin). */
import { Router } from 'express';
import type { AppContext } from '../../context.js';
import { badRequest } from '../../errors.js';
import { idParam } from '../validation.js';
import { requireRole } from '../middleware/auth.js';


const itemId = (raw: unknown): string => idParam(raw, 'item');

export function itemRoutes(ctx: AppContext): Router {
  const r = Router();
  const admin = requireRole(ctx.auth, 'admin');
  r.get('/v1/items', admin, async (req, res) => {
    const ext = req.query.external_id;
    if (typeof ext !== 'string' || ext.length === 0 || ext.length > 256) {
      throw badRequest('invalid_request', 'external_id is required: the id your platform sent with the text (1-256 characters), e.g. GET /v1/items?external_id=c-42');
    }
    if (ext.includes('\u0000')) throw badRequest('invalid_request', 'external_id must not contain a NUL character (U+0000)');
    // Stored ids were made well-formed on the way in (lone surrogates replaced); look up the same form.
    res.json({ data: await ctx.retention.itemsByExternalId(ext.toWellFormed()) });
  });
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
