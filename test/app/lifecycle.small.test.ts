import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EventBus } from '../../src/events.js';
import { Lifecycle } from '../../src/lifecycle.js';
import { quietLogger } from '../helpers/logger.js';
import { settle } from '../helpers/fake-clock.js';

test('Lifecycle stops newest first, passes the grace, keeps going past a failure, and runs once', async () => {
  const stopped: string[] = [];
  const logged: unknown[] = [];
  const log = Object.assign(quietLogger(), { error: (o: unknown) => logged.push(o) });
  const l = new Lifecycle(log as never);
  l.add('database', () => void stopped.push('database'));
  l.add('inference', async (grace) => {
    await new Promise((r) => setImmediate(r));
    stopped.push(`inference:${grace}`);
  });
  l.add('guard', () => {
    throw new Error('boom');
  });
  l.add('readiness', () => void stopped.push('readiness'));
  assert.deepEqual(l.names, ['readiness', 'guard', 'inference', 'database']);
  await Promise.all([l.stopAll(250), l.stopAll(999)]);
  assert.deepEqual(stopped, ['readiness', 'inference:250', 'database']);
  assert.equal(logged.length, 1);
  assert.match(JSON.stringify(logged[0]), /"component":"guard".*boom/);
  await l.stopAll();
  assert.equal(stopped.length, 3, 'a second stopAll does not stop anything again');
  assert.throws(() => l.add('late', () => undefined), /shutdown has begun/);
});

test('EventBus: emit waits for every listener; a failing listener is logged, not thrown; unsubscribe works', async () => {
  const warned: unknown[] = [];
  const bus = new EventBus(Object.assign(quietLogger(), { warn: (o: unknown) => warned.push(o) }) as never);
  const heard: string[] = [];
  bus.on('head.promoted', async ({ headId }) => {
    await settle(); // finishes only after a macrotask: emit must still wait for it
    heard.push(`slow:${headId}`);
  });
  const off = bus.on('head.promoted', ({ headId }) => void heard.push(`fast:${headId}`));
  bus.on('head.promoted', () => {
    throw new Error('listener broke');
  });
  bus.on('head.candidate', () => void heard.push('candidate'));
  await bus.emit('head.promoted', { headId: 'h1', runId: 'r1' });
  assert.deepEqual(heard.sort(), ['fast:h1', 'slow:h1']);
  assert.equal(warned.length, 1);
  assert.match(JSON.stringify(warned[0]), /"event":"head.promoted".*listener broke/);
  off();
  await bus.emit('head.promoted', { headId: 'h2', runId: 'r2' });
  assert.deepEqual(heard.sort(), ['fast:h1', 'slow:h1', 'slow:h2']);
  await bus.emit('review.task_completed', { taskId: 't' });
});
