import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RateLimiter } from '../../src/auth/rate-limit.js';
import { startTestApp, type TestApp } from '../helpers/app.js';

test('token bucket: a burst, then the sustained rate; keys are independent; 0 is off', () => {
  let now = 0;
  const rl = new RateLimiter(10, 3, () => now);
  assert.deepEqual([rl.take('a'), rl.take('a'), rl.take('a')], [0, 0, 0]);
  const wait = rl.take('a');
  assert.ok(Math.abs(wait - 0.1) < 1e-9, `wait ${wait}`);
  assert.equal(rl.take('b'), 0, 'another key has its own bucket');
  now += 100; // 0.1 s refills one token
  assert.equal(rl.take('a'), 0);
  assert.ok(rl.take('a') > 0);
  now += 10_000;
  assert.deepEqual([rl.take('a'), rl.take('a'), rl.take('a')], [0, 0, 0], 'never more than the burst');
  assert.ok(rl.take('a') > 0);
  const off = new RateLimiter(0, 0, () => now);
  assert.ok(Array.from({ length: 100 }, () => off.take('x')).every((w) => w === 0));
});

describe('rate limits over HTTP', () => {
  let app: TestApp;
  // The limiter's clock moves only when the test moves it: however long the requests take, no token
  // comes back in between.
  let now = 0;
  before(async () => {
    app = await startTestApp({ env: { RATE_LIMIT_PER_SECOND: '2', RATE_LIMIT_BURST: '3' }, rateLimitClock: () => now });
  });
  after(async () => {
    await app?.close();
  });

  test('a key over its limit gets 429 with Retry-After; another key is unaffected', async () => {
    const key = await app.key('client');
    const statuses: number[] = [];
    let limited: { headers: Record<string, string>; body: { error: { code: string; message: string } } } | undefined;
    for (let i = 0; i < 5; i++) {
      const r = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'have a nice day' });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(limited!.body.error.code, 'rate_limited');
    assert.match(limited!.body.error.message, /over its limit of 2 requests per second \(burst 3\)/);
    // A token is 0.5 s away; Retry-After is whole seconds, rounded up.
    assert.equal(limited!.headers['retry-after'], '1');
    const other = await app.key('client');
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${other}`).send({ input: 'hi' })).status, 200);
    now += 499;
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' })).status, 429, 'not yet a whole token');
    now += 51;
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' })).status, 200, 'tokens come back');
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' })).status, 429, 'one token, one request');
  });

  test('a request that runs past REQUEST_TIMEOUT_MS answers 503 timeout', async () => {
    const slow = await startTestApp({ env: { REQUEST_TIMEOUT_MS: '100', RATE_LIMIT_PER_SECOND: '0' } });
    try {
      // Hold the database so the request cannot finish in time.
      const key = await slow.key('client');
      let release!: () => void;
      const held = slow.database.db.transaction().execute(() => new Promise<void>((r) => (release = r)));
      const res = await slow.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'have a nice day' });
      release();
      await held;
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'timeout');
      assert.match(res.body.error.message, /did not finish within 100 ms/);
    } finally {
      await slow.close();
    }
  });
});
