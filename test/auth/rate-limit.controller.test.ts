import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { RateLimiter } from '../../src/auth/rate-limit.js';
import { as, controllerApp, keyFor } from '../helpers/controller.js';

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
  // The limiter's clock moves only when the test moves it: however long the requests take, no token
  // comes back in between.
  let now = 0;
  const moderate = async () => ({ requestId: 'r', model: 'm', policy: { name: 'default', version: 'v' }, results: [] });
  const app = controllerApp({ env: { RATE_LIMIT_PER_SECOND: '2', RATE_LIMIT_BURST: '3' }, rateLimitClock: () => now, services: { moderation: { moderate } } });

  test('a key over its limit gets 429 with Retry-After; another key is unaffected', async () => {
    const key = keyFor('client', 'limited');
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
    const other = keyFor('client', 'other');
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${other}`).send({ input: 'hi' })).status, 200);
    now += 499;
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' })).status, 429, 'not yet a whole token');
    now += 51;
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' })).status, 200, 'tokens come back');
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${key}`).send({ input: 'hi' })).status, 429, 'one token, one request');
  });

  test('a request that runs past REQUEST_TIMEOUT_MS answers 503 timeout; its late answer is logged, not thrown', async () => {
    // The service does not answer until the test lets it: the request cannot finish in time.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const lines: { msg: string; requestId?: string }[] = [];
    let late!: () => void;
    const logged = new Promise<void>((r) => (late = r));
    const logger = pino({ level: 'warn' }, {
      write: (line: string) => {
        const l = JSON.parse(line);
        // The access log's line for the 503 is written too; the late answer's is the one awaited.
        if (l.msg !== 'request errored') (lines.push(l), late());
      },
    });
    const slow = controllerApp({ env: { REQUEST_TIMEOUT_MS: '100' }, logger, services: { moderation: { moderate: async () => (await held, moderate()) } } });
    const res = await slow.request.post('/v1/moderate').set(as('client')).set('X-Request-Id', 'late-1').send({ input: 'have a nice day' });
    release();
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'timeout');
    assert.match(res.body.error.message, /did not finish within 100 ms/);
    await logged;
    assert.deepEqual(lines.map((l) => [l.requestId, l.msg]), [['late-1', 'the request finished after it had been answered (its deadline answered 503 first)']]);
  });
});
