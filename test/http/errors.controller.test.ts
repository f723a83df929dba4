/**
 * The 400/401/403/404/413/415 paths the HTTP layer decides on its own, on fake services: clear codes and
 * messages, and no service reached (so nothing can be stored). What a service decides (an unknown policy,
 * an expiry in the past, inference trouble) is in errors.medium.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { as, controllerApp } from '../helpers/controller.js';
import { expectError } from '../helpers/http.js';

describe('request errors (controller)', () => {
  const { request, calls } = controllerApp({ env: { MAX_INPUTS: '4', MAX_TEXT_LENGTH: '100', MAX_CONTEXT_LENGTH: '50', MAX_BODY_SIZE: '2kb' } });

  const post = (path: string, body: unknown, role: 'client' | 'moderator' | 'admin' | null = 'client') => {
    const r = request.post(path);
    if (role) r.set(as(role));
    return typeof body === 'string' ? r.set('Content-Type', 'application/json').send(body) : r.send(body as object);
  };

  for (const path of ['/v1/moderate', '/v1/moderations']) {
    test(`${path}: 401 without a key, with a malformed header, with an unknown key`, async () => {
      expectError(await post(path, { input: 'hi' }, null), 401, 'unauthorized', /missing Authorization header/);
      expectError(await request.post(path).set('Authorization', 'Basic abc').send({ input: 'hi' }), 401, 'unauthorized', /Bearer/);
      expectError(await request.post(path).set('Authorization', 'Bearer mt_not_a_real_key').send({ input: 'hi' }), 401, 'unauthorized', /not recognised/);
    });

    test(`${path}: 403 for a moderator key`, async () => {
      expectError(await post(path, { input: 'hi' }, 'moderator'), 403, 'forbidden', /needs the client or admin role; this key has the moderator role/);
    });

    test(`${path}: 400 for malformed JSON, wrong shapes and limits; 413 for big bodies; 415 for non-JSON; no service reached`, async () => {
      const before = calls.length;
      expectError(await post(path, '{"input": ["x"'), 400, 'invalid_json', /not valid JSON/);
      expectError(await post(path, '[1,2]'), 400, 'invalid_request', /JSON object/);
      expectError(await post(path, {}), 400, 'invalid_request', /input is required/);
      expectError(await post(path, { input: 42 }), 400, 'invalid_request', /got number/);
      expectError(await post(path, { input: [] }), 400, 'invalid_request', /at least one item/);
      expectError(await post(path, { input: ['a', 'b', 'c', 'd', 'e'] }), 400, 'too_many_inputs', /5 items; the limit is 4 per request \(MAX_INPUTS\)/);
      expectError(await post(path, { input: 'x'.repeat(101) }), 400, 'text_too_long', /101 characters; the limit is 100 \(MAX_TEXT_LENGTH\)/);
      expectError(await post(path, { input: ['ok', 'nul\u0000byte'] }), 400, 'invalid_text', /input\[1\] contains a NUL/);
      expectError(await post(path, { input: 'x'.repeat(3000) }), 413, 'payload_too_large', /2048 byte limit \(MAX_BODY_SIZE\)/);
      const text = await request.post(path).set(as('client')).set('Content-Type', 'text/plain').send('hello');
      expectError(text, 415, 'unsupported_media_type', /Content-Type: application\/json/);
      assert.deepEqual(calls.slice(before), [], 'no refused request reached a service');
    });
  }

  test('/v1/moderate: element-level problems name the element; no service reached', async () => {
    const before = calls.length;
    expectError(await post('/v1/moderate', { input: [{ text: 'a' }, { txt: 'b' }] }), 400, 'invalid_request', /input\[1\] has unknown field "txt"/);
    expectError(await post('/v1/moderate', { input: [{ context: 'c' }] }), 400, 'invalid_request', /input\[0\]\.text is required/);
    expectError(await post('/v1/moderate', { input: [{ text: 5 }] }), 400, 'invalid_request', /input\[0\]\.text must be a string, got number/);
    expectError(await post('/v1/moderate', { input: [{ text: 'a', context: 'c'.repeat(51) }] }), 400, 'text_too_long', /input\[0\]\.context is 51 .*MAX_CONTEXT_LENGTH/);
    expectError(await post('/v1/moderate', { input: [{ text: 'a', external_id: '' }] }), 400, 'invalid_request', /external_id must not be empty/);
    expectError(await post('/v1/moderate', { input: [[1]] }), 400, 'invalid_request', /input\[0\] must be a string or .* got an array/);
    expectError(await post('/v1/moderate', { input: 'a', polcy: 'default' }), 400, 'invalid_request', /Unrecognized key.*polcy/);
    assert.deepEqual(calls.slice(before), []);
  });

  test('/v1/moderations: an image part is refused before any service', async () => {
    const before = calls.length;
    expectError(await post('/v1/moderations', { input: [{ type: 'image_url', image_url: { url: 'x' } }] }), 400, 'unsupported_input', /text only/);
    assert.deepEqual(calls.slice(before), []);
  });

  test('GET /v1/decisions/:id: 401 without a key; unknown routes are 404 JSON', async () => {
    expectError(await request.get('/v1/decisions/x'), 401, 'unauthorized');
    expectError(await request.get('/v1/nothing-here'), 404, 'not_found', /no route for GET \/v1\/nothing-here/);
  });

  test('admin API keys: 401/403/400/404 paths; no service reached', async () => {
    const before = calls.length;
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client' }, null), 401, 'unauthorized');
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client' }, 'client'), 403, 'forbidden', /admin role/);
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client' }, 'moderator'), 403, 'forbidden');
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'root' }, 'admin'), 400, 'invalid_request', /^role: /);
    expectError(await post('/v1/admin/api-keys', { role: 'client' }, 'admin'), 400, 'invalid_request', /^name: /);
    expectError(await post('/v1/admin/api-keys', { name: 'x', role: 'client', expires_at: 'tomorrow' }, 'admin'), 400, 'invalid_request', /^expires_at: /);
    expectError(await request.get('/v1/admin/api-keys').set(as('client')), 403, 'forbidden');
    expectError(await request.delete('/v1/admin/api-keys/nope').set(as('admin')), 404, 'not_found');
    assert.deepEqual(calls.slice(before), []);
  });
});

describe('the controller kit', () => {
  test('a valid request reaches the faked service once, and its answer is the route’s shape', async () => {
    const outcome = {
      requestId: 'req-1',
      model: 'starter',
      policy: { name: 'default', version: 'v1' },
      replayed: false,
      results: [{ decisionId: 'd-1', itemId: 'i-1', externalId: null, action: 'allow', flagged: false, categories: { hate: false }, categoryScores: { hate: 0.01 }, truncated: false, reviewTaskId: null }],
    };
    const seen: unknown[] = [];
    const { request, calls } = controllerApp({ services: { moderation: { moderate: async (req: unknown) => (seen.push(req), outcome) } } });
    const res = await request.post('/v1/moderate').set(as('client')).send({ input: 'have a nice day' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(calls, ['moderation.moderate']);
    assert.deepEqual((seen[0] as { inputs: { text: string }[] }).inputs.map((i) => i.text), ['have a nice day']);
    assert.deepEqual(res.body.results[0], { decision_id: 'd-1', item_id: 'i-1', external_id: null, action: 'allow', flagged: false, categories: { hate: false }, category_scores: { hate: 0.01 }, truncated: false, review_task_id: null });
  });

  test('a service method the test did not fake answers 500 and is recorded', async () => {
    const { request, calls } = controllerApp();
    const res = await request.get('/v1/review/stats/me').set(as('moderator'));
    assert.equal(res.status, 500);
    assert.deepEqual(calls, ['review.myStats']);
  });
});
