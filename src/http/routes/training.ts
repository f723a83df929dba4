import path from 'node:path';
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, mounter, type BodyParsers, type Param } from '../endpoint.js';
import { badRequest } from '../../errors.js';
import { hyperparameterOverrides, removedKeyProblems } from '../../policy/schema.js';
import { idParam, UUID, parseBody, safeText } from '../validation.js';


export const runBody = z.strictObject({
  hyperparameters: hyperparameterOverrides.strict().optional(),
  /** Train even when no label arrived since the last run (a retry with other hyperparameters). */
  force: z.boolean().optional(),
});
const reason = safeText(500).pipe(z.string().trim().min(1, 'reason must not be empty')).optional();
export const reasonBody = z.strictObject({ reason });
export const noteBody = z.strictObject({ note: safeText(2000).optional() });
export const backboneBody = z.strictObject({
  /** An absolute path, on the server's machine, inside its models directory. */
  path: z.string().min(1, 'path must not be empty').max(4096),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "name must be 1-64 letters, digits, '.', '_' or '-'"),
});
export const rollbackBody = z.strictObject({
  reason,
  /** The head the caller means to roll back from: a retry that finds another head active is refused (409). */
  expected_head_id: z.string().regex(UUID, 'expected_head_id must be a head id').optional(),
});

function limitOf(raw: unknown): number {
  if (raw === undefined) return 50;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw badRequest('invalid_request', 'limit must be a whole number from 1 to 500');
  return n;
}

const limit: Param = { name: 'limit', description: 'How many (1-500, default 50)', schema: { type: 'integer', minimum: 1, maximum: 500 } };

export const TRAINING_ENDPOINTS = {
  postTrainingRuns: endpoint({ method: 'post', path: '/v1/training/runs', roles: [], summary: 'Start a training run (202 with its id)', body: runBody, status: 202, bodyOptional: true }),
  getTrainingRuns: endpoint({ method: 'get', path: '/v1/training/runs', roles: [], summary: 'Runs, newest first, and the next scheduled one', query: [limit] }),
  getTrainingRunsId: endpoint({ method: 'get', path: '/v1/training/runs/:id', roles: [], summary: 'A run: settings, data snapshot, metrics, eval report, gate decision' }),
  getLabelHolds: endpoint({
    method: 'get',
    path: '/v1/label-holds',
    roles: [],
    summary: 'Batches of labels the drift check held',
    query: [{ name: 'status', description: 'held, accepted or discarded', schema: { enum: ['held', 'accepted', 'discarded'] } }],
  }),
  postLabelHoldsIdAccept: endpoint({ method: 'post', path: '/v1/label-holds/:id/accept', roles: [], summary: 'Accept a held batch: its labels train and evaluate again', body: noteBody, bodyOptional: true }),
  postLabelHoldsIdDiscard: endpoint({ method: 'post', path: '/v1/label-holds/:id/discard', roles: [], summary: 'Discard a held batch: its labels never train', body: noteBody, bodyOptional: true }),
  getModels: endpoint({ method: 'get', path: '/v1/models', roles: [], summary: 'Head versions' }),
  postModelsBackbones: endpoint({ method: 'post', path: '/v1/models/backbones', roles: [], summary: 'Register an imported model directory (201 new, 200 known)', body: backboneBody, status: 201, bodyOptional: true }),
  getModelsIdWeights: endpoint({ method: 'get', path: '/v1/models/:id/weights', roles: [], summary: "A head's weights (base64) and its backbone's path and sha256" }),
  getModelsActivations: endpoint({ method: 'get', path: '/v1/models/activations', roles: [], summary: 'The activation history, newest first', query: [limit] }),
  getModelsId: endpoint({ method: 'get', path: '/v1/models/:id', roles: [], summary: 'A head version: lineage, hyperparameters, snapshot, metrics, activations, shadow statistics' }),
  postModelsRollback: endpoint({ method: 'post', path: '/v1/models/rollback', roles: [], summary: 'Step back one activation; `expected_head_id` makes a retry safe', body: rollbackBody, bodyOptional: true }),
  postModelsIdActivate: endpoint({ method: 'post', path: '/v1/models/:id/activate', roles: [], summary: 'Serve this head (an id, or a version of the active backbone)', body: reasonBody, bodyOptional: true }),
};

