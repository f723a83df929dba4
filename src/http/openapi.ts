/**
 * The OpenAPI 3.1 document served at /openapi.json. Request bodies and the export's query come from the
 * routes' own zod schemas (z.toJSONSchema, input side), so a changed schema changes the document; the
 * `input` of the two moderation endpoints, which is checked by hand (inputs.ts) to name the exact element
 * at fault, is described here. Every route of the app has an operation here and every operation a route
 * (test/http/openapi.test.ts), so the list cannot drift. Responses are described in words (the README
 * has examples); they have no schemas.
 */
import { z, type ZodType } from 'zod';
import type { Role } from '../db/schema/api-keys.js';
import { createBody, trustBody } from './routes/api-keys.js';
import { body as moderateBody } from './routes/moderate.js';
import { whatIfBody } from './routes/thresholds.js';
import { body as moderationsBody } from './routes/moderations.js';
import { query as pairsQuery } from './routes/preference-pairs.js';
import { appealBody, claimBody, commentBody, verdictBody } from './routes/review.js';
import { backboneBody, noteBody, reasonBody, rollbackBody, runBody } from './routes/training.js';
import { ERROR_CODES } from '../errors.js';

type JsonSchema = Record<string, unknown>;

interface Param {
  name: string;
  description: string;
  schema: JsonSchema;
}

export interface Operation {
  method: 'get' | 'post' | 'delete';
  /** The express pattern (`:id`). */
  path: string;
  /** The roles that may call it besides admin (who may call everything); `public`: no key needed. */
  roles: readonly (Exclude<Role, 'admin'> | 'public')[];
  summary: string;
  body?: ZodType | JsonSchema;
  /** Body fields whose schema is written here rather than taken from zod. */
  bodyOverrides?: Record<string, JsonSchema>;
  query?: Param[];
  /** The success status (200 unless said). */
  status?: number;
}

const text = (description: string): JsonSchema => ({ type: 'string', description });
const MODERATE_INPUT: JsonSchema = {
  description: 'A text, texts, or objects with the text and optional context and platform ids',
  oneOf: [
    { type: 'string' },
    {
      type: 'array',
      items: {
        oneOf: [
          { type: 'string' },
          {
            type: 'object',
            additionalProperties: false,
            required: ['text'],
            properties: {
              text: { type: 'string' },
              context: { type: 'string' },
              external_id: { type: 'string', maxLength: 256, minLength: 1 },
              author_id: { type: 'string', maxLength: 256, minLength: 1 },
              thread_id: { type: 'string', maxLength: 256, minLength: 1 },
            },
          },
        ],
      },
    },
  ],
};
const OPENAI_INPUT: JsonSchema = {
  description: "OpenAI's form: a string, strings, or text parts ({type: 'text', text})",
  oneOf: [{ type: 'string' }, { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'object', properties: { type: { const: 'text' }, text: { type: 'string' } } }] } }],
};
const limit: Param = { name: 'limit', description: 'How many (1-500, default 50)', schema: { type: 'integer', minimum: 1, maximum: 500 } };

