import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, mounter, type BodyParsers } from '../endpoint.js';
import { badRequest } from '../../errors.js';
import { REVIEW_REASONS } from '../../review/review.service.js';
import { idempotencyKeyOf, rawBody, requestHash } from '../../idempotency/idempotency.js';
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

export const REVIEW_ENDPOINTS = {
  postReviewClaim: endpoint({ method: 'post', path: '/v1/review/claim', roles: ['moderator'], summary: 'Lease up to `limit` tasks (optionally of some reasons)', body: claimBody }),
  getReviewTasksId: endpoint({ method: 'get', path: '/v1/review/tasks/:id', roles: ['moderator'], summary: 'A task: content, why it is here, the subject history and comments, where the verdict starts' }),
  postReviewTasksIdVerdict: endpoint({ method: 'post', path: '/v1/review/tasks/:id/verdict', roles: ['moderator'], summary: "The lease holder's verdict per category", body: verdictBody }),
  postReviewTasksIdEscalate: endpoint({ method: 'post', path: '/v1/review/tasks/:id/escalate', roles: ['moderator'], summary: 'Send the task to a senior moderator, saying why', body: commentBody }),
  postReviewTasksIdComments: endpoint({ method: 'post', path: '/v1/review/tasks/:id/comments', roles: ['moderator'], summary: "A comment on the task's item, author and thread", body: commentBody, status: 201 }),
  postReviewTasksIdUndo: endpoint({ method: 'post', path: '/v1/review/tasks/:id/undo', roles: ['moderator'], summary: 'Take back your latest verdict on the task until training has read it' }),
  postReviewTasksIdRelease: endpoint({ method: 'post', path: '/v1/review/tasks/:id/release', roles: ['moderator'], summary: 'Give a leased task back to the queue' }),
  getReviewStatsMe: endpoint({ method: 'get', path: '/v1/review/stats/me', roles: ['moderator'], summary: 'Your verdict counts, median handling time and agreement with settled labels' }),
  getReviewStats: endpoint({
    method: 'get',
    path: '/v1/review/stats',
    roles: ['moderator'],
    summary: 'Queue depth per reason, handling time and agreement',
    query: [{ name: 'days', description: 'The window (default 30)', schema: { type: 'integer', minimum: 1 } }],
  }),
  postDecisionsIdAppeal: endpoint({ method: 'post', path: '/v1/decisions/:id/appeal', roles: ['client'], summary: 'Appeal a decision: an appeal review task', body: appealBody, status: 201 }),
};

export function reviewRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);

  on(REVIEW_ENDPOINTS.postReviewClaim, async (req, res) => {
    const b = parseBody(claimBody, req.body);
    const tasks = await ctx.review.claim(res.locals.principal!, { reasons: b.reasons as never, limit: b.limit }, res.locals.requestId);
    res.json({ data: tasks });
  });

  on(REVIEW_ENDPOINTS.getReviewTasksId, async (req, res) => {
    res.json(await ctx.review.getTask(taskId(req.params.id)));
  });

  on(REVIEW_ENDPOINTS.postReviewTasksIdVerdict, async (req, res) => {
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

  on(REVIEW_ENDPOINTS.postReviewTasksIdEscalate, async (req, res) => {
    const b = parseBody(commentBody, req.body);
    await ctx.review.escalate(res.locals.principal!, taskId(req.params.id), b.comment, res.locals.requestId);
    res.json({ escalated: true });
  });

  on(REVIEW_ENDPOINTS.postReviewTasksIdComments, async (req, res) => {
    const b = parseBody(commentBody, req.body);
    res.status(201).json(await ctx.review.comment(res.locals.principal!, taskId(req.params.id), b.comment, res.locals.requestId));
  });

  on(REVIEW_ENDPOINTS.postReviewTasksIdUndo, async (req, res) => {
    res.json(await ctx.review.undo(res.locals.principal!, taskId(req.params.id), res.locals.requestId));
  });

  on(REVIEW_ENDPOINTS.postReviewTasksIdRelease, async (req, res) => {
    await ctx.review.release(res.locals.principal!, taskId(req.params.id), res.locals.requestId);
    res.json({ released: true });
  });

  on(REVIEW_ENDPOINTS.getReviewStatsMe, async (_req, res) => {
    res.json(await ctx.review.myStats(res.locals.principal!));
  });

  on(REVIEW_ENDPOINTS.getReviewStats, async (req, res) => {
    const days = req.query.days === undefined ? 30 : Number(req.query.days);
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw badRequest('invalid_request', 'days must be a whole number from 1 to 3650');
    res.json(await ctx.review.stats(days));
  });

  on(REVIEW_ENDPOINTS.postDecisionsIdAppeal, async (req, res) => {
    const id = idParam(req.params.id, 'decision');
    const b = parseBody(appealBody, req.body);
    const { taskId: task } = await ctx.review.appeal(res.locals.principal!, id, b.reason, res.locals.requestId);
    res.status(201).json({ review_task_id: task, reason: 'appeal', status: 'open' });
  });
  return r;
}
