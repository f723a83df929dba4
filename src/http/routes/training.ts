import path from 'node:path';
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context.js';
import { endpoint, isoTime, jsonObject, mounter, type BodyParsers, type Param } from '../endpoint.js';
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

const runStatus = z.enum(['queued', 'running', 'promoted', 'rejected', 'failed', 'skipped', 'superseded', 'held']);
/** The fields every run has, in the list and alone (settings, snapshot and gate are open-ended JSON). */
const runFields = {
  id: z.string(),
  trigger: z.enum(['cron', 'api', 'cli']),
  scheduled_for: isoTime.nullable(),
  status: runStatus,
  policy_name: z.string(),
  policy_version: z.string(),
  hyperparameters: jsonObject,
  reference_head_id: z.string().nullable(),
  active_head_id: z.string().nullable(),
  candidate_head_id: z.string().nullable(),
  data_snapshot: jsonObject.nullable(),
  gate: jsonObject.nullable(),
  error: z.string().nullable(),
  replica: z.string().nullable(),
  created_at: isoTime,
  started_at: isoTime.nullable(),
  finished_at: isoTime.nullable(),
};
export const runStartedResponse = z.object({ id: z.string(), status: z.literal('queued') });
export const runListResponse = z.object({
  data: z.array(
    z.looseObject({
      ...runFields,
      candidate_accuracy: z.number().nullable(),
      active_accuracy: z.number().nullable(),
      candidate_auprc: z.number().nullable(),
      active_auprc: z.number().nullable(),
      logged_steps: z.number().int().nullable(),
      final_loss: z.number().nullable(),
      final_margin: z.number().nullable(),
      categories: z.array(jsonObject).nullable(),
      candidate_status: z.string().nullable().describe("what became of the run's head: its status now"),
      rolled_back_at: isoTime.nullable(),
    }),
  ),
  scheduler: z.object({ enabled: z.boolean(), next_run: isoTime.nullable() }),
  next_scheduled_run: isoTime.nullable().describe('the same as scheduler.next_run (kept for older clients)'),
});
export const runResponse = z.looseObject({ ...runFields, requested_by: z.string().nullable(), metrics: jsonObject, eval_report: jsonObject.nullable() });
export const holdResponse = z.object({
  id: z.string(),
  training_run_id: z.string(),
  category: z.string(),
  moderator_key_id: z.string().nullable(),
  from_label_id: z.number().int(),
  to_label_id: z.number().int(),
  labels: z.number().int(),
  reason: z.string(),
  status: z.enum(['held', 'accepted', 'discarded']),
  decided_by: z.string().nullable(),
  decided_at: isoTime.nullable(),
  note: z.string().nullable(),
  created_at: isoTime,
});
export const holdListResponse = z.object({ data: z.array(holdResponse) });
const headStatus = z.enum(['base', 'candidate', 'active', 'retired', 'rejected']);
export const headListResponse = z.object({
  data: z.array(
    z.object({
      id: z.string(),
      backbone_id: z.string(),
      backbone: z.string(),
      version: z.number().int(),
      parent_id: z.string().nullable(),
      status: headStatus,
      source: z.string(),
      metrics: jsonObject,
      training_run_id: z.string().nullable(),
      created_at: isoTime,
      promoted_at: isoTime.nullable(),
      retired_at: isoTime.nullable(),
      active: z.boolean(),
    }),
  ),
});
export const backboneRegisteredResponse = z.object({
  registered: z.boolean().describe('true: new (201); false: known already (200)'),
  backbone: z.object({ id: z.string(), name: z.string(), path: z.string(), sha256: z.string() }),
  base_head: z.object({ id: z.string(), version: z.number().int() }),
  activation_warning: z.string().nullable(),
});
const base64 = z.base64();
export const weightsResponse = z.object({
  id: z.string(),
  version: z.number().int(),
  status: headStatus,
  backbone: z.object({ id: z.string(), name: z.string(), path: z.string(), sha256: z.string() }),
  num_labels: z.number().int(),
  dim: z.number().int(),
  weight: base64.describe('little-endian float32'),
  bias: base64.describe('little-endian float32'),
  lexical: z.object({ tokens: base64, weight: base64 }).nullable(),
  ngrams: z.object({ config: jsonObject, rows: base64, buckets: base64, weight: base64 }).nullable(),
});
export const activationListResponse = z.object({
  data: z.array(
    z.object({
      id: z.number().int(),
      at: isoTime,
      head_id: z.string(),
      head_version: z.number().int(),
      previous_head_id: z.string().nullable(),
      previous_version: z.number().int().nullable(),
      rollback: z.boolean(),
      reason: z.string(),
      actor: z.string(),
    }),
  ),
});
export const headResponse = z.object({
  id: z.string(),
  version: z.number().int(),
  status: headStatus,
  source: z.string(),
  backbone: z.looseObject({ id: z.string(), name: z.string(), sha256: z.string(), labels: z.array(z.string()), feature_dim: z.number().int() }).nullable(),
  parent_id: z.string().nullable(),
  lineage: z.array(z.object({ id: z.string(), version: z.number().int(), status: z.string(), source: z.string() })),
  hyperparameters: jsonObject,
  lexical_tokens: z.number().int(),
  ngrams: z.object({ config: jsonObject, labels: z.array(z.string()), buckets: z.number().int() }).nullable(),
  data_snapshot: jsonObject.nullable(),
  metrics: jsonObject,
  training_run: jsonObject.nullable(),
  activations: z.array(z.looseObject({ head_id: z.string(), previous_head_id: z.string().nullable(), at: isoTime })),
  shadow: z
    .object({
      against_head_id: z.string(),
      decisions: z.number().int(),
      action_differs: z.number().int(),
      action_difference_rate: z.number().nullable(),
      category_flips: z.record(z.string(), z.number()),
      updated_at: isoTime,
    })
    .nullable(),
  created_at: isoTime,
  promoted_at: isoTime.nullable(),
  retired_at: isoTime.nullable(),
});
export const activateResponse = z.object({ active_head_id: z.string(), previous_head_id: z.string().nullable().describe('null when no head was active') });
export const rollbackResponse = z.object({ active_head_id: z.string(), previous_head_id: z.string() });

