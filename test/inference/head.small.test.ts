import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyHead, bytesToFloat32, bytesToInt32, checkHeadShape, float32ToBytes, int32ToBytes, lexicalIndex, maxAbsDiff, probabilities, sigmoid, tokenRows } from '../../src/inference/head.js';

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

test('lexical part: the mean of the text’s tokens’ weights (unknown tokens count, with weight 0), hand-checked', () => {
  // 2 labels; token 4 → [1, 2], token 9 → [3, −6].
  const lexical = { tokens: Int32Array.from([4, 9]), weight: Float32Array.from([1, 2, 3, -6]) };
  const head = { numLabels: 2, dim: 1, weight: Float32Array.from([0, 0]), bias: Float32Array.from([0.5, 0]), lexical };
  const tokens = tokenRows([[4, 9, 7], [], [9, 9]]);
  // row 0: (1 + 3 + 0)/3, (2 − 6 + 0)/3; row 1: no tokens; row 2: 3, −6.
  const z = applyHead(head, new Float32Array(3), 3, tokens);
  const want = [0.5 + 4 / 3, -4 / 3, 0.5, 0, 3.5, -6];
  want.forEach((w, i) => assert.ok(Math.abs(z[i] - w) < 1e-12, `${i}: ${z[i]} vs ${w}`));
  assert.throws(() => applyHead(head, new Float32Array(3), 3), /needs the token ids/);
  assert.equal(lexicalIndex(lexical.tokens, 9), 1);
  assert.equal(lexicalIndex(lexical.tokens, 5), -1);
  assert.throws(() => checkHeadShape({ ...head, lexical: { tokens: Int32Array.from([9, 4]), weight: new Float32Array(4) } }), /strictly ascending/);
  assert.throws(() => checkHeadShape({ ...head, lexical: { tokens: Int32Array.from([4]), weight: new Float32Array(3) } }), /expected 1 tokens × 2 labels/);
});

test('int32 bytes round-trip (token ids as stored)', () => {
  const ids = Int32Array.from([0, 1, 65535, 2 ** 31 - 1, -1]);
  const pool = Buffer.alloc(40);
  pool.set(int32ToBytes(ids), 1);
  assert.deepEqual([...bytesToInt32(pool.subarray(1, 21))], [...ids]);
  assert.throws(() => bytesToInt32(new Uint8Array(3)), /whole number/);
});
