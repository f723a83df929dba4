/**
 * GET /v1/preference-pairs: the moderators' disagreements with the model, streamed as JSON lines.
 * format=jsonl (default) gives the stored pairs; format=trl gives {"prompt", "chosen", "rejected"} texts
 * that TRL's DPOTrainer reads, so the same feedback can tune a full language model elsewhere.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, mounter, queryParams, type BodyParsers } from '../endpoint.js';
import { badRequest } from '../../errors.js';
import type { PairRow } from '../../review/review.service.js';
import { fieldPath, safeText } from '../validation.js';

export const query = z.strictObject({
  format: z.enum(['jsonl', 'trl']).default('jsonl'),
  split: z.enum(['train', 'eval']).optional(),
  category: safeText(64).pipe(z.string().min(1)).optional(),
  after_id: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).optional(),
});

export function trlPrompt(category: string, text: string, context: string | null | undefined): string {
  return [
    `Moderation category: ${category}`,
    `Content: ${text}`,
    ...(context ? [`Context: ${context}`] : []),
    'Does the content fall under this category? Answer yes or no.',
  ].join('\n');
}

export const PREFERENCE_PAIR_ENDPOINTS = {
  getPreferencePairs: endpoint({ method: 'get', path: '/v1/preference-pairs', roles: [], summary: 'The settled labels as preference pairs (JSONL, or TRL prompts)',
    query: queryParams(query),
    responseContentType: 'application/x-ndjson',
    responseDescription:
      'JSON lines, one pair a line in settlement order. format=jsonl: {id, item_id, decision_id, task_id, category, chosen, rejected, model_label, agrees, split, reason, reviewers, votes_yes, votes_total, backbone_id, head_id, created_at, external_id}; format=trl: {prompt, chosen, rejected, pair_id, split} (pairs whose text was purged left out)',
  }),
};

export function preferencePairRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);
  on(PREFERENCE_PAIR_ENDPOINTS.getPreferencePairs, async (req, res) => {
    const parsed = query.safeParse(req.query);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw badRequest('invalid_request', `${fieldPath(i.path)}: ${i.message}`);
    }
    const q = parsed.data;
    const trl = q.format === 'trl';
    const pairs = ctx.review.pairs({ split: q.split, category: q.category, afterId: q.after_id, limit: q.limit, withText: trl });
    // The first page is read before the headers go out, so a failure there is still a clean error.
    const first = await pairs.next();
    res.status(200).setHeader('Content-Type', 'application/x-ndjson; charset=utf-8');
    let skipped = 0;
    const line = (p: PairRow): string | null => {
      if (!trl) {
        const { text: _t, context: _c, ...rest } = p;
        return JSON.stringify(rest);
      }
      // Purged text cannot become a prompt; such pairs are left out of this form only.
      if (p.text === null || p.text === undefined) {
        skipped++;
        return null;
      }
      const yes = (b: boolean) => (b ? 'yes' : 'no');
      return JSON.stringify({
        prompt: trlPrompt(p.category, p.text, p.context),
        chosen: yes(p.chosen),
        rejected: yes(p.rejected),
        pair_id: p.id,
        split: p.split,
      });
    };
    try {
      for (let it = first; !it.done; it = await pairs.next()) {
        const l = line(it.value);
        if (l !== null && !res.write(`${l}\n`)) await new Promise((resolve) => res.once('drain', resolve));
      }
    } catch (err) {
      // Headers are gone: end the stream so a client sees a short body rather than a hang.
      ctx.logger.error({ err, requestId: res.locals.requestId }, 'preference pair export failed mid-stream');
      res.destroy(err as Error);
      return;
    }
    if (skipped) ctx.logger.info({ skipped, requestId: res.locals.requestId }, 'TRL export left out pairs whose text was purged');
    res.end();
  });
  return r;
}
