/**
 * The HTTP API as one table, walked by the role matrix and by the fuzzer, and a way to list the routes
 * the express app really has, so that a new endpoint that nobody added here fails the role matrix.
 */
import type express from 'express';

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

export const ENDPOINTS: readonly Endpoint[] = [
  {
    method: 'POST',
    path: '/v1/moderate',
    body: 'json',
    example: { input: [{ text: 'have a nice day', context: 'reply to post 17', external_id: 'c-42' }], policy: 'default' },
  },
  { method: 'POST', path: '/v1/moderations', body: 'json', example: { input: ['have a nice day'], model: 'omni-moderation-latest' } },
  { method: 'GET', path: '/v1/decisions/:id', id: 'decision' },
  { method: 'POST', path: '/v1/decisions/:id/appeal', id: 'decision', body: 'json', example: { reason: 'please look at this again' } },
  { method: 'POST', path: '/v1/review/claim', body: 'json', example: { reasons: ['audit'], limit: 1 } },
  { method: 'GET', path: '/v1/review/tasks/:id', id: 'task' },
  {
    method: 'POST',
    path: '/v1/review/tasks/:id/verdict',
    id: 'task',
    body: 'json',
    example: { categories: { violence: false, harassment: false, hate: false }, notes: 'looked fine' },
  },
  { method: 'POST', path: '/v1/review/tasks/:id/release', id: 'task' },
  { method: 'POST', path: '/v1/review/tasks/:id/undo', id: 'task' },
  { method: 'POST', path: '/v1/review/tasks/:id/escalate', id: 'task', body: 'json', example: { comment: 'needs a senior look' } },
  { method: 'POST', path: '/v1/review/tasks/:id/comments', id: 'task', body: 'json', example: { comment: 'same text in five threads' } },
  { method: 'GET', path: '/v1/review/stats/me' },
  { method: 'GET', path: '/v1/review/stats', query: { days: ['30', '1', '3650'] } },
  {
    method: 'GET',
    path: '/v1/preference-pairs',
    query: { format: ['jsonl', 'trl'], split: ['train', 'eval'], category: ['violence'], after_id: ['0', '10'], limit: ['1', '100'] },
  },
  {
    method: 'POST',
    path: '/v1/admin/api-keys',
    body: 'json',
    example: { name: 'fuzz', role: 'client', expires_at: '2099-01-01T00:00:00Z' },
  },
  { method: 'GET', path: '/v1/me' },
  { method: 'GET', path: '/v1/admin/api-keys' },
  { method: 'POST', path: '/v1/admin/api-keys/:id/trust', id: 'apiKey', body: 'json', example: { trusted: true } },
  { method: 'DELETE', path: '/v1/admin/api-keys/:id', id: 'apiKey' },
  {
    method: 'POST',
    path: '/v1/training/runs',
    body: 'optional',
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
  { method: 'GET', path: '/v1/training/runs', query: { limit: ['1', '50', '500'] } },
  { method: 'GET', path: '/v1/training/runs/:id', id: 'run' },
  { method: 'GET', path: '/v1/label-holds', query: { status: ['held', 'accepted', 'discarded'] } },
  { method: 'POST', path: '/v1/label-holds/:id/accept', id: 'hold', body: 'optional', example: { note: 'checked with the team' } },
  { method: 'POST', path: '/v1/label-holds/:id/discard', id: 'hold', body: 'optional', example: { note: 'a bulk import gone wrong' } },
  { method: 'GET', path: '/v1/models' },
  { method: 'POST', path: '/v1/models/backbones', body: 'json', example: { path: '/srv/models/imported', name: 'imported' } },
  { method: 'GET', path: '/v1/models/:id/weights', id: 'head' },
  { method: 'GET', path: '/v1/models/activations', query: { limit: ['1', '50', '500'] } },
  { method: 'GET', path: '/v1/models/:id', id: 'head' },
  { method: 'POST', path: '/v1/models/:id/activate', id: 'head', body: 'optional', example: { reason: 'fuzz activation' } },
  { method: 'POST', path: '/v1/models/rollback', body: 'optional', example: { reason: 'fuzz rollback' } },
  { method: 'GET', path: '/v1/items', query: { external_id: ['c-42', 'x'] } },
  { method: 'DELETE', path: '/v1/items', query: { author_id: ['u-nobody', 'x'] } },
  { method: 'GET', path: '/v1/thresholds', query: { category: ['violence'], target_precision: ['0.9', '0.5'], target_recall: ['0.8'] } },
  { method: 'POST', path: '/v1/thresholds/what-if', body: 'json', example: { thresholds: { violence: { flag: 0.4 } }, days: 7 } },
  { method: 'GET', path: '/v1/items/:id', id: 'item' },
  { method: 'DELETE', path: '/v1/items/:id', id: 'item' },
];

/** Routes that answer without a key. */
export const PUBLIC_ROUTES: readonly string[] = ['GET /', 'GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /openapi.json'];

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
