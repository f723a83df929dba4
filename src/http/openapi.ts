/**
 * The OpenAPI 3.1 document served at /openapi.json, built from the endpoints' declarations beside their
 * handlers (endpoint.ts): the same objects mount the routes, so a route and its operation cannot drift
 * (test/http/openapi.controller.test.ts checks the app's routes against them). Request bodies and the export's query
 * come from the routes' own zod schemas (z.toJSONSchema, input side); each success response from the zod
 * schema declared beside its handler (output side; test/http/role-matrix.medium.test.ts checks real answers against it, and compiles a generated client against them),
 * or, for the few answers that are not JSON (metrics, the pair export, the root page), its content type in words.
 */
import { z, type ZodType } from 'zod';
import { ERROR_CODES } from '../errors.js';
import type { JsonSchema, Operation } from './endpoint.js';
import { API_KEY_ENDPOINTS } from './routes/api-keys.js';
import { DECISION_ENDPOINTS } from './routes/decisions.js';
import { HEALTH_ENDPOINTS } from './routes/health.js';
import { ITEM_ENDPOINTS } from './routes/items.js';
import { MODERATE_ENDPOINTS } from './routes/moderate.js';
import { MODERATIONS_ENDPOINTS } from './routes/moderations.js';
import { PREFERENCE_PAIR_ENDPOINTS } from './routes/preference-pairs.js';
import { REVIEW_ENDPOINTS } from './routes/review.js';
import { THRESHOLD_ENDPOINTS } from './routes/thresholds.js';
import { TRAINING_ENDPOINTS } from './routes/training.js';

export type { Operation } from './endpoint.js';

const text = (description: string): JsonSchema => ({ type: 'string', description });

/**
 * Every endpoint the app serves, from the declarations beside the handlers (a function: the health route
 * that serves this document is one of them, and its module loads this one).
 */
export function operations(): readonly Operation[] {
  return [HEALTH_ENDPOINTS, API_KEY_ENDPOINTS, MODERATE_ENDPOINTS, MODERATIONS_ENDPOINTS, DECISION_ENDPOINTS, REVIEW_ENDPOINTS, PREFERENCE_PAIR_ENDPOINTS, TRAINING_ENDPOINTS, ITEM_ENDPOINTS, THRESHOLD_ENDPOINTS].flatMap(
    (group) => Object.values(group) as Operation[],
  );
}

function bodySchema(op: Operation): JsonSchema {
  const js = (op.body && '_zod' in (op.body as object) ? z.toJSONSchema(op.body as ZodType, { io: 'input', unrepresentable: 'any' }) : op.body) as JsonSchema & { properties?: Record<string, JsonSchema> };
  const { $schema: _drop, ...rest } = js;
  if (op.bodyOverrides) rest.properties = { ...(rest.properties ?? {}), ...op.bodyOverrides };
  return rest;
}

/** The success response: the declared zod schema (output side) as JSON, or a non-JSON content type in words. */
function successResponse(op: Operation): JsonSchema {
  const description = op.responseDescription ?? 'Success';
  if (op.response) {
    const { $schema: _drop, ...schema } = z.toJSONSchema(op.response, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
    return { description, content: { 'application/json': { schema } } };
  }
  if (op.responseContentType) return { description, content: { [op.responseContentType]: { schema: { type: 'string' } } } };
  return { description };
}

/** An express pattern as an OpenAPI path (`:id` → `{id}`). */
export const toOpenApiPath = (p: string) => p.replace(/:([A-Za-z_]+)/g, '{$1}');

/** The document, for the server at `version`. */
export function openApiDocument(version: string): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const op of operations()) {
    const p = toOpenApiPath(op.path);
    const params = [...op.path.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const success = Object.fromEntries([op.status ?? 200, ...(op.alsoStatus ?? [])].map((status) => [String(status), successResponse(op)]));
    paths[p] ??= {};
    paths[p][op.method] = {
      summary: op.summary,
      'x-modtune-roles': op.roles.includes('public') ? ['public'] : [...op.roles, 'admin'],
      ...(op.roles.includes('public') ? { security: [] } : {}),
      parameters: [...params, ...(op.query ?? []).map((q) => ({ name: q.name, in: 'query', required: q.required === true, description: q.description, schema: q.schema }))],
      ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: bodySchema(op) } } } } : {}),
      responses: {
        ...success,
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
