import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyHead, bytesToFloat32, float32ToBytes, maxAbsDiff, probabilities, sigmoid } from '../../src/inference/head.js';

test('applyHead computes W·f + b per row (hand-checked)', () => {
  // W = [[1, 2, 3], [-1, 0, 0.5]], b = [0.5, -1]
  const head = { numLabels: 2, dim: 3, weight: Float32Array.from([1, 2, 3, -1, 0, 0.5]), bias: Float32Array.from([0.5, -1]) };
  const f = Float32Array.from([1, 0, 0, 0.5, 1, -2]);
  // row 0: [1+0.5, -1-1] = [1.5, -2]; row 1: [0.5+2-6+0.5, -0.5-1-1] = [-3, -2.5]
  assert.deepEqual([...applyHead(head, f)], [1.5, -2, -3, -2.5]);
});

test('sigmoid is stable at extremes and symmetric', () => {
  assert.equal(sigmoid(0), 0.5);
  assert.equal(sigmoid(1000), 1);
  assert.equal(sigmoid(-1000), 0);
  assert.ok(Math.abs(sigmoid(2) + sigmoid(-2) - 1) < 1e-15);
  assert.ok(Math.abs(sigmoid(1) - 0.7310585786300049) < 1e-15);
});

test('probabilities: sigmoid per label or one softmax', () => {
  const logits = [0, 2, 0, 0, Math.log(3)];
  assert.deepEqual([...probabilities(logits, 0, 2, 'sigmoid')], [0.5, sigmoid(2)]);
  const sm = probabilities(logits, 2, 3, 'softmax');
  assert.ok(Math.abs(sm[0] - 0.2) < 1e-12 && Math.abs(sm[1] - 0.2) < 1e-12 && Math.abs(sm[2] - 0.6) < 1e-12);
  const big = probabilities([1000, 1000], 0, 2, 'softmax');
  assert.deepEqual([...big], [0.5, 0.5], 'no overflow for large logits');
});

test('maxAbsDiff finds the largest difference and treats NaN as a mismatch', () => {
  assert.deepEqual(maxAbsDiff([1, 2, 3], [1, 2.5, 2.9]), { value: 0.5, index: 1 });
  assert.ok(Number.isNaN(maxAbsDiff([1, NaN], [1, 1]).value));
  assert.throws(() => maxAbsDiff([1], [1, 2]));
});

test('float32 bytes round-trip, also from a Buffer that is a view at an odd offset', () => {
  const a = Float32Array.from([1.5, -2.25, 3.4028234663852886e38, 1e-45]);
  const bytes = float32ToBytes(a);
  assert.equal(bytes.length, 16);
  const pool = Buffer.alloc(64);
  pool.set(bytes, 3);
  assert.deepEqual([...bytesToFloat32(pool.subarray(3, 19))], [...a]);
  assert.throws(() => bytesToFloat32(new Uint8Array(5)), /whole number/);
});
