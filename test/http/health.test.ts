import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, type TestApp } from '../helpers/app.js';

describe('health, readiness and metrics', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(async () => {
    await app?.close();
  });

  test('/healthz and /readyz need no key; /readyz names the provider, model and policies', async () => {
    assert.deepEqual((await app.request.get('/healthz')).body, { status: 'ok' });
    const r = await app.request.get('/readyz');
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'ready');
    assert.deepEqual(r.body.database, { kind: 'pglite', ok: true });
    assert.equal(r.body.model.loaded, true);
    assert.equal(r.body.model.provider, 'cpu');
    assert.equal(r.body.model.head_version, 1);
    assert.deepEqual(r.body.policies.map((p: { name: string }) => p.name), ['default']);
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
