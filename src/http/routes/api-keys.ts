import { Router } from 'express';
import { z } from 'zod';
import type { ApiKeyRow } from '../../auth/api-key.repository.js';
import type { AppContext } from '../../context.js';
import { endpoint, isoTime, mounter, type BodyParsers } from '../endpoint.js';
import { idParam, parseBody, safeText } from '../validation.js';


export const createBody = z.strictObject({
  name: safeText(100).pipe(z.string().trim().min(1, 'name must not be empty')),
  role: z.enum(['client', 'moderator', 'admin']),
  expires_at: z.iso.datetime({ offset: true }).nullable().optional(),
});

const view = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  role: k.role,
  prefix: k.prefix,
  created_at: k.createdAt,
  created_by: k.createdBy,
  expires_at: k.expiresAt,
  revoked_at: k.revokedAt,
  last_used_at: k.lastUsedAt,
  trusted: k.trusted,
});

/** A key as the admin endpoints show it (never its secret). */
export const keyView = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(['client', 'moderator', 'admin']),
  prefix: z.string(),
  created_at: isoTime,
  created_by: z.string().nullable(),
  expires_at: isoTime.nullable(),
  revoked_at: isoTime.nullable(),
  last_used_at: isoTime.nullable(),
  trusted: z.boolean(),
});
export const meResponse = z.object({ key_id: z.string(), name: z.string(), role: z.enum(['client', 'moderator', 'admin']) });
export const createdKeyResponse = keyView.extend({ key: z.string().describe('the key itself: shown in this answer and nowhere else, ever') });
export const keyListResponse = z.object({ data: z.array(keyView) });

export const trustBody = z.strictObject({ trusted: z.boolean() });

export const API_KEY_ENDPOINTS = {
  getMe: endpoint({ method: 'get', path: '/v1/me', roles: ['client', 'moderator'], summary: 'Who this key is: {key_id, name, role}', response: meResponse }),
  postAdminApiKeys: endpoint({ method: 'post', path: '/v1/admin/api-keys', roles: [], summary: 'Create a key (shown once)', body: createBody, status: 201, response: createdKeyResponse, responseDescription: 'The new key, with its secret `key`' }),
  getAdminApiKeys: endpoint({ method: 'get', path: '/v1/admin/api-keys', roles: [], summary: 'Keys without their secrets', response: keyListResponse }),
  postAdminApiKeysIdTrust: endpoint({ method: 'post', path: '/v1/admin/api-keys/:id/trust', roles: [], summary: "Trust a moderator key (trusted eval set, senior queue), or stop", body: trustBody, response: keyView, responseDescription: 'The key as it is now' }),
  deleteAdminApiKeysId: endpoint({ method: 'delete', path: '/v1/admin/api-keys/:id', roles: [], summary: 'Revoke a key', response: keyView, responseDescription: 'The revoked key' }),
};

export function apiKeyRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);

  // Who a key is (any valid key): what the review page and the dashboard check when someone signs in.
  on(API_KEY_ENDPOINTS.getMe, (_req, res) => {
    const p = res.locals.principal!;
    res.json({ key_id: p.keyId, name: p.name, role: p.role });
  });

  on(API_KEY_ENDPOINTS.postAdminApiKeys, async (req, res) => {
    const b = parseBody(createBody, req.body);
    const expiresAt = b.expires_at ? new Date(b.expires_at) : null;
    const { key, row } = await ctx.auth.createKey({ name: b.name, role: b.role, expiresAt }, res.locals.principal!, res.locals.requestId);
    // The key itself is in this response and nowhere else, ever.
    res.status(201).json({ ...view(row), key });
  });

  on(API_KEY_ENDPOINTS.getAdminApiKeys, async (_req, res) => {
    res.json({ data: (await ctx.auth.listKeys()).map(view) });
  });

  // A trusted moderator's blind audit labels join the trusted eval set on their own (see the gate).
  on(API_KEY_ENDPOINTS.postAdminApiKeysIdTrust, async (req, res) => {
    const id = idParam(req.params.id, 'API key');
    const b = parseBody(trustBody, req.body);
    res.json(view(await ctx.auth.setTrusted(id, b.trusted, res.locals.principal!, res.locals.requestId)));
  });

  on(API_KEY_ENDPOINTS.deleteAdminApiKeysId, async (req, res) => {
    const id = idParam(req.params.id, 'API key');
    res.json(view(await ctx.auth.revokeKey(id, res.locals.principal!, res.locals.requestId)));
  });
  return r;
}
