import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { policies, reviewPolicy } from '../helpers/policies.js';
import { insertRun, updateRun } from '../../src/tuning/training.repository.js';

for (const kind of testDatabases()) {
  describe(`health, readiness and metrics (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ db: kind, env: { BATCH_CALIBRATE: 'true' } });
    });
    after(async () => {
      await app?.close();
    });

    test('/healthz and /readyz need no key; /readyz names the provider, model and policies', async () => {
      assert.deepEqual((await app.request.get('/healthz')).body, { status: 'ok' });
      const r = await app.request.get('/readyz');
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'ready');
      assert.deepEqual(r.body.database, { kind: kind.name, ok: true });
      assert.equal(r.body.model.loaded, true);
      assert.equal(r.body.model.provider, 'cpu');
      assert.equal(r.body.model.head_version, 1);
      assert.deepEqual(r.body.policies.map((p: { name: string }) => p.name), ['default']);
    });

    test('/ points to the pages and the API: links for a browser, JSON otherwise, no key needed', async () => {
      const html = await app.request.get('/').set('Accept', 'text/html,application/xhtml+xml');
      assert.equal(html.status, 200);
      assert.match(html.headers['content-type'], /text\/html/);
      for (const href of ['/review', '/dashboard', '/openapi.json']) assert.match(html.text, new RegExp(`href="${href}"`));
      const json = await app.request.get('/');
      assert.equal(json.status, 200);
      assert.deepEqual(json.body.pages, { review: '/review', dashboard: '/dashboard' });
      assert.equal(json.body.api.openapi, '/openapi.json');
    });

    test('/readyz turns 503 while draining', async () => {
      app.server.ctx.draining = true;
      try {
        const r = await app.request.get('/readyz');
        assert.equal(r.status, 503);
        assert.equal(r.body.status, 'draining');
      } finally {
        app.server.ctx.draining = false;
      }
    });

    test('/metrics exposes the provider, decisions, batches and HTTP timings', async () => {
      const client = await app.key('client');
      await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['have a nice day', 'hello'] });
      const m = await app.request.get('/metrics');
      assert.equal(m.status, 200);
      assert.match(m.headers['content-type'], /text\/plain/);
      assert.match(m.text, /modtune_inference_provider\{provider="cpu"\} 1/);
      assert.match(m.text, /modtune_decisions_total\{policy="default",action="allow"\} [1-9]/);
      assert.match(m.text, /modtune_inference_batch_size_count [1-9]/);
      assert.match(m.text, /modtune_http_request_duration_seconds_count\{method="POST",route="\/v1\/moderate"\} 1/);
      assert.match(m.text, /modtune_active_head_info\{backbone="[^"]+",head_id="[^"]+",head_version="1"\} 1/);
      assert.match(m.text, /modtune_inference_queue_length 0/);
      const target = Number(/^modtune_inference_batch_target_size (\d+)$/m.exec(m.text)?.[1]);
      assert.equal(target, app.server.ctx.models.active.runtime.batchSize, 'the calibrated size, as the runtime uses it');
      assert.ok(target >= 1 && target <= 32);
      const workers = [...m.text.matchAll(/^modtune_inference_worker_memory_bytes\{worker="(mt-infer-\d+)"\} (\d+)$/gm)];
      assert.equal(workers.length, app.server.ctx.models.active.runtime.workers, 'one memory figure per inference worker');
    });

    test('security headers are set on every response', async () => {
      const r = await app.request.get('/healthz');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.ok(r.headers['content-security-policy']);
      assert.equal(r.headers['x-powered-by'], undefined);
      assert.match(r.headers['x-request-id'], /^[0-9a-f-]{36}$/);
      const given = await app.request.get('/healthz').set('X-Request-Id', 'trace-123');
      assert.equal(given.headers['x-request-id'], 'trace-123');
      const hostile = await app.request.get('/healthz').set('X-Request-Id', 'bad id <script>');
      assert.notEqual(hostile.headers['x-request-id'], 'bad id <script>');
    });
  });
}

for (const kind of testDatabases()) {
  describe(`metrics an operator alerts on: the review queue, verdicts, training runs and the gate (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default')) });
    });
    after(async () => {
      await app?.close();
    });

    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.slice(series.length + 1));
    };

    test('queue depth by reason and lease, verdicts, runs by status, the last gate, and page routes by name', async () => {
      const client = await app.key('client');
      const moderator = await app.key('moderator');
      await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['one', 'two', 'three'] });
      const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 2 });
      const [first] = claimed.body.data;
      const labels = Object.fromEntries(first.policy.categories.map((c: string) => [c, !first.start[c]]));
      assert.equal((await app.request.post(`/v1/review/tasks/${first.id}/verdict`).set('Authorization', `Bearer ${moderator}`).send({ categories: labels })).status, 200);
      // A run that reached the gate and passed it, and one that was skipped.
      const id = crypto.randomUUID();
      await insertRun(app.database.db, { id, trigger: 'api', policyName: 'default', policyVersion: 'v', hyperparameters: {} });
      await updateRun(app.database.db, id, { status: 'promoted', evalReport: { candidate: { accuracy: 0.91 }, active: { accuracy: 0.88 } }, gate: { passed: true, checks: [] }, finished: true });
      const skipped = crypto.randomUUID();
      await insertRun(app.database.db, { id: skipped, trigger: 'api', policyName: 'default', policyVersion: 'v', hyperparameters: {} });
      await updateRun(app.database.db, skipped, { status: 'skipped', finished: true });
      await app.request.get('/review/');
      await app.request.get('/dashboard/dashboard.js');

      const m = (await app.request.get('/metrics')).text;
      assert.equal(value(m, 'modtune_review_queue_tasks{reason="audit",state="open"}'), 2, 'three audits, one done');
      assert.equal(value(m, 'modtune_review_queue_tasks{reason="audit",state="leased"}'), 1, 'one still held');
      assert.equal(value(m, 'modtune_review_queue_tasks{reason="appeal",state="open"}'), 0);
      assert.equal(value(m, 'modtune_review_verdicts_total'), 1);
      assert.equal(value(m, 'modtune_review_disagreement_cells_total'), first.policy.categories.length, 'every category overruled');
      assert.equal(value(m, 'modtune_training_runs{status="promoted"}'), 1);
      assert.equal(value(m, 'modtune_training_runs{status="skipped"}'), 1);
      assert.equal(value(m, 'modtune_gate_eval_accuracy{head="candidate"}'), 0.91);
      assert.equal(value(m, 'modtune_gate_eval_accuracy{head="active"}'), 0.88);
      assert.equal(value(m, 'modtune_gate_passed'), 1);
      assert.ok((value(m, 'modtune_gate_last_run_timestamp_seconds') ?? 0) > Date.now() / 1000 - 600);
      assert.match(m, /modtune_http_requests_total\{method="GET",route="\/review",status="\d+"\} 1/);
      assert.match(m, /modtune_http_requests_total\{method="GET",route="\/dashboard",status="200"\} 1/);
    });
  });
}
