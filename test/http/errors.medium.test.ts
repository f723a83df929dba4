/**
 * The errors a service decides (an unknown policy, an expiry in the past, inference trouble) on the real
 * app: clear codes and messages, nothing stored. The paths the HTTP layer decides alone (401, 403, 400 for
 * shapes and limits, 404, 413, 415) are in errors.controller.test.ts, on fake services.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { InferenceError, InferenceTimeout } from '../../src/inference/errors.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { expectError } from '../helpers/http.js';

for (const kind of testDatabases()) {
  describe(`request errors (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    before(async () => {
      app = await startTestApp({ db: kind, env: { MAX_INPUTS: '4', MAX_TEXT_LENGTH: '100', MAX_CONTEXT_LENGTH: '50', MAX_BODY_SIZE: '2kb' } });
      client = await app.key('client');
    });
    after(async () => {
      await app?.close();
    });

    const decisionCount = async () =>
      Number((await sql<{ n: number }>`select count(*) as n from decisions`.execute(app.database.db)).rows[0].n);

    const post = (path: string, body: unknown, key: string | null = client) => {
      const r = app.request.post(path);
      if (key) r.set('Authorization', `Bearer ${key}`);
      return typeof body === 'string' ? r.set('Content-Type', 'application/json').send(body) : r.send(body as object);
    };

    test('/v1/moderate: an unknown policy is named, with the ones there are; nothing stored', async () => {
      const before = await decisionCount();
      expectError(await post('/v1/moderate', { input: 'a', policy: 'nope' }), 400, 'unknown_policy', /'nope' does not exist; available: default/);
      assert.equal(await decisionCount(), before);
    });

    test('/v1/moderations: OpenAI multimodal parts; images are refused', async () => {
      const ok = await post('/v1/moderations', { input: [{ type: 'text', text: 'have a nice day' }] });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.results.length, 1);
      expectError(await post('/v1/moderations', { input: [{ type: 'image_url', image_url: { url: 'x' } }] }), 400, 'unsupported_input', /text only/);
    });

    test('lone surrogates are made well-formed, not refused', async () => {
      const res = await post('/v1/moderate', { input: 'broken \ud800 surrogate' });
      assert.equal(res.status, 200);
      const row = await app.database.db.selectFrom('content_items').select('text').where('id', '=', res.body.results[0].item_id).executeTakeFirstOrThrow();
      assert.equal(row.text, 'broken \ufffd surrogate');
    });

    test('admin API keys: an expiry in the past is refused', async () => {
      expectError(
        await post('/v1/admin/api-keys', { name: 'x', role: 'client', expires_at: '2001-01-01T00:00:00Z' }, ADMIN_KEY),
        400,
        'invalid_request',
        /in the future/,
      );
    });

    test('inference trouble is a 503 the client can retry (a hung worker: timeout; an exited one: inference_unavailable), and nothing is stored', async () => {
      const runtime = app.server.ctx.models.active.runtime;
      const embed = runtime.embed;
      const before = await decisionCount();
      try {
        runtime.embed = async () => {
          throw new InferenceTimeout(30_000);
        };
        const hung = await post('/v1/moderate', { input: 'hello' });
        expectError(hung, 503, 'timeout', /inference did not finish within 30000 ms \(INFERENCE_TIMEOUT_MS\)/);
        assert.equal(hung.headers['retry-after'], '1');
        runtime.embed = async () => {
          throw new InferenceError('inference worker exited (code 1)');
        };
        expectError(await post('/v1/moderations', { input: 'hello' }), 503, 'inference_unavailable', /worker exited/);
      } finally {
        runtime.embed = embed;
      }
      assert.equal(await decisionCount(), before);
      assert.equal((await post('/v1/moderate', { input: 'hello' })).status, 200);
    });
  });
}
