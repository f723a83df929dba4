/**
 * The role matrix: every endpoint × {no key, unknown key, client, moderator, admin}, each cell with the
 * exact status it must answer. Each cell builds what it needs itself (a decision of THE client key, a
 * task leased to the caller, a fresh key to revoke, ...) so no cell depends on another's side effects.
 * The table must list every route the express app has: a new endpoint without a row fails here.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { operations } from '../../src/http/openapi.js';
import { appRoutes, ENDPOINTS, PAGES, PUBLIC_ROUTES, routeOf } from '../helpers/endpoints.js';
import { waitForRun } from '../helpers/feedback.js';
import { generateClient, typeCheck, typedAnswer } from '../helpers/generated-client.js';
import { insertHolds } from '../../src/tuning/training.repository.js';
import { policies, reviewPolicy } from '../helpers/policies.js';
import { waitFor } from '../helpers/wait.js';

type Role = 'client' | 'moderator' | 'admin';
type Identity = 'none' | 'bad' | Role;
const IDENTITIES: readonly Identity[] = ['none', 'bad', 'client', 'moderator', 'admin'];
const LABELS: Record<Identity, string> = { none: 'no key', bad: 'bad key', client: 'client', moderator: 'moderator', admin: 'admin' };

type Statuses = Record<Identity, number>;

/** Answers without any key, whoever asks. */
const open: Statuses = { none: 200, bad: 200, client: 200, moderator: 200, admin: 200 };

/** 401 without a usable key, 403 for a role the route does not list, `ok` for the roles it does (and admin). */
function allowed(ok: number, ...roles: Exclude<Role, 'admin'>[]): Statuses {
  return {
    none: 401,
    bad: 401,
    client: roles.includes('client') ? ok : 403,
    moderator: roles.includes('moderator') ? ok : 403,
    admin: ok,
  };
}

interface Call {
  path: string;
  body?: object;
}

interface Row {
  /** `METHOD /express/pattern` (or a page's path). */
  route: string;
  expect: Statuses;
  /** The error code of an expected non-2xx answer that is not 401/403. */
  codes?: Partial<Record<Identity, string>>;
  /** Why the allowed cells answer what they answer, when it is not plain success. */
  note?: string;
  /** Builds the request for one cell, with fresh state where the call has side effects. */
  prepare(who: Identity): Promise<Call>;
  /** Lets background work a successful call started finish before the next cell. */
  settle?(res: { status: number; body: any }): Promise<void>;
}

interface Result {
  row: Row;
  got: Partial<Record<Identity, number>>;
}

interface Moderated {
  decision_id: string;
  item_id: string;
  review_task_id: string;
}

interface ClaimedTask {
  id: string;
  decision: { categories: Record<string, boolean> };
  policy: { categories: string[] };
}

