import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { scanGloveVectors } from '../../src/starter/embeddings.js';

/** A file in wink's layout: dim floats, then the l2 norm, then the word's index. */
function winkFile(entries: [string, number[]][], dim: number): Buffer {
  const words = entries.map(([w]) => w);
  const vectors = entries.map(([w, v], i) => `${JSON.stringify(w)}:[${[...v, 1.5, i].join(',')}]`).join(',');
  const text =
    `{"precision":8,"l2NormIndex":${dim},"wordIndex":${dim + 1},"size":${words.length},"dimensions":${dim},` +
    `"words":${JSON.stringify(words)},"vectors":{${vectors}},"unkVector":[${Array(dim).fill(0).join(',')},0,-1]}`;
  return Buffer.from(text, 'utf8');
}

const ENTRIES: [string, number[]][] = [
  ['the', [0.5, -0.25]],
  [',', [1, 2]],
  ['"', [3, -4]],
  ['\\', [5, 6]],
  ['say ]"]', [7, 8]],
  ['kill', [-7.0514e-7, 0.123456789]],
  ['café', [9, 10]],
  ['zebra', [11, -12.5]],
];

describe('scanGloveVectors', () => {
  it('reads the vectors JSON.parse would, for the words asked for', () => {
    const buf = winkFile(ENTRIES, 2);
    const g = scanGloveVectors(buf, { topN: 100 });
    const full = JSON.parse(buf.toString('utf8')) as { vectors: Record<string, number[]> };
    assert.deepEqual(g.words, ENTRIES.map(([w]) => w));
    assert.deepEqual([...g.ranks], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(g.dim, 2);
    assert.equal(g.totalWords, 8);
    g.words.forEach((w, i) => {
      assert.equal(g.vectors[i * 2], Math.fround(full.vectors[w][0]), w);
      assert.equal(g.vectors[i * 2 + 1], Math.fround(full.vectors[w][1]), w);
    });
  });

  it('keeps the top N accepted words plus the extra and picked ones, in rank order', () => {
    const picked: string[][] = [];
    const g = scanGloveVectors(winkFile(ENTRIES, 2), {
      topN: 2,
      accept: (w) => /^[a-z]+$/.test(w),
      extraWords: ['zebra', 'unicorn', '"'],
      pickWords: (all) => {
        picked.push([...all]);
        return ['kill'];
      },
    });
    assert.deepEqual(g.words, ['the', 'kill', 'zebra']);
    assert.deepEqual([...g.ranks], [1, 6, 8]);
    assert.deepEqual([...g.vectors.slice(4)], [11, -12.5]);
    // Unknown words and words the filter refuses are reported, not silently dropped.
    assert.deepEqual(g.missing, ['"', 'unicorn']);
    assert.equal(picked.length, 1);
    assert.equal(picked[0].length, 8);
  });

  it('stops early: entries after the last needed word are never parsed', () => {
    const buf = winkFile(ENTRIES, 2);
    const cut = buf.indexOf('"zebra":[');
    // Corrupt the last entry; asking only for the first words must not touch it.
    const broken = Buffer.concat([buf.subarray(0, cut), Buffer.from('"zebra":[oops]}}')]);
    const g = scanGloveVectors(broken, { topN: 2 });
    assert.deepEqual(g.words, ['the', ',']);
    assert.throws(() => scanGloveVectors(broken, { topN: 100 }), /bad number|word index/);
  });

  it('explains a file that is not in the expected layout', () => {
    assert.throws(() => scanGloveVectors(Buffer.from('{"size":1}'), { topN: 1 }), /no "words" array/);
    const mislabelled = winkFile(ENTRIES, 2).toString('utf8').replace('"size":8', '"size":9');
    assert.throws(() => scanGloveVectors(Buffer.from(mislabelled), { topN: 1 }), /header says 9/);
  });
});