export const OPERATIONS: readonly Operation[] = [
  { method: 'get', path: '/', roles: ['public'], summary: 'Where things are: the pages, the API document, readiness (links for a browser, JSON otherwise)' },
  { method: 'get', path: '/healthz', roles: ['public'], summary: 'Liveness: the process answers' },
  { method: 'get', path: '/readyz', roles: ['public'], summary: 'Readiness: database reachable, model loaded, not draining (503 otherwise)' },
  { method: 'get', path: '/metrics', roles: ['public'], summary: 'Prometheus metrics' },
  { method: 'get', path: '/openapi.json', roles: ['public'], summary: 'This document' },
  { method: 'get', path: '/v1/me', roles: ['client', 'moderator'], summary: 'Who this key is: {key_id, name, role}' },
  { method: 'post', path: '/v1/moderate', roles: ['client'], summary: 'Score and decide: per input the action, categories, scores, decision and review task ids', body: moderateBody, bodyOverrides: { input: MODERATE_INPUT } },
  { method: 'post', path: '/v1/moderations', roles: ['client'], summary: 'OpenAI-compatible moderation; each result also has `modtune: {decision_id, item_id, external_id, action, review_task_id}`', body: moderationsBody, bodyOverrides: { input: OPENAI_INPUT } },
  { method: 'get', path: '/v1/decisions/:id', roles: ['client', 'moderator'], summary: 'A stored decision' },
  { method: 'post', path: '/v1/decisions/:id/appeal', roles: ['client'], summary: 'Appeal a decision: an appeal review task', body: appealBody, status: 201 },
  { method: 'post', path: '/v1/review/claim', roles: ['moderator'], summary: 'Lease up to `limit` tasks (optionally of some reasons)', body: claimBody },
  { method: 'get', path: '/v1/review/tasks/:id', roles: ['moderator'], summary: 'A task: content, why it is here, the subject history and comments, where the verdict starts' },
  { method: 'post', path: '/v1/review/tasks/:id/verdict', roles: ['moderator'], summary: "The lease holder's verdict per category", body: verdictBody },
  { method: 'post', path: '/v1/review/tasks/:id/release', roles: ['moderator'], summary: 'Give a leased task back to the queue' },
  { method: 'post', path: '/v1/review/tasks/:id/undo', roles: ['moderator'], summary: 'Take back your latest verdict on the task until training has read it' },
  { method: 'post', path: '/v1/review/tasks/:id/escalate', roles: ['moderator'], summary: 'Send the task to a senior moderator, saying why', body: commentBody },
  { method: 'post', path: '/v1/review/tasks/:id/comments', roles: ['moderator'], summary: "A comment on the task's item, author and thread", body: commentBody, status: 201 },
  { method: 'get', path: '/v1/review/stats/me', roles: ['moderator'], summary: 'Your verdict counts, median handling time and agreement with settled labels' },
  {
    method: 'get',
    path: '/v1/review/stats',
    roles: ['moderator'],
    summary: 'Queue depth per reason, handling time and agreement',
    query: [{ name: 'days', description: 'The window (default 30)', schema: { type: 'integer', minimum: 1 } }],
  },
  { method: 'get', path: '/v1/preference-pairs', roles: [], summary: 'The settled labels as preference pairs (JSONL, or TRL prompts)', query: queryParams(pairsQuery) },
  { method: 'post', path: '/v1/training/runs', roles: [], summary: 'Start a training run (202 with its id)', body: runBody, status: 202 },
  { method: 'get', path: '/v1/training/runs', roles: [], summary: 'Runs, newest first, and the next scheduled one', query: [limit] },
  { method: 'get', path: '/v1/training/runs/:id', roles: [], summary: 'A run: settings, data snapshot, metrics, eval report, gate decision' },
  {
    method: 'get',
    path: '/v1/label-holds',
    roles: [],
    summary: 'Batches of labels the drift check held',
    query: [{ name: 'status', description: 'held, accepted or discarded', schema: { enum: ['held', 'accepted', 'discarded'] } }],
  },
  { method: 'post', path: '/v1/label-holds/:id/accept', roles: [], summary: 'Accept a held batch: its labels train and evaluate again', body: noteBody },
  { method: 'post', path: '/v1/label-holds/:id/discard', roles: [], summary: 'Discard a held batch: its labels never train', body: noteBody },
  { method: 'get', path: '/v1/models', roles: [], summary: 'Head versions' },
  { method: 'get', path: '/v1/models/activations', roles: [], summary: 'The activation history, newest first', query: [limit] },
  { method: 'post', path: '/v1/models/backbones', roles: [], summary: 'Register an imported model directory (201 new, 200 known)', body: backboneBody, status: 201 },
  { method: 'get', path: '/v1/models/:id', roles: [], summary: 'A head version: lineage, hyperparameters, snapshot, metrics, activations, shadow statistics' },
  { method: 'get', path: '/v1/models/:id/weights', roles: [], summary: "A head's weights (base64) and its backbone's path and sha256" },
  { method: 'post', path: '/v1/models/:id/activate', roles: [], summary: 'Serve this head (an id, or a version of the active backbone)', body: reasonBody },
  { method: 'post', path: '/v1/models/rollback', roles: [], summary: 'Step back one activation; `expected_head_id` makes a retry safe', body: rollbackBody },
  { method: 'post', path: '/v1/admin/api-keys', roles: [], summary: 'Create a key (shown once)', body: createBody, status: 201 },
  { method: 'get', path: '/v1/admin/api-keys', roles: [], summary: 'Keys without their secrets' },
  { method: 'post', path: '/v1/admin/api-keys/:id/trust', roles: [], summary: "Trust a moderator key (trusted eval set, senior queue), or stop", body: trustBody },
  { method: 'delete', path: '/v1/admin/api-keys/:id', roles: [], summary: 'Revoke a key' },
  {
    method: 'get',
    path: '/v1/items',
    roles: [],
    summary: "The items stored under your platform's id, or of one author (exactly one of the two)",
    query: [
      { name: 'external_id', description: "Your platform's id of an item", schema: { type: 'string', minLength: 1, maxLength: 256 } },
      { name: 'author_id', description: "Your platform's id of an author", schema: { type: 'string', minLength: 1, maxLength: 256 } },
    ],
  },
  {
    method: 'delete',
    path: '/v1/items',
    roles: [],
    summary: 'Delete every item of an author (a data-subject request in one call) and everything derived from them; answers the counts',
    query: [{ name: 'author_id', description: "Your platform's id of the author (required)", schema: { type: 'string', minLength: 1, maxLength: 256 } }],
  },
  {
    method: 'get',
    path: '/v1/thresholds',
    roles: [],
    summary: "The threshold advisor: per category, a head's precision and recall on the blind audit sample at each threshold, with 95% intervals and sample sizes; with a target, the threshold that meets it or why not",
    query: [
      { name: 'category', description: 'One category (default: all of the policy)', schema: { type: 'string' } },
      { name: 'target_precision', description: 'Suggest the lowest threshold whose precision interval lies above this', schema: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 } },
      { name: 'target_recall', description: 'Suggest the highest threshold whose recall interval lies above this', schema: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 } },
      { name: 'head_id', description: 'A candidate head of the active backbone (default: the active head)', schema: { type: 'string' } },
      { name: 'policy', description: 'The policy (default: the default policy)', schema: { type: 'string' } },
    ],
  },
  { method: 'post', path: '/v1/thresholds/what-if', roles: [], summary: 'Proposed thresholds against the stored decisions of the last days: how many change action, with examples, and the policy file diff (changes nothing)', body: whatIfBody },
  { method: 'get', path: '/v1/items/:id', roles: [], summary: 'Everything stored about an item (data-subject access)' },
  { method: 'delete', path: '/v1/items/:id', roles: [], summary: 'Delete an item and everything derived from it' },
];