for (const kind of testDatabases()) {
  describe(`role matrix (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    const keys = {} as Record<Role, string>;
    // Syntactically a key (same prefix, same length, same alphabet) that the service never issued.
    const unknownKey = `mt_${randomBytes(32).toString('base64url')}`;
    const results: Result[] = [];
    /** The admin's successful answer per route, for the response-schema checks after the rows. */
    const adminAnswers = new Map<string, { status: number; body: unknown }>();
    let texts = 0;

    before(async () => {
      app = await startTestApp({
        db: kind,
        env: { RATE_LIMIT_PER_SECOND: '0' },
        // Every decision is audited, so every scored text opens a review task.
        policies: policies(reviewPolicy('default')),
      });
      for (const role of ['client', 'moderator', 'admin'] as const) keys[role] = await app.key(role);
    });
    after(async () => {
      await app?.close();
    });

    const bearer = (key: string) => ({ Authorization: `Bearer ${key}` });
    const admin = bearer(ADMIN_KEY);

    function headersOf(who: Identity): Record<string, string> {
      if (who === 'none') return {};
      if (who === 'bad') return bearer(unknownKey);
      return bearer(keys[who]);
    }

    function send(method: string, call: Call, headers: Record<string, string>) {
      const r =
        method === 'GET'
          ? app.request.get(call.path)
          : method === 'DELETE'
            ? app.request.delete(call.path)
            : app.request.post(call.path);
      r.set(headers);
      return call.body === undefined ? r : r.send(call.body);
    }

    /** A decision made for THE client key (clients see only their own), with its audit task. */
    async function decision(): Promise<Moderated> {
      const res = await app.request
        .post('/v1/moderate')
        .set(bearer(keys.client))
        .send({ input: `role matrix text number ${++texts}` });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const r = res.body.results[0] as Moderated;
      assert.ok(r.review_task_id, 'the review policy audits every decision');
      return r;
    }

    /** A task leased to `who` (moderator or admin); other identities get one leased to the moderator. */
    async function leasedTask(who: Identity): Promise<ClaimedTask> {
      const holder = who === 'admin' ? keys.admin : keys.moderator;
      await decision();
      const res = await app.request.post('/v1/review/claim').set(bearer(holder)).send({ limit: 1 });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.data.length, 1, 'a fresh decision left a task to claim');
      return res.body.data[0] as ClaimedTask;
    }

    /** A verdict that agrees with the model: the task completes and no preference pair appears. */
    const agreeingVerdict = (t: ClaimedTask) => ({
      categories: Object.fromEntries(t.policy.categories.map((c) => [c, t.decision.categories[c] ?? false])),
      notes: 'role matrix',
    });

    /** Waits until no training run is queued or running, so POST /v1/training/runs cannot meet a 409. */
    async function trainingIdle(): Promise<void> {
      await waitFor(
        async () => {
          const res = await app.request.get('/v1/training/runs').set(admin);
          assert.equal(res.status, 200);
          return !(res.body.data as { status: string }[]).some((r) => r.status === 'queued' || r.status === 'running');
        },
        'every training run to finish',
        60_000,
        100,
      );
    }

    let finishedRun: Promise<string> | undefined;
    /** A finished training run (skipped: the matrix gathers no preference pairs); reading it changes nothing. */
    function trainingRun(): Promise<string> {
      finishedRun ??= (async () => {
        await trainingIdle();
        const res = await app.request.post('/v1/training/runs').set(admin).send({});
        assert.equal(res.status, 202, JSON.stringify(res.body));
        await waitForRun(app, res.body.id);
        return res.body.id as string;
      })();
      return finishedRun;
    }

    /** A fresh held batch of labels (a row as the drift check writes one), so accepting or discarding it succeeds. */
    async function hold(): Promise<string> {
      const id = crypto.randomUUID();
      await insertHolds(app.database.db, [{ id, runId: await trainingRun(), category: 'violence', moderator: null, fromLabelId: 0, toLabelId: 0, labels: 0, reason: 'role matrix' }]);
      return id;
    }

    async function activeHead(): Promise<string> {
      const res = await app.request.get('/v1/models').set(admin);
      assert.equal(res.status, 200);
      const head = (res.body.data as { id: string; status: string }[]).find((h) => h.status === 'active');
      assert.ok(head, 'one head is active');
      return head.id;
    }

    const fixed = (path: string, body?: object) => async (): Promise<Call> => ({ path, body });

    const page = (path: string): Row => ({ route: `GET ${path}`, expect: open, prepare: fixed(path) });

    const rows: Row[] = [
      { route: 'GET /', expect: open, prepare: fixed('/') },
      { route: 'GET /healthz', expect: open, prepare: fixed('/healthz') },
      { route: 'GET /readyz', expect: open, prepare: fixed('/readyz') },
      { route: 'GET /metrics', expect: open, prepare: fixed('/metrics') },
      { route: 'GET /openapi.json', expect: open, prepare: fixed('/openapi.json') },
      ...PAGES.map(page),
      { route: 'POST /v1/moderate', expect: allowed(200, 'client'), prepare: fixed('/v1/moderate', { input: 'have a nice day' }) },
      { route: 'POST /v1/moderations', expect: allowed(200, 'client'), prepare: fixed('/v1/moderations', { input: 'have a nice day' }) },
      {
        route: 'GET /v1/decisions/:id',
        expect: allowed(200, 'client', 'moderator'),
        note: "a decision of THE client key: clients see their own, moderators and admins every one",
        prepare: async () => ({ path: `/v1/decisions/${(await decision()).decision_id}` }),
      },
      {
        route: 'POST /v1/decisions/:id/appeal',
        expect: allowed(201, 'client'),
        note: 'a fresh decision of THE client key per cell (one open appeal per decision)',
        prepare: async () => ({ path: `/v1/decisions/${(await decision()).decision_id}/appeal`, body: { reason: 'please look at this again' } }),
      },
      {
        route: 'POST /v1/review/claim',
        expect: allowed(200, 'moderator'),
        prepare: async () => {
          await decision();
          return { path: '/v1/review/claim', body: { limit: 1 } };
        },
      },
      {
        route: 'GET /v1/review/tasks/:id',
        expect: allowed(200, 'moderator'),
        prepare: async () => ({ path: `/v1/review/tasks/${(await decision()).review_task_id}` }),
      },
      {
        route: 'POST /v1/review/tasks/:id/verdict',
        expect: allowed(200, 'moderator'),
        note: 'a task freshly leased to the caller (only the lease holder may give a verdict)',
        prepare: async (who) => {
          const t = await leasedTask(who);
          return { path: `/v1/review/tasks/${t.id}/verdict`, body: agreeingVerdict(t) };
        },
      },
      {
        route: 'POST /v1/review/tasks/:id/release',
        expect: allowed(200, 'moderator'),
        note: 'a task freshly leased to the caller',
        prepare: async (who) => ({ path: `/v1/review/tasks/${(await leasedTask(who)).id}/release` }),
      },
      {
        route: 'POST /v1/review/tasks/:id/undo',
        expect: allowed(200, 'moderator'),
        note: "the caller's own verdict on a task just settled (the moderator's for roles that may not give one)",
        prepare: async (who) => {
          const t = await leasedTask(who);
          const holder = who === 'admin' ? keys.admin : keys.moderator;
          const v = await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set(bearer(holder)).send(agreeingVerdict(t));
          assert.equal(v.status, 200, JSON.stringify(v.body));
          return { path: `/v1/review/tasks/${t.id}/undo` };
        },
      },
      {
        route: 'POST /v1/review/tasks/:id/escalate',
        expect: allowed(200, 'moderator'),
        note: 'a task freshly leased to the caller',
        prepare: async (who) => ({ path: `/v1/review/tasks/${(await leasedTask(who)).id}/escalate`, body: { comment: 'role matrix' } }),
      },
      {
        route: 'POST /v1/review/tasks/:id/comments',
        expect: allowed(201, 'moderator'),
        prepare: async () => ({ path: `/v1/review/tasks/${(await decision()).review_task_id}/comments`, body: { comment: 'role matrix' } }),
      },
      { route: 'GET /v1/review/stats/me', expect: allowed(200, 'moderator'), prepare: fixed('/v1/review/stats/me') },
      { route: 'GET /v1/review/stats', expect: allowed(200, 'moderator'), prepare: fixed('/v1/review/stats?days=30') },
      { route: 'GET /v1/preference-pairs', expect: allowed(200), prepare: fixed('/v1/preference-pairs?format=jsonl') },
      {
        route: 'POST /v1/admin/api-keys',
        expect: allowed(201),
        prepare: fixed('/v1/admin/api-keys', { name: 'role matrix', role: 'client' }),
      },
      { route: 'GET /v1/me', expect: allowed(200, 'client', 'moderator'), prepare: fixed('/v1/me') },
      { route: 'GET /v1/admin/api-keys', expect: allowed(200), prepare: fixed('/v1/admin/api-keys') },
      {
        route: 'POST /v1/admin/api-keys/:id/trust',
        expect: allowed(200),
        note: 'a throwaway moderator key created for the cell',
        prepare: async () => {
          const res = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'to trust', role: 'moderator' });
          assert.equal(res.status, 201);
          return { path: `/v1/admin/api-keys/${res.body.id}/trust`, body: { trusted: true } };
        },
      },
      {
        route: 'DELETE /v1/admin/api-keys/:id',
        expect: allowed(200),
        note: 'a throwaway client key created for the cell',
        prepare: async () => {
          const res = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'to revoke', role: 'client' });
          assert.equal(res.status, 201);
          return { path: `/v1/admin/api-keys/${res.body.id}` };
        },
      },
      {
        route: 'POST /v1/training/runs',
        expect: allowed(202),
        note: 'no run in progress before the cell; the run (skipped: no pairs) finishes before the next cell',
        prepare: async () => {
          await trainingIdle();
          return { path: '/v1/training/runs', body: {} };
        },
        settle: async (res) => {
          if (res.status === 202) await waitForRun(app, res.body.id);
        },
      },
      { route: 'GET /v1/training/runs', expect: allowed(200), prepare: fixed('/v1/training/runs') },
      {
        route: 'GET /v1/training/runs/:id',
        expect: allowed(200),
        prepare: async () => ({ path: `/v1/training/runs/${await trainingRun()}` }),
      },
      { route: 'GET /v1/models', expect: allowed(200), prepare: fixed('/v1/models') },
      { route: 'GET /v1/models/activations', expect: allowed(200), prepare: fixed('/v1/models/activations') },
      {
        route: 'POST /v1/models/backbones',
        expect: allowed(200),
        note: "the app's own model directory: registered already, so 200 and nothing changes",
        prepare: async () => ({ path: '/v1/models/backbones', body: { path: app.server.ctx.config.model.dir, name: 'again' } }),
      },
      {
        route: 'GET /v1/models/:id/weights',
        expect: allowed(200),
        prepare: async () => ({ path: `/v1/models/${await activeHead()}/weights` }),
      },
      {
        route: 'GET /v1/models/:id',
        expect: allowed(200),
        prepare: async () => ({ path: `/v1/models/${await activeHead()}` }),
      },
      {
        route: 'POST /v1/models/:id/activate',
        expect: allowed(200),
        note: 're-activates the active head: a valid request that changes nothing',
        prepare: async () => ({ path: `/v1/models/${await activeHead()}/activate`, body: { reason: 'role matrix' } }),
      },
      {
        route: 'POST /v1/models/rollback',
        expect: allowed(409),
        codes: { admin: 'nothing_to_roll_back' },
        note: 'the test app has one head, activated at start with no predecessor: 409 nothing_to_roll_back',
        prepare: fixed('/v1/models/rollback', { reason: 'role matrix' }),
      },
      { route: 'GET /v1/label-holds', expect: allowed(200), prepare: fixed('/v1/label-holds?status=held') },
      {
        route: 'POST /v1/label-holds/:id/accept',
        expect: allowed(200),
        note: 'a fresh held batch per cell',
        prepare: async () => ({ path: `/v1/label-holds/${await hold()}/accept`, body: { note: 'role matrix' } }),
      },
      {
        route: 'POST /v1/label-holds/:id/discard',
        expect: allowed(200),
        note: 'a fresh held batch per cell',
        prepare: async () => ({ path: `/v1/label-holds/${await hold()}/discard`, body: {} }),
      },
      { route: 'GET /v1/items', expect: allowed(200), prepare: fixed('/v1/items?external_id=c-42') },
      { route: 'GET /v1/thresholds', expect: allowed(200), prepare: fixed('/v1/thresholds') },
      { route: 'POST /v1/thresholds/what-if', expect: allowed(200), prepare: fixed('/v1/thresholds/what-if', { thresholds: { violence: { flag: 0.4 } } }) },
      { route: 'DELETE /v1/items', expect: allowed(200), note: 'an author with no items: deletes nothing', prepare: fixed('/v1/items?author_id=u-nobody') },
      {
        route: 'GET /v1/items/:id',
        expect: allowed(200),
        prepare: async () => ({ path: `/v1/items/${(await decision()).item_id}` }),
      },
      {
        route: 'DELETE /v1/items/:id',
        expect: allowed(200),
        note: 'a fresh item per cell',
        prepare: async () => ({ path: `/v1/items/${(await decision()).item_id}` }),
      },
    ];

    test('the matrix lists every route of the app, and the shared endpoint table does too', () => {
      const inApp = appRoutes(app.server.app).sort();
      const inMatrix = rows.map((r) => r.route).filter((r) => !PAGES.some((p) => r === `GET ${p}`)).sort();
      assert.deepEqual(inMatrix, inApp, 'every route of src/http/app.ts has a row in the role matrix, and every row a route');
      assert.deepEqual([...ENDPOINTS.map(routeOf), ...PUBLIC_ROUTES].sort(), inApp, 'test/helpers/endpoints.ts lists every route');
    });

    test('the OpenAPI document names the same roles for every route as this matrix', () => {
      for (const row of rows) {
        if (PAGES.some((p) => row.route === `GET ${p}`)) continue;
        const [method, path] = row.route.split(' ');
        const op = operations().find((o) => o.method === method.toLowerCase() && o.path === path);
        assert.ok(op, `${row.route} is documented`);
        const accepted = row.expect.none !== 401 ? ['public'] : (['client', 'moderator'] as const).filter((r) => row.expect[r] !== 403);
        assert.deepEqual([...op.roles].sort(), [...accepted].sort(), row.route);
      }
    });

    for (const row of rows) {
      test(`${row.route}: ${IDENTITIES.map((w) => `${LABELS[w]} ${row.expect[w]}`).join(', ')}`, async () => {
        const method = row.route.split(' ')[0];
        const result: Result = { row, got: {} };
        results.push(result);
        const wrong: string[] = [];
        for (const who of IDENTITIES) {
          const call = await row.prepare(who);
          const res = await send(method, call, headersOf(who));
          result.got[who] = res.status;
          if (who === 'admin' && res.status >= 200 && res.status < 300) adminAnswers.set(row.route, { status: res.status, body: res.body });
          const want = row.expect[who];
          const code = res.status === 401 ? 'unauthorized' : res.status === 403 ? 'forbidden' : row.codes?.[who];
          if (res.status !== want) {
            wrong.push(`${LABELS[who]}: ${method} ${call.path} answered ${res.status}, expected ${want}: ${JSON.stringify(res.body).slice(0, 300)}`);
          } else if (res.status >= 400) {
            const e = res.body?.error;
            if (!e || typeof e.message !== 'string' || !e.message || (code && e.code !== code)) {
              wrong.push(`${LABELS[who]}: ${res.status} without the error ${code ?? ''} body: ${JSON.stringify(res.body).slice(0, 300)}`);
            }
          }
          await row.settle?.(res);
        }
        assert.deepEqual(wrong, [], `${row.route}\n${wrong.join('\n')}`);
      });
    }

    // Every JSON answer matches the zod schema its declaration gives the OpenAPI document (the admin's
    // successful call of the row above). Not JSON, so no schema: GET / (HTML to a browser), /metrics, the pair export.
    const NO_SUCCESSFUL_CALL: Record<string, string> = {
      'POST /v1/models/rollback': 'the test app has no earlier head to roll back to (409); it answers the same schema as POST /v1/models/:id/activate, checked there',
    };
    for (const row of rows) {
      const [method, path] = row.route.split(' ');
      const op = operations().find((o) => o.method === method.toLowerCase() && o.path === path);
      if (!op?.response) continue;
      const schema = op.response;
      test(`${row.route}: the admin's successful answer matches its declared response schema`, { skip: NO_SUCCESSFUL_CALL[row.route] }, () => {
        const answer = adminAnswers.get(row.route);
        assert.ok(answer, `${row.route}: the admin's call above answered no 2xx to check`);
        const parsed = schema.safeParse(answer.body);
        const issues = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
        assert.deepEqual(issues, [], `${row.route} answered ${answer.status} off its declared response schema: ${issues.join('; ')}\n${JSON.stringify(answer.body).slice(0, 500)}`);
      });
    }

    // A client generated from the served document (openapi-typescript), as an API user would make one,
    // and every answer above typed with its response type: the compiler is the check (exact objects: an
    // answer's field the document does not describe is an error too).
    const jsonAnswers = () =>
      rows.flatMap((row) => {
        const [method, path] = row.route.split(' ');
        const op = operations().find((o) => o.method === method.toLowerCase() && o.path === path);
        const answer = adminAnswers.get(row.route);
        return op?.response && answer ? [{ method, path, answer }] : [];
      });
    test("a client generated from /openapi.json type-checks against every route's successful answer", async () => {
      const client = await generateClient((await app.request.get('/openapi.json')).body);
      const answers = jsonAnswers().map(({ method, path, answer }, i) => typedAnswer(`answer${i}`, method, path, answer.status, answer.body));
      const described = operations().filter((o) => o.response).length;
      assert.equal(answers.length, described - Object.keys(NO_SUCCESSFUL_CALL).length, 'every route with a JSON answer but the skipped one is typed');
      assert.deepEqual(await typeCheck(client, answers.join('\n')), []);
    });

    test('the generated client refuses an answer off the document (a key whose role is a number)', async () => {
      const client = await generateClient((await app.request.get('/openapi.json')).body);
      const me = adminAnswers.get('GET /v1/me');
      assert.ok(me);
      const errors = await typeCheck(client, typedAnswer('me', 'GET', '/v1/me', me.status, { ...(me.body as object), role: 42 }));
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0], /^answers\.ts:2: .*number/);
    });

    test('a revoked key is refused on its very next request', async () => {
      const created = await app.request.post('/v1/admin/api-keys').set(admin).send({ name: 'revoked soon', role: 'moderator' });
      assert.equal(created.status, 201);
      const key = created.body.key as string;
      // Used once first, so the key sits in the 5 s lookup cache when it is revoked.
      assert.equal((await app.request.get('/v1/review/stats').set(bearer(key))).status, 200);
      assert.equal((await app.request.delete(`/v1/admin/api-keys/${created.body.id}`).set(admin)).status, 200);
      const next = await app.request.get('/v1/review/stats').set(bearer(key));
      assert.equal(next.status, 401, JSON.stringify(next.body));
      assert.equal(next.body.error.code, 'unauthorized');
      assert.match(next.body.error.message, /revoked/);
      const again = await app.request.delete(`/v1/admin/api-keys/${created.body.id}`).set(bearer(key));
      assert.equal(again.status, 401, 'a revoked key cannot even manage keys');
    });

    test('an expired key is refused; a past expiry cannot be set through the API', async () => {
      const past = await app.request
        .post('/v1/admin/api-keys')
        .set(admin)
        .send({ name: 'already expired', role: 'client', expires_at: new Date(Date.now() - 60_000).toISOString() });
      assert.equal(past.status, 400);
      assert.match(past.body.error.message, /in the future/);

      const created = await app.request
        .post('/v1/admin/api-keys')
        .set(admin)
        .send({ name: 'expires soon', role: 'client', expires_at: new Date(Date.now() + 3_600_000).toISOString() });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      // Before its first use (lookups are cached for 5 s after a successful one), the expiry moves to the past.
      await app.database.db
        .updateTable('api_keys')
        .set({ expires_at: new Date(Date.now() - 1_000) })
        .where('id', '=', created.body.id)
        .execute();
      const res = await app.request.post('/v1/moderate').set(bearer(created.body.key)).send({ input: 'have a nice day' });
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'unauthorized');
      assert.match(res.body.error.message, /expired/);
    });

    test('the matrix', (t) => {
      const width = Math.max(...rows.map((r) => r.route.length));
      const cell = (n: number | undefined, want: number) => (n === want ? String(n) : `${n ?? '—'}≠${want}`).padEnd(10);
      const lines = [
        `${'endpoint'.padEnd(width)}  ${IDENTITIES.map((w) => LABELS[w].padEnd(10)).join('')}`,
        ...results.map(({ row, got }) => `${row.route.padEnd(width)}  ${IDENTITIES.map((w) => cell(got[w], row.expect[w])).join('')}`),
        '',
        ...rows.filter((r) => r.note).map((r) => `${r.route}: ${r.note}`),
      ];
      for (const l of lines) t.diagnostic(l);
      assert.equal(results.length, rows.length, 'every row ran');
      const cells = results.flatMap(({ row, got }) => IDENTITIES.filter((w) => got[w] !== row.expect[w]).map((w) => `${row.route} × ${LABELS[w]}`));
      assert.deepEqual(cells, [], 'cells that answered a different status');
    });
  });
}