function limitOf(raw: unknown): number {
  if (raw === undefined) return 50;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw badRequest('invalid_request', 'limit must be a whole number from 1 to 500');
  return n;
}

const limit: Param = { name: 'limit', description: 'How many (1-500, default 50)', schema: { type: 'integer', minimum: 1, maximum: 500 } };

export const TRAINING_ENDPOINTS = {
  postTrainingRuns: endpoint({ method: 'post', path: '/v1/training/runs', roles: [], summary: 'Start a training run (202 with its id)', body: runBody, status: 202, bodyOptional: true, response: runStartedResponse, responseDescription: 'Queued (Location: the run)' }),
  getTrainingRuns: endpoint({ method: 'get', path: '/v1/training/runs', roles: [], summary: 'Runs, newest first, and the next scheduled one', query: [limit], response: runListResponse }),
  getTrainingRunsId: endpoint({ method: 'get', path: '/v1/training/runs/:id', roles: [], summary: 'A run: settings, data snapshot, metrics, eval report, gate decision', response: runResponse }),
  getLabelHolds: endpoint({
    method: 'get',
    path: '/v1/label-holds',
    roles: [],
    summary: 'Batches of labels the drift check held',
    query: [{ name: 'status', description: 'held, accepted or discarded', schema: { enum: ['held', 'accepted', 'discarded'] } }],
    response: holdListResponse,
  }),
  postLabelHoldsIdAccept: endpoint({ method: 'post', path: '/v1/label-holds/:id/accept', roles: [], summary: 'Accept a held batch: its labels train and evaluate again', body: noteBody, bodyOptional: true, response: holdResponse, responseDescription: 'The hold, decided' }),
  postLabelHoldsIdDiscard: endpoint({ method: 'post', path: '/v1/label-holds/:id/discard', roles: [], summary: 'Discard a held batch: its labels never train', body: noteBody, bodyOptional: true, response: holdResponse, responseDescription: 'The hold, decided' }),
  getModels: endpoint({ method: 'get', path: '/v1/models', roles: [], summary: 'Head versions', response: headListResponse }),
  postModelsBackbones: endpoint({ method: 'post', path: '/v1/models/backbones', roles: [], summary: 'Register an imported model directory (201 new, 200 known)', body: backboneBody, status: 201, alsoStatus: [200], bodyOptional: true, response: backboneRegisteredResponse, responseDescription: 'The backbone and its base head (201 new; 200, the same body, when known already)' }),
  getModelsIdWeights: endpoint({ method: 'get', path: '/v1/models/:id/weights', roles: [], summary: "A head's weights (base64) and its backbone's path and sha256", response: weightsResponse }),
  getModelsActivations: endpoint({ method: 'get', path: '/v1/models/activations', roles: [], summary: 'The activation history, newest first', query: [limit], response: activationListResponse }),
  getModelsId: endpoint({ method: 'get', path: '/v1/models/:id', roles: [], summary: 'A head version: lineage, hyperparameters, snapshot, metrics, activations, shadow statistics', response: headResponse }),
  postModelsRollback: endpoint({ method: 'post', path: '/v1/models/rollback', roles: [], summary: 'Step back one activation; `expected_head_id` makes a retry safe', body: rollbackBody, bodyOptional: true, response: rollbackResponse }),
  postModelsIdActivate: endpoint({ method: 'post', path: '/v1/models/:id/activate', roles: [], summary: 'Serve this head (an id, or a version of the active backbone)', body: reasonBody, bodyOptional: true, response: activateResponse }),
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
