import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import os from 'node:os';
import { ConfigError, loadConfig } from '../../src/config.js';
import { candidateLayouts } from '../../src/inference/calibrate.js';

test('defaults: loopback, port 8080, embedded database under ./data, GPU providers first', () => {
  const c = loadConfig({}, '/srv/app');
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.port, 8080);
  assert.equal(c.database.url, undefined);
  assert.equal(c.database.dataDir, path.resolve('/srv/app/data'));
  assert.equal(c.database.embeddedSharedBuffers, 32 * 1024 * 1024);
  assert.equal(c.inference.allowSpinning, false, "onnxruntime's pools do not spin while they wait");
  assert.deepEqual(c.inference.providers, ['cuda', 'webgpu', 'cpu']);
  assert.ok(c.inference.workers >= 1 && c.inference.threadsPerWorker >= 1);
  // Room for MAX_INPUTS texts and contexts at their length limits, three UTF-8 bytes a character.
  assert.equal(c.limits.maxBodyBytes, 64 * (20_000 + 20_000) * 3 + 64 * 1024);
});

test('inference layout: measured at start unless INFERENCE_WORKERS or ORT_THREADS says which', () => {
  assert.deepEqual(loadConfig({}).inference.layouts, candidateLayouts(os.availableParallelism()));
  assert.deepEqual(loadConfig({ INFERENCE_WORKERS: '3' }).inference.layouts, [{ workers: 3, threads: Math.max(1, Math.floor(os.availableParallelism() / 3)) }]);
  assert.deepEqual(loadConfig({ ORT_THREADS: '2' }).inference.layouts, [{ workers: Math.min(os.availableParallelism(), 4), threads: 2 }]);
});

test('the default body limit carries the largest request the other limits allow', () => {
  const c = loadConfig({ MAX_INPUTS: '8', MAX_TEXT_LENGTH: '1000', MAX_CONTEXT_LENGTH: '500' });
  assert.equal(c.limits.maxBodyBytes, 8 * 1500 * 3 + 64 * 1024);
  const body = JSON.stringify({ input: Array.from({ length: 8 }, () => ({ text: '漢'.repeat(1000), context: '字'.repeat(500), external_id: 'x'.repeat(256) })) });
  assert.ok(Buffer.byteLength(body) <= c.limits.maxBodyBytes, `${Buffer.byteLength(body)} > ${c.limits.maxBodyBytes}`);
});

test('values are parsed: sizes, lists, booleans; empty strings count as unset', () => {
  const c = loadConfig({ MAX_BODY_SIZE: '512kb', EXECUTION_PROVIDERS: ' CPU ', LOG_CONTENT: 'true', PORT: '', DATA_DIR: '/var/lib/modtune', EMBEDDED_SHARED_BUFFERS: '64mb' });
  assert.equal(c.limits.maxBodyBytes, 512 * 1024);
  assert.equal(c.database.embeddedSharedBuffers, 64 * 1024 * 1024);
  assert.equal(loadConfig({ ORT_ALLOW_SPINNING: 'true' }).inference.allowSpinning, true);
  assert.deepEqual(c.inference.providers, ['cpu']);
  assert.equal(c.log.content, true);
  assert.equal(c.port, 8080);
  assert.equal(c.database.dataDir, '/var/lib/modtune');
});

test('every bad variable is named in one error, secrets are not echoed', () => {
  try {
    loadConfig({ PORT: 'eighty', EXECUTION_PROVIDERS: 'tpu,cpu', MAX_BODY_SIZE: 'huge', MODTUNE_ADMIN_KEY: 'short', LOG_LEVEL: 'loud' });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const names = err.problems.map((p) => p.split(':')[0]).sort();
    assert.deepEqual(names, ['EXECUTION_PROVIDERS', 'LOG_LEVEL', 'MAX_BODY_SIZE', 'MODTUNE_ADMIN_KEY', 'PORT']);
    assert.ok(!err.message.includes('"short"'), 'the admin key value is not printed');
    assert.match(err.message, /PORT: .*\(got "eighty"\)/);
  }
});