export function trainingRoutes(ctx: AppContext, parsers: BodyParsers): Router {
  const r = Router();
  const on = mounter(r, ctx.auth, parsers);

  on(TRAINING_ENDPOINTS.postTrainingRuns, async (req, res) => {
    const removed = removedKeyProblems((req.body as { hyperparameters?: unknown } | undefined)?.hyperparameters);
    if (removed.keys.length) throw badRequest('invalid_request', `hyperparameters.${removed.keys[0]}: ${removed.problems[0]}`);
    const b = parseBody(runBody, req.body ?? {});
    const runId = await ctx.training.request({ requestedBy: res.locals.principal!.keyId, hyperparameters: b.hyperparameters, force: b.force });
    res.status(202).setHeader('Location', `/v1/training/runs/${runId}`).json({ id: runId, status: 'queued' });
  });

  on(TRAINING_ENDPOINTS.getTrainingRuns, async (req, res) => {
    res.json({
      data: await ctx.training.listRuns(limitOf(req.query.limit)),
      scheduler: { enabled: ctx.scheduler !== null, next_run: ctx.scheduler?.nextRun ?? null },
      next_scheduled_run: ctx.scheduler?.nextRun ?? null,
    });
  });

  on(TRAINING_ENDPOINTS.getTrainingRunsId, async (req, res) => {
    res.json(await ctx.training.getRun(idParam(req.params.id, 'training run')));
  });

  on(TRAINING_ENDPOINTS.getLabelHolds, async (req, res) => {
    const status = req.query.status;
    if (status !== undefined && status !== 'held' && status !== 'accepted' && status !== 'discarded') {
      throw badRequest('invalid_request', 'status must be held, accepted or discarded');
    }
    res.json({ data: await ctx.holds.listHolds(status) });
  });

  for (const [op, decision] of [
    [TRAINING_ENDPOINTS.postLabelHoldsIdAccept, 'accepted'],
    [TRAINING_ENDPOINTS.postLabelHoldsIdDiscard, 'discarded'],
  ] as const) {
    on(op, async (req, res) => {
      const b = parseBody(noteBody, req.body ?? {});
      const p = res.locals.principal!;
      res.json(await ctx.holds.decideHold(idParam(req.params.id, 'label hold'), decision, { name: p.name, keyId: p.keyId, requestId: res.locals.requestId }, b.note ?? null));
    });
  }

  on(TRAINING_ENDPOINTS.getModels, async (_req, res) => {
    res.json({ data: await ctx.registry.list() });
  });

  on(TRAINING_ENDPOINTS.postModelsBackbones, async (req, res) => {
    const b = parseBody(backboneBody, req.body);
    const p = res.locals.principal!;
    const out = await ctx.registry.register(b.path, b.name, path.dirname(ctx.config.model.dir), ctx.policies, { name: p.name, keyId: p.keyId, requestId: res.locals.requestId });
    res.status(out.registered ? 201 : 200).json(out);
  });

  on(TRAINING_ENDPOINTS.getModelsIdWeights, async (req, res) => {
    res.json(await ctx.registry.weights(idParam(req.params.id, 'head version')));
  });

  // Before /v1/models/:id, which would read "activations" as an id.
  on(TRAINING_ENDPOINTS.getModelsActivations, async (req, res) => {
    res.json({ data: await ctx.registry.activations(limitOf(req.query.limit)) });
  });

  on(TRAINING_ENDPOINTS.getModelsId, async (req, res) => {
    res.json(await ctx.registry.get(idParam(req.params.id, 'head version')));
  });

  on(TRAINING_ENDPOINTS.postModelsRollback, async (req, res) => {
    const b = parseBody(rollbackBody, req.body ?? {});
    const p = res.locals.principal!;
    const out = await ctx.models.rollback(b.reason ?? 'manual rollback', { name: p.name, keyId: p.keyId, requestId: res.locals.requestId }, b.expected_head_id);
    res.json({ active_head_id: out.headId, previous_head_id: out.previousId });
  });

  on(TRAINING_ENDPOINTS.postModelsIdActivate, async (req, res) => {
    // A head id, or a version number of the active head's backbone.
    const raw = String(req.params.id);
    const headId = /^\d{1,9}$/.test(raw) ? await ctx.registry.idOfVersion(Number(raw)) : idParam(raw, 'head version');
    const b = parseBody(reasonBody, req.body ?? {});
    const p = res.locals.principal!;
    const out = await ctx.models.activate(headId, b.reason ?? 'manual activation', { name: p.name, keyId: p.keyId, requestId: res.locals.requestId });
    res.json({ active_head_id: headId, previous_head_id: out.previousId });
  });
  return r;
}
