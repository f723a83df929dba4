import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildEmbeddingTable, meanPoolFeatures, poolFeatures, sifWeights } from '../../src/starter/features.js';

describe('SIF weights', () => {
  it('follow a / (a + p) with Zipf p(r) = (1/r) / H(total)', () => {
    // total 3: H = 1 + 1/2 + 1/3 = 11/6, p(1) = 6/11, p(3) = 2/11.
    const [w1, w3] = sifWeights(Int32Array.of(1, 3), 3, 0.1);
    assert.ok(Math.abs(w1 - 0.1 / (0.1 + 6 / 11)) < 1e-15);
    assert.ok(Math.abs(w3 - 0.1 / (0.1 + 2 / 11)) < 1e-15);
  });

  it('barely touch rare words and shrink the most frequent ones', () => {
    const [the, rare] = sifWeights(Int32Array.of(1, 50_000), 341_479, 1e-3);
    assert.ok(the < 0.02);
    assert.ok(rare > 0.99);
  });
});

describe('embedding table and features', () => {
  const table = buildEmbeddingTable(Float32Array.of(3, 4, 1, 0), 2, Float64Array.of(1, 0.5));

  it('puts zero rows for [PAD] and [UNK] before the weighted word rows', () => {
    assert.deepEqual([...table], [0, 0, 0, 0, 3, 4, 0.5, 0]);
  });

  it('pools like the graph: the mean over every token, unknown ones included', () => {
    assert.deepEqual([...meanPoolFeatures(table, 2, [2, 1])], [1.5, 2]);
    assert.deepEqual([...meanPoolFeatures(table, 2, [])], [0, 0]);
  });

  it('normalises the pooled vector to (almost) unit length, leaving zero at zero', () => {
    const f = poolFeatures(table, 2, [2], 0);
    assert.ok(Math.abs(f[0] - 0.6) < 1e-7 && Math.abs(f[1] - 0.8) < 1e-7);
    // Normalised twice, as the graph does (once for the text, once for text + weighted context).
    const g = poolFeatures(table, 2, [2, 2, 2], 0.05);
    const h = 1 / Math.sqrt(25.0025);
    assert.ok(Math.abs(g[0] - (3 * h) / Math.sqrt(25 * h * h + 0.0025)) < 1e-6);
    assert.deepEqual([...poolFeatures(table, 2, [1, 0])], [0, 0]);
  });

  it('refuses ids outside the table', () => {
    assert.throws(() => meanPoolFeatures(table, 2, [4]), /outside/);
  });
});
