import { readFileSync } from 'node:fs';
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, mounter, type BodyParsers } from '../endpoint.js';
import { openApiDocument } from '../openapi.js';

/** The package's version, for the API document. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

let document: Record<string, unknown> | null = null;

export const healthResponse = z.object({ status: z.literal('ok') });
/** What /readyz answers (503 carries the same shape with `status` not ready). */
export const readyResponse = z.object({
  status: z.enum(['ready', 'draining', 'unavailable']),
  database: z.looseObject({ kind: z.string(), ok: z.boolean(), error: z.string().optional() }),
  model: z.looseObject({
    loaded: z.boolean(),
    id: z.string().optional(),
    backbone: z.string().optional(),
    backbone_id: z.string().optional(),
    head_id: z.string().optional(),
    head_version: z.number().int().optional(),
    provider: z.string().optional(),
    workers: z.number().int().optional(),
  }),
  policies: z.array(z.object({ name: z.string(), version: z.string() })),
});
/** The OpenAPI document itself (open-ended: the fields every document has). */
export const openApiResponse = z.looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) });

export const HEALTH_ENDPOINTS = {
  getHealthz: endpoint({ method: 'get', path: '/healthz', roles: ['public'], summary: 'Liveness: the process answers', response: healthResponse }),
  getReadyz: endpoint({ method: 'get', path: '/readyz', roles: ['public'], summary: 'Readiness: database reachable, model loaded, not draining (503 otherwise)', response: readyResponse }),
  getRoot: endpoint({ method: 'get', path: '/', roles: ['public'], summary: 'Where things are: the pages, the API document, readiness (links for a browser, JSON otherwise)',
    responseContentType: 'text/html',
    responseDescription: 'An HTML page of links when the client prefers HTML (a browser); otherwise JSON: {name, pages: {review, dashboard}, api: {openapi, ready, metrics}, docs}',
  }),
  getOpenapiJson: endpoint({ method: 'get', path: '/openapi.json', roles: ['public'], summary: 'This document', response: openApiResponse, responseDescription: 'This OpenAPI 3.1 document' }),
  getMetrics: endpoint({ method: 'get', path: '/metrics', roles: ['public'], summary: 'Prometheus metrics', responseContentType: 'text/plain', responseDescription: 'The Prometheus text exposition format (version 0.0.4)' }),
};

export function healthRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);
  on(HEALTH_ENDPOINTS.getHealthz, (_req, res) => {
    res.json({ status: 'ok' });
  });

  on(HEALTH_ENDPOINTS.getReadyz, async (_req, res) => {
    const database: Record<string, unknown> = { kind: ctx.database.kind };
    try {
      await ctx.database.ping(1_000);
      database.ok = true;
    } catch (err) {
      database.ok = false;
      database.error = (err as Error).message;
    }
    const loaded = ctx.models.loaded;
    const model: Record<string, unknown> = { loaded };
    if (loaded) {
      const m = ctx.models.active;
      Object.assign(model, {
        id: m.id,
        backbone: m.backbone.name,
        backbone_id: m.backbone.id,
        head_id: m.head.id,
        head_version: m.head.version,
        provider: m.runtime.provider,
        workers: m.runtime.workers,
      });
    }
    const ready = database.ok === true && loaded && !ctx.draining;
    res.status(ready ? 200 : 503).json({
      status: ready ? 'ready' : ctx.draining ? 'draining' : 'unavailable',
      database,
      model,
      policies: ctx.policies.all.map((p) => ({ name: p.name, version: p.version })),
    });
  });

  // The root says where things are: a browser gets links, anything else the same as JSON.
  on(HEALTH_ENDPOINTS.getRoot, (req, res) => {
    const where = {
      name: 'modtune',
      pages: { review: '/review', dashboard: '/dashboard' },
      api: { openapi: '/openapi.json', ready: '/readyz', metrics: '/metrics' },
      docs: 'README.md and docs/ in the repository',
    };
    if (req.accepts(['json', 'html']) === 'html') {
      res.type('html').send(
        '<!doctype html><meta charset="utf-8"><title>modtune</title><h1>modtune</h1><ul>' +
          '<li><a href="/review">Review queue</a> (moderators)</li><li><a href="/dashboard">Dashboard</a> (admins)</li>' +
          '<li><a href="/openapi.json">API (OpenAPI)</a></li><li><a href="/readyz">Readiness</a></li></ul>' +
          '<p>Documentation: README.md and docs/ in the repository.</p>',
      );
      return;
    }
    res.json(where);
  });

  on(HEALTH_ENDPOINTS.getOpenapiJson, (_req, res) => {
    document ??= openApiDocument(packageVersion());
    res.json(document);
  });

  on(HEALTH_ENDPOINTS.getMetrics, async (_req, res) => {
    res.setHeader('Content-Type', ctx.metrics.registry.contentType);
    res.send(await ctx.metrics.registry.metrics());
  });
  return r;
}
