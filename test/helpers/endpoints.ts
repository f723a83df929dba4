/**
 * The HTTP API as the role matrix and the fuzzer walk it: the declared endpoints (src/http/routes/*.ts,
 * through openapi.ts's operations()) with the data the tests call them with, and a way to list the
 * routes the express app really has.
 */
import type express from 'express';
import { operations } from '../../src/http/openapi.js';

export type Method = 'GET' | 'POST' | 'DELETE';

/** What a route's `:id` names: the reliability tests keep one real row of each kind at hand. */
export type Fixture = 'decision' | 'task' | 'apiKey' | 'run' | 'head' | 'item' | 'hold';

export interface Endpoint {
  method: Method;
  /** The express pattern, exactly as the route declares it. */
  path: string;
  /** What `:id` refers to. */
  id?: Fixture;
  /** `json`: a JSON body is required; `optional`: an empty body counts as {}; absent: the body is never read. */
  body?: 'json' | 'optional';
  /** A valid body (ids are not part of bodies, so one example serves every caller). */
  example?: Record<string, unknown>;
  /** Known query parameters and values that are valid for them. */
  query?: Record<string, string[]>;
}

/**
 * What the tests need to call each endpoint, beside what its declaration says (method, path, body,
 * roles: src/http/routes/*.ts): what `:id` names, a valid example body, valid query values. A route
 * without an entry needs none of them.
 */
const TEST_DATA: Record<string, Pick<Endpoint, 'id' | 'example' | 'query'>> = {
  'POST /v1/moderate': { example: { input: [{ text: 'have a nice day', context: 'reply to post 17', external_id: 'c-42' }], policy: 'default' } },
  'POST /v1/moderations': { example: { input: ['have a nice day'], model: 'omni-moderation-latest' } },
  'GET /v1/decisions/:id': { id: 'decision' },
  'POST /v1/decisions/:id/appeal': { id: 'decision', example: { reason: 'please look at this again' } },
  'POST /v1/review/claim': { example: { reasons: ['audit'], limit: 1 } },
  'GET /v1/review/tasks/:id': { id: 'task' },
  'POST /v1/review/tasks/:id/verdict': { id: 'task', example: { categories: { violence: false, harassment: false, hate: false }, notes: 'looked fine' } },
  'POST /v1/review/tasks/:id/release': { id: 'task' },
  'POST /v1/review/tasks/:id/undo': { id: 'task' },
  'POST /v1/review/tasks/:id/escalate': { id: 'task', example: { comment: 'needs a senior look' } },
  'POST /v1/review/tasks/:id/comments': { id: 'task', example: { comment: 'same text in five threads' } },
  'GET /v1/review/stats': { query: { days: ['30', '1', '3650'] } },
  'GET /v1/preference-pairs': { query: { format: ['jsonl', 'trl'], split: ['train', 'eval'], category: ['violence'], after_id: ['0', '10'], limit: ['1', '100'] } },
  'POST /v1/admin/api-keys': { example: { name: 'fuzz', role: 'client', expires_at: '2099-01-01T00:00:00Z' } },
  'POST /v1/admin/api-keys/:id/trust': { id: 'apiKey', example: { trusted: true } },
  'DELETE /v1/admin/api-keys/:id': { id: 'apiKey' },
  'POST /v1/training/runs': {
    // min_pairs far above what any test gathers: a valid request queues a run that is skipped at once.
    example: {
      hyperparameters: {
        loss: 'sigmoid',
        beta: [0.1, 1],
        label_smoothing: 0,
        rpo_alpha: 0,
        l2: [1, 0.1],
        lexical: true,
        ngrams: { buckets: 65536, word: [1, 2], char: [2, 4], min_df: 2, rare_penalty: 1 },
        folds: 3,
        experts: 'separate',
        standardize: true,
        calibration: 'platt',
        class_weights: 'none',
        pairs: 'all',
        select: true,
        min_pairs: 1_000_000,
        seed: 1,
      },
    },
  },
  'GET /v1/training/runs': { query: { limit: ['1', '50', '500'] } },
  'GET /v1/training/runs/:id': { id: 'run' },
  'GET /v1/label-holds': { query: { status: ['held', 'accepted', 'discarded'] } },
  'POST /v1/label-holds/:id/accept': { id: 'hold', example: { note: 'checked with the team' } },
  'POST /v1/label-holds/:id/discard': { id: 'hold', example: { note: 'a bulk import gone wrong' } },
  'POST /v1/models/backbones': { example: { path: '/srv/models/imported', name: 'imported' } },
  'GET /v1/models/:id/weights': { id: 'head' },
  'GET /v1/models/activations': { query: { limit: ['1', '50', '500'] } },
  'GET /v1/models/:id': { id: 'head' },
  'POST /v1/models/:id/activate': { id: 'head', example: { reason: 'fuzz activation' } },
  'POST /v1/models/rollback': { example: { reason: 'fuzz rollback' } },
  'GET /v1/items': { query: { external_id: ['c-42', 'x'] } },
  'DELETE /v1/items': { query: { author_id: ['u-nobody', 'x'] } },
  'GET /v1/thresholds': { query: { category: ['violence'], target_precision: ['0.9', '0.5'], target_recall: ['0.8'] } },
  'POST /v1/thresholds/what-if': { example: { thresholds: { violence: { flag: 0.4 } }, days: 7 } },
  'GET /v1/items/:id': { id: 'item' },
  'DELETE /v1/items/:id': { id: 'item' },
};

const declared = new Map(operations().map((o) => [`${o.method.toUpperCase()} ${o.path}`, o]));
for (const route of Object.keys(TEST_DATA)) if (!declared.has(route)) throw new Error(`test/helpers/endpoints.ts: ${route} is not a declared endpoint`);

/** Every endpoint that needs a key, from the declarations, with the tests' data for it. */
export const ENDPOINTS: readonly Endpoint[] = [...declared]
  .filter(([, o]) => !o.roles.includes('public'))
  .map(([route, o]) => ({
    method: o.method.toUpperCase() as Method,
    path: o.path,
    ...(o.body ? { body: o.bodyOptional ? ('optional' as const) : ('json' as const) } : {}),
    ...TEST_DATA[route],
  }));

/** Routes that answer without a key (declared `public`). */
export const PUBLIC_ROUTES: readonly string[] = [...declared].filter(([, o]) => o.roles.includes('public')).map(([route]) => route);

/** Static pages (served by express.static, so they are not routes). */
export const PAGES: readonly string[] = ['/review/', '/dashboard/'];

export const routeOf = (e: { method: string; path: string }): string => `${e.method} ${e.path}`;

export function endpoint(route: string): Endpoint {
  const e = ENDPOINTS.find((x) => routeOf(x) === route);
  if (!e) throw new Error(`no endpoint ${route} in test/helpers/endpoints.ts`);
  return e;
}

export function pathFor(e: Endpoint, id?: string): string {
  if (!e.path.includes(':id')) return e.path;
  if (id === undefined) throw new Error(`${routeOf(e)} needs an id`);
  return e.path.replace(':id', id);
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** Every `METHOD /path` the app routes (HEAD, which express derives from GET, left out). */
export function appRoutes(app: express.Express): string[] {
  const out: string[] = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.push(`${m.toUpperCase()} ${layer.route.path}`);
      } else if (layer.handle?.stack) {
        walk(layer.handle.stack);
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  // The walk leans on express internals: fail loudly rather than compare against an empty list.
  if (out.length < 10) throw new Error(`found only ${out.length} routes in the express app; has the router layout changed?`);
  return out;
}
