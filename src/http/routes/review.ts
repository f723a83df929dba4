import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, isoTime, mounter, type BodyParsers } from '../endpoint.js';
import { badRequest } from '../../errors.js';
import { REVIEW_REASONS } from '../../review/review.service.js';
import type { ReviewReason } from '../../db/schema/review.js';
import { idempotencyKeyOf, rawBody, requestHash } from '../../idempotency/idempotency.js';
import { idParam, parseBody, safeText } from '../validation.js';
import { itemFields } from './items.js';


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

const reason = z.enum(REVIEW_REASONS as [ReviewReason, ...ReviewReason[]]);
const split = z.enum(['train', 'eval']);
const comment = z.object({ id: z.string(), about: z.enum(['this item', 'author', 'thread']), moderator: z.string(), text: z.string(), created_at: isoTime });

/** A review task as the review page gets it (TaskView, api-types.ts TaskJson). */
export const taskResponse = z.object({
  id: z.string(),
  reason,
  priority: z.number(),
  status: z.string(),
  item: itemFields.extend({ text_purged: z.boolean() }),
  why: z.object({ summary: z.string(), categories: z.array(z.object({ category: z.string(), score: z.number(), threshold: z.number(), kind: z.enum(['flag', 'block']) })) }),
  graphic: z.boolean(),
  history: z.array(
    z.object({
      item_id: z.string(),
      external_id: z.string().nullable(),
      relation: z.enum(['author', 'thread', 'author and thread']),
      text: z.string().nullable(),
      created_at: isoTime,
      action: z.string().nullable(),
      verdict: z.array(z.string()).nullable(),
      graphic: z.boolean(),
    }),
  ),
  highlight: z.array(z.object({ word: z.string(), contribution: z.number(), categories: z.array(z.string()) })).nullable(),
  escalation: z.object({ by: z.string().nullable(), at: isoTime, comment: z.string().nullable() }).nullable(),
  comments: z.array(comment),
  decision: z.object({
    id: z.string(),
    action: z.string().nullable().describe('null on a blind task'),
    flagged: z.boolean().nullable(),
    categories: z.record(z.string(), z.boolean()).nullable(),
    category_scores: z.record(z.string(), z.number()).nullable(),
    head_id: z.string(),
    created_at: isoTime,
  }),
  blind: z.boolean(),
  start: z.record(z.string(), z.boolean()),
  policy: z.object({ name: z.string(), version: z.string(), categories: z.array(z.string()) }),
  appeal_reason: z.string().nullable(),
  earlier_reviews: z.array(z.object({ task_id: z.string(), reason, categories: z.record(z.string(), z.boolean()), notes: z.string().nullable(), created_at: isoTime })),
  reviews: z.object({ required: z.number().int(), done: z.number().int() }),
  lease: z.object({ moderator_key_id: z.string().nullable(), leased_at: isoTime.nullable(), expires_at: isoTime.nullable() }),
  created_at: isoTime,
  completed_at: isoTime.nullable(),
});
export const claimResponse = z.object({ data: z.array(taskResponse) });
/** What a verdict answers (VerdictOutcome, api-types.ts VerdictJson). */
export const verdictResponse = z.object({
  review_id: z.string(),
  task_status: z.enum(['open', 'done']),
  labels: z.array(z.object({ category: z.string(), label: z.boolean().nullable(), model_label: z.boolean(), conflict: z.boolean() })).optional(),
  preference_pairs: z.number().int(),
  disagreements: z.number().int(),
  escalated: z.boolean().optional(),
  split: split.optional(),
});
export const escalatedResponse = z.object({ escalated: z.literal(true) });
export const releasedResponse = z.object({ released: z.literal(true) });
export const myStatsResponse = z.object({
  key_id: z.string(),
  name: z.string(),
  verdicts: z.object({ last_24h: z.number().int(), last_7_days: z.number().int() }),
  median_handling_ms: z.number().nullable(),
  agreement_with_settled: z.object({ cells: z.number().int(), rate: z.number().nullable() }),
});
const nullableNumber = z.number().nullable();
export const statsResponse = z.object({
  window_days: z.number().int(),
  queue: z.record(z.string(), z.object({ open: z.number().int(), leased: z.number().int() })).describe('per reason'),
  queue_total: z.number().int(),
  median_handling_ms: z.object({ all: nullableNumber, by_reason: z.record(z.string(), nullableNumber) }),
  agreement: z.object({
    moderators: z.record(z.string(), z.object({ items: z.number().int(), cohen_kappa: nullableNumber, krippendorff_alpha: nullableNumber })).describe('per category'),
    moderators_vs_model: z.record(z.string(), z.object({ items: z.number().int(), agreement: nullableNumber, cohen_kappa: nullableNumber })).describe('per category'),
  }),
});
export const appealResponse = z.object({ review_task_id: z.string(), reason: z.literal('appeal'), status: z.literal('open') });

const taskId = (raw: unknown): string => idParam(raw, 'review task');

export const REVIEW_ENDPOINTS = {
  postReviewClaim: endpoint({ method: 'post', path: '/v1/review/claim', roles: ['moderator'], summary: 'Lease up to `limit` tasks (optionally of some reasons)', body: claimBody, response: claimResponse, responseDescription: 'The tasks leased (none: an empty list)' }),
  getReviewTasksId: endpoint({ method: 'get', path: '/v1/review/tasks/:id', roles: ['moderator'], summary: 'A task: content, why it is here, the subject history and comments, where the verdict starts', response: taskResponse }),
  postReviewTasksIdVerdict: endpoint({ method: 'post', path: '/v1/review/tasks/:id/verdict', roles: ['moderator'], summary: "The lease holder's verdict per category", body: verdictBody, response: verdictResponse }),
  postReviewTasksIdEscalate: endpoint({ method: 'post', path: '/v1/review/tasks/:id/escalate', roles: ['moderator'], summary: 'Send the task to a senior moderator, saying why', body: commentBody, response: escalatedResponse }),
  postReviewTasksIdComments: endpoint({ method: 'post', path: '/v1/review/tasks/:id/comments', roles: ['moderator'], summary: "A comment on the task's item, author and thread", body: commentBody, status: 201, response: comment, responseDescription: 'The comment' }),
  postReviewTasksIdUndo: endpoint({ method: 'post', path: '/v1/review/tasks/:id/undo', roles: ['moderator'], summary: 'Take back your latest verdict on the task until training has read it', response: taskResponse, responseDescription: 'The task, open again and leased back to you' }),
  postReviewTasksIdRelease: endpoint({ method: 'post', path: '/v1/review/tasks/:id/release', roles: ['moderator'], summary: 'Give a leased task back to the queue', response: releasedResponse }),
  getReviewStatsMe: endpoint({ method: 'get', path: '/v1/review/stats/me', roles: ['moderator'], summary: 'Your verdict counts, median handling time and agreement with settled labels', response: myStatsResponse }),
  getReviewStats: endpoint({
    method: 'get',
    path: '/v1/review/stats',
    roles: ['moderator'],
    summary: 'Queue depth per reason, handling time and agreement',
    query: [{ name: 'days', description: 'The window (default 30)', schema: { type: 'integer', minimum: 1 } }],
    response: statsResponse,
  }),
  postDecisionsIdAppeal: endpoint({ method: 'post', path: '/v1/decisions/:id/appeal', roles: ['client'], summary: 'Appeal a decision: an appeal review task', body: appealBody, status: 201, response: appealResponse, responseDescription: 'The appeal review task' }),
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
