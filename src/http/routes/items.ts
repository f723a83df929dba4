/** Data-subject requests: items by the platform's external id or author id, everything stored about an item, deletion of an item or of an author's every item (admin). */
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, isoTime, jsonObject, mounter, type BodyParsers } from '../endpoint.js';
import { badRequest } from '../../errors.js';
import { idParam } from '../validation.js';


const itemId = (raw: unknown): string => idParam(raw, 'item');

/** `external_id` or `author_id` (exactly one), as stored: well-formed (lone surrogates replaced on the way in). */
function lookup(query: Record<string, unknown>, method: string): { field: 'external_id' | 'author_id'; value: string } {
  const given = (['external_id', 'author_id'] as const).filter((f) => query[f] !== undefined);
  const example = method === 'GET' ? 'GET /v1/items?external_id=c-42 or GET /v1/items?author_id=u-7' : 'DELETE /v1/items?author_id=u-7';
  if (given.length !== 1) throw badRequest('invalid_request', `give exactly one of external_id or author_id: the id your platform sent with the text (1-256 characters), e.g. ${example}`);
  const field = given[0];
  const value = query[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw badRequest('invalid_request', `${field} must be 1-256 characters, e.g. ${example}`);
  if (value.includes('\u0000')) throw badRequest('invalid_request', `${field} must not contain a NUL character (U+0000)`);
  return { field, value: value.toWellFormed() };
}

/** One stored item in a lookup by external or author id (no text). */
const itemSummary = z.object({
  id: z.string(),
  external_id: z.string().nullable(),
  author_id: z.string().nullable(),
  client_key_id: z.string().nullable(),
  text_length: z.number().int(),
  created_at: isoTime,
  text_purged_at: isoTime.nullable(),
  decisions: z.number().int().describe('how many decisions it has'),
});
export const itemListResponse = z.object({ data: z.array(itemSummary) });
export const authorDeletedResponse = z.object({
  deleted: z.object({ author_id: z.string(), items: z.number().int(), decisions: z.number().int(), preference_pairs: z.number().int(), comments: z.number().int() }),
});
/** An item's ids and text as the API shows them (here, and in a review task's `item`). */
export const itemFields = z.object({
  id: z.string(),
  external_id: z.string().nullable(),
  author_id: z.string().nullable(),
  thread_id: z.string().nullable(),
  text: z.string().nullable(),
  context: z.string().nullable(),
});

/** Everything stored about an item: the item, then its decisions, tasks, reviews, labels, pairs and comments (rows as stored). */
export const itemResponse = itemFields.extend({
  text_sha256: z.string(),
  text_purged_at: isoTime.nullable(),
  created_at: isoTime,
  decisions: z.array(jsonObject),
  review_tasks: z.array(jsonObject),
  reviews: z.array(jsonObject),
  labels: z.array(jsonObject),
  preference_pairs: z.array(z.object({ id: z.number().int(), category: z.string(), chosen: z.boolean(), rejected: z.boolean(), split: z.enum(['train', 'eval']) })),
  comments: z.array(jsonObject),
});
export const itemDeletedResponse = z.object({ deleted: z.string().describe('the item id'), decisions: z.number().int(), pairs: z.number().int() });

export const ITEM_ENDPOINTS = {
  getItems: endpoint({
    method: 'get',
    path: '/v1/items',
    roles: [],
    summary: "The items stored under your platform's id, or of one author (exactly one of the two)",
    query: [
      { name: 'external_id', description: "Your platform's id of an item", schema: { type: 'string', minLength: 1, maxLength: 256 } },
      { name: 'author_id', description: "Your platform's id of an author", schema: { type: 'string', minLength: 1, maxLength: 256 } },
    ],
    response: itemListResponse,
    responseDescription: 'The items, newest first (at most 100), without their text',
  }),
  deleteItems: endpoint({
    method: 'delete',
    path: '/v1/items',
    roles: [],
    summary: 'Delete every item of an author (a data-subject request in one call) and everything derived from them; answers the counts',
    query: [{ name: 'author_id', description: "Your platform's id of the author", schema: { type: 'string', minLength: 1, maxLength: 256 }, required: true }],
    response: authorDeletedResponse,
  }),
  getItemsId: endpoint({ method: 'get', path: '/v1/items/:id', roles: [], summary: 'Everything stored about an item (data-subject access)', response: itemResponse }),
  deleteItemsId: endpoint({ method: 'delete', path: '/v1/items/:id', roles: [], summary: 'Delete an item and everything derived from it', response: itemDeletedResponse }),
};

export function itemRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);
  on(ITEM_ENDPOINTS.getItems, async (req, res) => {
    const { field, value } = lookup(req.query, 'GET');
    res.json({ data: field === 'external_id' ? await ctx.retention.itemsByExternalId(value) : await ctx.retention.itemsByAuthor(value) });
  });
  // A person's data-subject request in one call: every item of the author, and what was derived from them.
  on(ITEM_ENDPOINTS.deleteItems, async (req, res) => {
    const { field, value } = lookup(req.query, 'DELETE');
    if (field !== 'author_id') throw badRequest('invalid_request', 'DELETE /v1/items deletes by author_id (DELETE /v1/items?author_id=u-7); delete one item with DELETE /v1/items/:id');
    const out = await ctx.retention.deleteAuthor(value, { name: res.locals.principal!.name, keyId: res.locals.principal!.keyId }, res.locals.requestId);
    res.json({ deleted: { author_id: value, items: out.items, decisions: out.decisions, preference_pairs: out.pairs, comments: out.comments } });
  });
  on(ITEM_ENDPOINTS.getItemsId, async (req, res) => {
    res.json(await ctx.retention.item(itemId(req.params.id)));
  });
  on(ITEM_ENDPOINTS.deleteItemsId, async (req, res) => {
    const id = itemId(req.params.id);
    const out = await ctx.retention.deleteItem(id, { name: res.locals.principal!.name, keyId: res.locals.principal!.keyId }, res.locals.requestId);
    res.json({ deleted: id, ...out });
  });
  return r;
}