function queryParams(schema: ZodType): Param[] {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema> };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, description: String(s.description ?? name), schema: s }));
}

function bodySchema(op: Operation): JsonSchema {
  const js = (op.body && '_zod' in (op.body as object) ? z.toJSONSchema(op.body as ZodType, { io: 'input', unrepresentable: 'any' }) : op.body) as JsonSchema & { properties?: Record<string, JsonSchema> };
  const { $schema: _drop, ...rest } = js;
  if (op.bodyOverrides) rest.properties = { ...(rest.properties ?? {}), ...op.bodyOverrides };
  return rest;
}

const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z_]+)/g, '{$1}');

/** The document, for the server at `version`. */
export function openApiDocument(version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of OPERATIONS) {
    const p = toOpenApiPath(op.path);
    const params = [...op.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const status = String(op.status ?? 200);
    paths[p] ??= {};
    paths[p][op.method] = {
      summary: op.summary,
      'x-modtune-roles': op.roles.includes('public') ? ['public'] : [...op.roles, 'admin'],
      ...(op.roles.includes('public') ? { security: [] } : {}),
      parameters: [...params, ...(op.query ?? []).map((q) => ({ name: q.name, in: 'query', required: op.path === '/v1/items' && op.method === 'delete' && q.name === 'author_id', description: q.description, schema: q.schema }))],
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: bodySchema(op) } } } } : {}),
      responses: {
        [status]: { description: 'Success' },
        default: {
          description: 'An error: `{"error": {"code", "message"}}` (4xx names the problem; 401 no or bad key; 403 wrong role; 429 rate limited; 503 database or model unavailable)',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'modtune',
      version,
      description: 'Self-hosted content moderation that learns from its moderators. `x-modtune-roles` lists the key roles an operation accepts (admin may call everything; `public` needs no key).',
    },
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer <key>`' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string', enum: [...ERROR_CODES], description: 'machine-readable; a closed list' }, message: text('what is wrong, in words') },
            },
          },
        },
      },
    },
    security: [{ apiKey: [] }],
    paths,
  };
}
