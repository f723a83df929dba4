/** The 400/401/403/404/413/415 paths of every endpoint: clear codes and messages, nothing stored. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import type { ErrorCode } from '../../src/errors.js';
import { InferenceError, InferenceTimeout } from '../../src/inference/errors.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';

describe('request errors', () => {
  let app: TestApp;
  let client: string;
  let moderator: string;
  before(async () => {
    app = await startTestApp({ env: { MAX_INPUTS: '4', MAX_TEXT_LENGTH: '100', MAX_CONTEXT_LENGTH: '50', MAX_BODY_SIZE: '2kb' } });
    client = await app.key('client');
    moderator = await app.key('moderator');
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

  const expectError = (res: { status: number; body: { error?: { code: string; message: string } } }, status: number, code: ErrorCode, message?: RegExp) => {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error?.code, code);
    assert.equal(typeof res.body.error?.message, 'string');
    if (message) assert.match(res.body.error!.message, message);
  };

  for (const path of ['/v1/moderate', '/v1/moderations']) {
    test(`${path}: 401 without a key, with a malformed header, with an unknown key`, async () => {
      expectError(await post(path, { input: 'hi' }, null), 401, 'unauthorized', /missing Authorization header/);
      expectError(await app.request.post(path).set('Authorization', 'Basic abc').send({ input: 'hi' }), 401, 'unauthorized', /Bearer/);
      expectError(await post(path, { input: 'hi' }, 'mt_not_a_real_key'), 401, 'unauthorized', /not recognised/);
    });

    test(`${path}: 403 for a moderator key`, async () => {
      expectError(await post(path, { input: 'hi' }, moderator), 403, 'forbidden', /needs the client or admin role; this key has the moderator role/);
    });

    test(`${path}: 400 for malformed JSON, wrong shapes and limits; 413 for big bodies; 415 for non-JSON`, async () => {
      const before = await decisionCount();
      expectError(await post(path, '{"input": ["x"', client), 400, 'invalid_json', /not valid JSON/);
      expectError(await post(path, '[1,2]', client), 400, 'invalid_request', /JSON object/);
      expectError(await post(path, {}, client), 400, 'invalid_request', /input is required/);
      expectError(await post(path, { input: 42 }, client), 400, 'invalid_request', /got number/);
      expectError(await post(path, { input: [] }, client), 400, 'invalid_request', /at least one item/);
      expectError(await post(path, { input: ['a', 'b', 'c', 'd', 'e'] }, client), 400, 'too_many_inputs', /5 items; the limit is 4 per request \(MAX_INPUTS\)/);
      expectError(await post(path, { input: 'x'.repeat(101) }, client), 400, 'text_too_long', /101 characters; the limit is 100 \(MAX_TEXT_LENGTH\)/);
      expectError(await post(path, { input: ['ok', 'nul\u0000byte'] }, client), 400, 'invalid_text', /input\[1\] contains a NUL/);
      expectError(await post(path, { input: 'x'.repeat(3000) }, client), 413, 'payload_too_large', /2048 byte limit \(MAX_BODY_SIZE\)/);
      const text = await app.request.post(path).set('Authorization', `Bearer ${client}`).set('Content-Type', 'text/plain').send('hello');
      expectError(text, 415, 'unsupported_media_type', /Content-Type: application\/json/);
      assert.equal(await decisionCount(), before, 'no rejected request stored anything');
    });
  }

  test('/v1/moderate: element-level problems name the element', async () => {
    expectError(await post('/v1/moderate', { input: [{ text: 'a' }, { txt: 'b' }] }), 400, 'invalid_request', /input\[1\] has unknown field "txt"/);
    expectError(await post('/v1/moderate', { input: [{ context: 'c' }] }), 400, 'invalid_request', /input\[0\]\.text is required/);
    expectError(await post('/v1/moderate', { input: [{ text: 5 }] }), 400, 'invalid_request', /input\[0\]\.text must be a string, got number/);
    expectError(await post('/v1/moderate', { input: [{ text: 'a', context: 'c'.repeat(51) }] }), 400, 'text_too_long', /input\[0\]\.context is 51 .*MAX_CONTEXT_LENGTH/);
    expectError(await post('/v1/moderate', { input: [{ text: 'a', external_id: '' }] }), 400, 'invalid_request', /external_id must not be empty/);
    expectError(await post('/v1/moderate', { input: [[1]] }), 400, 'invalid_request', /input\[0\] must be a string or .* got an array/);
    expectError(await post('/v1/moderate', { input: 'a', policy: 'nope' }), 400, 'unknown_policy', /'nope' does not exist; available: default/);
    expectError(await post('/v1/moderate', { input: 'a', polcy: 'default' }), 400, 'invalid_request', /Unrecognized key.*polcy/);
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

  test('GET /v1/decisions/:id: 401 without a key; unknown routes are 404 JSON', async () => {
    expectError(await app.request.get('/v1/decisions/x'), 401, 'unauthorized');
    expectError(await app.request.get('/v1/nothing-here'), 404, 'not_found', /no route for GET \/v1\/nothing-here/);
  });

  test('admin API keys: 401/403/400 paths', async () => {
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client' }, null), 401, 'unauthorized');
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client' }, client), 403, 'forbidden', /admin role/);
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client' }, moderator), 403, 'forbidden');
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'root' }, ADMIN_KEY), 400, 'invalid_request', /^role: /);
    expectError(await post('/v1/admin/api-keys', { role: 'client' }, ADMIN_KEY), 400, 'invalid_request', /^name: /);
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client', expires_at: 'tomorrow' }, ADMIN_KEY), 400, 'invalid_request', /^expires_at: /);
    expectError(
      await post('/v1/admin/api-keys', { name: 'x', role: 'client', expires_at: '2001-01-01T00:00:00Z' }, ADMIN_KEY),
      400,
      'invalid_request',
      /in the future/,
    );
    expectError(await app.request.get('/v1/admin/api-keys').set('Authorization', `Bearer ${client}`), 403, 'forbidden');
    expectError(await app.request.delete('/v1/admin/api-keys/nope').set('Authorization', `Bearer ${ADMIN_KEY}`), 404, 'not_found');
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
