import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { PARENTS, SLOTS, TOXIC_GROUPS, withParents } from '../../src/starter/seeds.js';
import {
  chooseFillerWords,
  DEFAULT_SYNTHETIC,
  expandTemplate,
  labelMatrix,
  syntheticTrainingSet,
  toxicSeedWords,
} from '../../src/starter/training-set.js';
import { mulberry32 } from '../../src/random.js';

const FILLER = {
  common: Array.from({ length: 300 }, (_, i) => `common${i}`),
  rare: Array.from({ length: 300 }, (_, i) => `rare${i}`),
};

describe('seed hierarchy', () => {
  it('adds parent categories transitively', () => {
    assert.deepEqual([...withParents(['hate/threatening'])].sort(), ['hate', 'hate/threatening', 'violence']);
    assert.deepEqual([...withParents(['violence/graphic'])].sort(), ['violence', 'violence/graphic']);
    assert.deepEqual([...withParents(['sexual/minors'])].sort(), ['sexual', 'sexual/minors']);
    assert.deepEqual([...withParents(['harassment'])], ['harassment']);
  });

  it('only names real categories', () => {
    const known = new Set<string>(OPENAI_CATEGORIES);
    for (const [child, parents] of Object.entries(PARENTS)) {
      assert.ok(known.has(child), child);
      for (const p of parents ?? []) assert.ok(known.has(p), p);
    }
    for (const group of TOXIC_GROUPS) for (const l of group.labels) assert.ok(known.has(l), l);
  });
});

describe('template expansion', () => {
  it('lists every combination when there are few', () => {
    assert.deepEqual(expandTemplate('how to {sexAct}', 100, mulberry32(1)), SLOTS.sexAct.map((v) => `how to ${v}`));
    assert.deepEqual(expandTemplate('no slots here', 5, mulberry32(1)), ['no slots here']);
  });

  it('samples a fixed number of distinct combinations, the same ones for the same seed', () => {
    const a = expandTemplate('{groupRef} are {dehumanised}', 7, mulberry32(42));
    assert.equal(a.length, 7);
    assert.equal(new Set(a).size, 7);
    assert.deepEqual(expandTemplate('{groupRef} are {dehumanised}', 7, mulberry32(42)), a);
  });

  it('rejects unknown slots', () => {
    assert.throws(() => expandTemplate('{nope}', 3, mulberry32(1)), /unknown slot/);
  });
});

describe('synthetic training set', () => {
  const set = syntheticTrainingSet({ ...DEFAULT_SYNTHETIC, filler: FILLER });

  it('is deterministic', () => {
    const again = syntheticTrainingSet({ ...DEFAULT_SYNTHETIC, filler: FILLER });
    assert.deepEqual(
      again.map((p) => [p.text, [...p.labels]]),
      set.map((p) => [p.text, [...p.labels]]),
    );
  });

  it('labels every child example with its parents, and has examples of every category', () => {
    for (const p of set) {
      for (const c of p.labels) for (const parent of PARENTS[c] ?? []) assert.ok(p.labels.has(parent), `${p.text}: ${c}`);
    }
    const k = OPENAI_CATEGORIES.length;
    const m = labelMatrix(set);
    OPENAI_CATEGORIES.forEach((c, j) => {
      let count = 0;
      for (let i = 0; i < set.length; i++) count += m[i * k + j];
      assert.ok(count >= 50, `${c} has ${count} examples`);
    });
    assert.ok(set.filter((p) => p.labels.size === 0).length > set.length / 3, 'benign examples');
  });

  it('draws random negatives from both filler pools', () => {
    const text = set.map((p) => p.text).join(' ');
    assert.match(text, /common\d+/);
    assert.match(text, /rare\d+/);
  });
});

describe('filler words', () => {
  it('come from the usable words, leave the toxic seed words out, and depend only on the list and seed', () => {
    const toxic = toxicSeedWords();
    const all = ['kill', 'Capital', ...Array.from({ length: 5000 }, (_, i) => `w${i}`)];
    const usable = (w: string) => /^[a-z0-9]+$/.test(w);
    const a = chooseFillerWords(all, usable, 7);
    assert.ok(!a.common.includes('kill') && !a.common.includes('Capital'));
    assert.deepEqual(a.common.slice(0, 2), ['w0', 'w1']);
    assert.ok(a.rare.length > 0 && a.rare.every((w) => !a.common.includes(w)));
    assert.ok([...a.common, ...a.rare].every((w) => !toxic.has(w)));
    assert.deepEqual(chooseFillerWords(all, usable, 7), a);
  });
});
