import { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { badRequest } from '../../errors.js';
import { REVIEW_REASONS } from '../../review/review.service.js';
import { idempotencyKeyOf, rawBody, requestHash } from '../../idempotency/idempotency.js';
import { requireRole } from '../middleware/auth.js';
import { idParam, parseBody, safeText } from '../validation.js';


export const claimBody = z.strictObject({
  reasons: z.array(z.enum(REVIEW_REASONS as [string, ...string[]])).min(1).optional(),
  limit: z.number().int().min(1).max(50).default(1),
});

export const verdictBody = z.strictObject({
  categories: z.record(z.string(), z.unknown()),
  notes: safeText(5000).nullable().optional(),
});

export const commentBody = z.strictObject({
  comment: safeText(2000).pipe(z.string().trim().min(1, 'comment must not be empty')),
});

export const appealBody = z.strictObject({
  reason: safeText(2000).pipe(z.string().trim().min(1, 'reason must say why the decision is appealed')),
});

const taskId = (raw: unknown): string => idParam(raw, 'review task');

export function reviewRoutes(ctx: AppContext, json: RequestHandler[]): Router {
  const r = Router();
  const moderator = requireRole(ctx.auth, 'moderator');

  r.post('/v1/review/claim', moderator, ...json, async (req, res) => {
    const b = parseBody(claimBody, req.body);
    const tasks = await ctx.review.claim(res.locals.principal!, { reasons: b.reasons as never, limit: b.limit }, res.locals.requestId);
    res.json({ data: tasks });
  });

  r.get('/v1/review/tasks/:id', moderator, async (req, res) => {
    res.json(await ctx.review.getTask(taskId(req.params.id)));
  });

  r.post('/v1/review/tasks/:id/verdict', moderator, ...json, async (req, res) => {
    const id = taskId(req.params.id);
    const b = parseBody(verdictBody, req.body);
    const notes = b.notes ?? null;
    const key = idempotencyKeyOf(req.get('idempotency-key'));
    const ref = key ? { apiKeyId: res.locals.principal!.keyId, endpoint: `verdict:${id}`, key, requestHash: requestHash(`verdict:${id}`, rawBody(req)) } : undefined;
    const { replayed, ...outcome } = await ctx.review.verdict(res.locals.principal!, id, { categories: b.categories, notes }, res.locals.requestId, ref);
    if (ref) res.setHeader('Idempotent-Replayed', String(replayed === true));
    if (!replayed) {
      ctx.metrics.verdicts.inc();
      ctx.metrics.disagreements.inc(outcome.disagreements ?? 0);
    }
    res.json(outcome);
  });

  r.post('/v1/review/tasks/:id/escalate', moderator, ...json, async (req, res) => {
    const b = parseBody(commentBody, req.body);
    await ctx.review.escalate(res.locals.principal!, taskId(req.params.id), b.comment, res.locals.requestId);
    res.json({ escalated: true });
  });

  r.post('/v1/review/tasks/:id/comments', moderator, ...json, async (req, res) => {
    const b = parseBody(commentBody, req.body);
    res.status(201).json(await ctx.review.comment(res.locals.principal!, taskId(req.params.id), b.comment, res.locals.requestId));
  });

  r.post('/v1/review/tasks/:id/undo', moderator, async (req, res) => {
    res.json(await ctx.review.undo(res.locals.principal!, taskId(req.params.id), res.locals.requestId));
  });

  r.post('/v1/review/tasks/:id/release', moderator, async (req, res) => {
    await ctx.review.release(res.locals.principal!, taskId(req.params.id), res.locals.requestId);
    res.json({ released: true });
  });

  r.get('/v1/review/stats/me', moderator, async (_req, res) => {
    res.json(await ctx.review.myStats(res.locals.principal!));
  });

  r.get('/v1/review/stats', moderator, async (req, res) => {
    const days = req.query.days === undefined ? 30 : Number(req.query.days);
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw badRequest('invalid_request', 'days must be a whole number from 1 to 3650');
    res.json(await ctx.review.stats(days));
  });

  r.post('/v1/decisions/:id/appeal', requireRole(ctx.auth, 'client'), ...json, async (req, res) => {
    const id = idParam(req.params.id, 'decision');
    const b = parseBody(appealBody, req.body);
    const { taskId: task } = await ctx.review.appeal(res.locals.principal!, id, b.reason, res.locals.requestId);
    res.status(201).json({ review_task_id: task, reason: 'appeal', status: 'open' });
  });
  return r;
}
