import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aucOf, checkCumulative, checkDrift, describe, dropTest, inHold, nearest, normalCdf, termsOf, type DriftRow, type Verdict } from '../../src/tuning/math/drift.js';
import { mulberry32 } from '../../src/random.js';

const settings = { enabled: true, max_change: 0.2, max_p_value: 0.001, min_labels: 30, slices: { authors: true, terms: true }, cumulative_max_change: 0.05 };

/** n verdicts by `moderator` in `category`, the first `agree` of them agreeing with the model. */
function verdicts(n: number, agree: number, moderator: string, category = 'hate', from = 0): Verdict[] {
  return Array.from({ length: n }, (_, i) => ({
    labelId: from + i + 1,
    taskId: `${moderator}-${from + i}`,
    category,
    moderator,
    model: true,
    verdict: i < agree,
  }));
}

test('normal CDF and the two-proportion test: hand-checked values', () => {
  assert.ok(Math.abs(normalCdf(0) - 0.5) < 1e-9);
  assert.ok(Math.abs(normalCdf(1.959964) - 0.975) < 1e-6);
  assert.ok(Math.abs(normalCdf(-1) - 0.158655) < 1e-6);
  // 40/100 vs 60/100: pooled p = 0.5, se = sqrt(0.25 · 0.02) = 0.0707, z = −2.828, one-sided p = 0.00234.
  assert.ok(Math.abs(dropTest({ n: 100, agree: 40, rate: 0.4 }, { n: 100, agree: 60, rate: 0.6 }) - 0.002339) < 1e-5);
  assert.ok(Math.abs(dropTest({ n: 100, agree: 60, rate: 0.6 }, { n: 100, agree: 40, rate: 0.4 }) - (1 - 0.002339)) < 1e-5, 'a rise is not a drop');
  assert.equal(dropTest({ n: 0, agree: 0, rate: null }, { n: 10, agree: 5, rate: 0.5 }), 1);
  assert.equal(dropTest({ n: 10, agree: 10, rate: 1 }, { n: 10, agree: 10, rate: 1 }), 1);
  assert.equal(dropTest({ n: 10, agree: 0, rate: 0 }, { n: 10, agree: 0, rate: 0 }), 1);
});

test('one moderator who inverts is named and held; the others and the category are not', () => {
  const history = [...verdicts(300, 270, 'a', 'hate'), ...verdicts(300, 270, 'b', 'hate', 300)];
  const batch = [...verdicts(100, 91, 'a', 'hate', 1000), ...verdicts(100, 88, 'b', 'hate', 2000), ...verdicts(100, 9, 'c', 'hate', 3000)];
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(
    r.holds.map((h) => [h.category, h.moderator]),
    [['hate', 'c']],
  );
  // c's comparator is the history and the other moderators' verdicts in this batch: 540/600 + 179/200.
  assert.match(r.holds[0].reason, /moderator c's hate labels agree with the serving head's decision 9\.0% of the time in this batch \(9\/100\) against 89\.9% before \(719\/800; one-sided p = /);
  const category = r.rows.find((x) => x.moderator === null)!;
  assert.equal(category.batch.n, 200, 'the category check leaves the held moderator out');
  assert.equal(category.finding, false);
});

test('a clean batch is not held; neither is a small one or a small change', () => {
  const history = verdicts(600, 540, 'a');
  assert.equal(checkDrift(history, verdicts(200, 178, 'a', 'hate', 1000), settings).holds.length, 0);
  assert.equal(checkDrift(history, verdicts(20, 2, 'a', 'hate', 1000), settings).holds.length, 0, 'fewer than min_labels');
  assert.equal(checkDrift(history, verdicts(2000, 1500, 'a', 'hate', 1000), settings).holds.length, 0, '−15 points is within max_change 0.2, however significant');
  assert.equal(checkDrift([], verdicts(200, 2, 'a'), settings).holds.length, 0, 'no history and one moderator: nothing to compare with');
  assert.equal(checkDrift(history, verdicts(200, 200, 'a', 'hate', 1000), settings).holds.length, 0, 'agreeing more with the head is not held');
  assert.equal(checkDrift(history, verdicts(200, 2, 'a', 'hate', 1000), { ...settings, enabled: false }).holds.length, 0);
});

test('a shift every moderator shares, each with too few verdicts to stand out alone, holds the whole category', () => {
  const history = verdicts(600, 540, 'old');
  const batch = Array.from({ length: 10 }, (_, m) => verdicts(20, 2, `m${m}`, 'hate', 1000 + 100 * m)).flat();
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(
    r.holds.map((h) => [h.category, h.moderator]),
    [['hate', null]],
  );
  assert.match(r.holds[0].reason, /all moderators' hate labels agree with the serving head's decision 10\.0% /);
});

test('a moderator who disagrees with the other reviewers of the same tasks is named', () => {
  // Double-reviewed tasks: before, reviewers agreed 90% of the time; now d disagrees with e on every task.
  const pair = (task: string, a: boolean, b: boolean, id: number, ma: string, mb: string): Verdict[] => [
    { labelId: id, taskId: task, category: 'violence', moderator: ma, model: a, verdict: a },
    { labelId: id, taskId: task, category: 'violence', moderator: mb, model: a, verdict: b },
  ];
  const history = Array.from({ length: 100 }, (_, i) => pair(`h${i}`, i % 2 === 0, i % 10 === 0 ? i % 2 !== 0 : i % 2 === 0, i, 'x', 'y')).flat();
  const batch = Array.from({ length: 60 }, (_, i) => pair(`b${i}`, i % 2 === 0, i % 2 !== 0, 1000 + i, 'e', 'd')).flat();
  const r = checkDrift(history, batch, settings);
  const peers = r.findings.filter((f) => f.against === 'moderators');
  assert.deepEqual(peers.map((f) => f.moderator).sort(), ['d', 'e'], 'with two reviewers, both sides of the disagreement show; the model check tells them apart');
  assert.deepEqual(
    r.holds.map((h) => h.moderator).sort(),
    ['d', 'e'],
  );
  assert.ok(r.rows.some((x) => x.against === 'model' && x.moderator === 'd' && x.finding), 'd also moved away from the head');
  assert.ok(r.rows.some((x) => x.against === 'model' && x.moderator === 'e' && !x.finding));
});

test("an honest moderator whose co-reviewer inverts is not named for it; the one who inverts is", () => {
  // Three moderators review in pairs (a with b, a with c, b with c), 30 tasks a pair; the serving head
  // decides every item right. Before, every pair agreed 90 % of the time; now a inverts, so a disagrees on
  // all its tasks, and b and c on half of theirs (their tasks with a), though they still label right.
  const pair = (task: string, id: number, truth: boolean, ma: string, va: boolean, mb: string, vb: boolean): Verdict[] => [
    { labelId: id, taskId: task, category: 'violence', moderator: ma, model: truth, verdict: va },
    { labelId: id, taskId: task, category: 'violence', moderator: mb, model: truth, verdict: vb },
  ];
  const pairs = [['a', 'b'], ['a', 'c'], ['b', 'c']] as const;
  const history = pairs.flatMap(([x, y], p) =>
    Array.from({ length: 40 }, (_, i) => pair(`h${p}-${i}`, p * 100 + i, i % 2 === 0, x, i % 2 === 0, y, i % 10 === 0 ? i % 2 !== 0 : i % 2 === 0)).flat(),
  );
  const batch = pairs.flatMap(([x, y], p) =>
    Array.from({ length: 30 }, (_, i) => pair(`b${p}-${i}`, 1000 + p * 100 + i, i % 2 === 0, x, x === 'a' ? i % 2 !== 0 : i % 2 === 0, y, i % 2 === 0)).flat(),
  );
  const r = checkDrift(history, batch, settings);
  const peers = r.rows.filter((x) => x.against === 'moderators');
  assert.deepEqual(peers.filter((x) => x.finding).map((x) => x.moderator), ['a']);
  // b and c, judged on their tasks with each other (a's left out), agree as before.
  for (const m of ['b', 'c']) {
    const row = peers.find((x) => x.moderator === m)!;
    assert.deepEqual([row.left_out, row.batch.n, row.batch.rate], [['a'], 30, 1]);
  }
  assert.deepEqual(r.holds.map((h) => h.moderator), ['a']);
  assert.equal(peers.find((x) => x.moderator === 'a')!.left_out, undefined, 'the first one found is judged on all its pairs');
  assert.match(describe(peers.find((x) => x.moderator === 'b')!), /moderator b's violence labels agree with the other reviewers of the same tasks, leaving out moderator a \(who also disagreed with theirs\), 100\.0% of the time/);
});

test('inHold: a label is held by a batch of its category, id range and (if named) moderator', () => {
  const holds = [
    { category: 'hate', moderator: 'c', fromLabelId: 10, toLabelId: 20 },
    { category: 'violence', moderator: null, fromLabelId: 0, toLabelId: 5 },
  ];
  assert.equal(inHold(15, 'hate', ['a', 'c'], holds), true);
  assert.equal(inHold(15, 'hate', ['a'], holds), false);
  assert.equal(inHold(10, 'hate', ['c'], holds), false, 'the range excludes its start');
  assert.equal(inHold(20, 'hate', ['c'], holds), true);
  assert.equal(inHold(3, 'violence', ['anyone'], holds), true);
  assert.equal(inHold(3, 'harassment', ['anyone'], holds), false);
});

/** Verdicts on items with a truth, the serving head right `acc` of the time, moderators labelling as `label` says. */
function world(o: { n: number; from: number; moderators: string[]; seed: number; acc?: number; prevalence?: number; label?: (truth: boolean, i: number, moderator: string) => boolean; author?: (i: number) => string | null; terms?: (i: number, truth: boolean) => string[]; category?: string }): Verdict[] {
  const rng = mulberry32(o.seed);
  return Array.from({ length: o.n }, (_, i) => {
    const truth = rng() < (o.prevalence ?? 0.4);
    const model = rng() < (o.acc ?? 0.85) ? truth : !truth;
    const moderator = o.moderators[i % o.moderators.length];
    const honest = rng() < 0.9 ? truth : !truth;
    return {
      labelId: o.from + i + 1,
      taskId: `t${o.from + i}`,
      category: o.category ?? 'hate',
      moderator,
      model,
      verdict: o.label ? o.label(honest, i, moderator) : honest,
      author: o.author?.(i) ?? null,
      terms: o.terms?.(i, truth) ?? [],
    };
  });
}

test('a new moderator who never flags one category is held, by the region the serving head flagged; an honest one beside them is not', () => {
  const history = world({ n: 800, from: 0, moderators: ['a'], seed: 1 });
  // The batch: a (honest) and n (never flags hate), 200 verdicts each; n's overall agreement drops only ~0.2.
  const batch = world({ n: 400, from: 1000, moderators: ['a', 'n'], seed: 2, label: (h, _i, m) => (m === 'n' ? false : h) });
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(r.holds.map((h) => [h.category, h.moderator]), [['hate', 'n']]);
  assert.match(r.holds[0].reason, /moderator n's hate labels on items the serving head flagged agree with the serving head's decision 0\.0% /);
  assert.equal(r.rows.find((x) => x.moderator === 'n' && x.region === 'model_no')!.finding, false, 'on items the head cleared, never flagging agrees more, not less');
});

test('a deployment’s first night: with no history, a moderator is compared with the others in the same batch', () => {
  const batch = world({ n: 600, from: 0, moderators: ['a', 'b', 'x'], seed: 3, label: (h, _i, m) => (m === 'x' ? !h : h) });
  const r = checkDrift([], batch, settings);
  assert.deepEqual(r.holds.map((h) => [h.category, h.moderator]), [['hate', 'x']]);
});

test('one term’s texts flipped is held and named, beside an honest batch with a different mix of terms that is not', () => {
  const history = world({ n: 1500, from: 0, moderators: ['a', 'b'], seed: 4, terms: (i) => (i % 10 === 0 ? ['jews'] : i % 7 === 0 ? ['trash'] : ['people']) });
  const termOf = (i: number) => (i % 5 === 0 ? ['jews'] : i % 3 === 0 ? ['trash'] : ['people']);
  const honest = world({ n: 600, from: 2000, moderators: ['a', 'b'], seed: 5, terms: termOf });
  assert.deepEqual(checkDrift(history, honest, settings).holds, [], 'more items with a word than before is no finding');
  const flipped = world({ n: 600, from: 2000, moderators: ['a', 'b'], seed: 5, terms: termOf, label: (h, i) => (i % 5 === 0 ? !h : h) });
  const r = checkDrift(history, flipped, settings);
  assert.deepEqual(r.holds.map((h) => [h.category, h.moderator]), [['hate', null]]);
  assert.match(r.holds[0].reason, /hate labels on items with the word "jews" on items the serving head flagged agree with the serving head's decision/);
  const term = r.findings.find((f) => f.slice.kind === 'term')!;
  assert.ok(term.threshold < settings.max_p_value, 'term slices share max_p_value among the terms tested');
});

test('one author’s items flipped is held and named; an author or word with no history is not judged', () => {
  const author = (i: number) => (i % 6 === 0 ? 'prolific' : `user${i % 40}`);
  const history = world({ n: 1200, from: 0, moderators: ['a'], seed: 6, author });
  const batch = world({ n: 600, from: 2000, moderators: ['a'], seed: 7, author, label: (h, i) => (i % 6 === 0 ? !h : h) });
  const r = checkDrift(history, batch, settings);
  assert.ok(r.holds.some((h) => /author prolific's items/.test(h.reason)), JSON.stringify(r.holds));
  assert.ok(!r.findings.some((f) => f.slice.kind === 'author' && f.slice.value !== 'prolific'), 'no honest author is named');
  // The same batch from an author the history has never seen: nothing to compare their items with.
  const newcomer = world({ n: 600, from: 2000, moderators: ['a'], seed: 7, author: (i) => (i % 6 === 0 ? 'newcomer' : `user${i % 40}`), label: (h, i) => (i % 6 === 0 ? !h : h) });
  assert.ok(!checkDrift(history, newcomer, settings).findings.some((f) => f.slice.kind === 'author'));
});

test('a word the head flags and moderators clear night after night is a false positive being corrected, not held', () => {
  // The head flags every "lovely" text; moderators say no, in the history as in the batch.
  const terms = (i: number) => (i % 4 === 0 ? ['lovely'] : ['other']);
  const corrected = (h: boolean, i: number) => (i % 4 === 0 ? false : h);
  const flagged = (vs: Verdict[]) => vs.map((v, i) => (i % 4 === 0 ? { ...v, model: true } : v));
  const history = flagged(world({ n: 1200, from: 0, moderators: ['a'], seed: 12, terms, label: corrected }));
  const batch = flagged(world({ n: 600, from: 2000, moderators: ['a'], seed: 13, terms, label: corrected }));
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(r.holds, []);
  assert.ok(r.rows.some((x) => x.slice.kind === 'term' && x.slice.value === 'lovely' && x.batch.n >= 30 && x.history.n >= 30), 'the word was tested');
});

test('slow poisoning: 10% flipped each night passes the nightly check, and the cumulative check over the nights finds it', () => {
  // A head right 95% of the time: honest agreement ~0.86; a 10% flip moves it by 0.1 × (2 × 0.86 − 1) ≈ 0.07 a night.
  const history = world({ n: 1500, from: 0, moderators: ['a'], seed: 8, acc: 0.95 });
  const nights = [1, 2, 3, 4].map((k) => world({ n: 400, from: 10_000 * k, moderators: ['a'], seed: 8 + k, acc: 0.95, label: (h, i) => (i % 10 === 0 ? !h : h) }));
  for (const night of nights) assert.deepEqual(checkDrift(history, night, settings).holds, [], 'one night moves agreement ~7 points, under max_change');
  const r = checkCumulative(history, nights.flat(), settings, 4);
  assert.ok(r.holds.some((h) => h.category === 'hate'), JSON.stringify(r.findings.map((f) => [f.slice, f.region, f.change, f.p_value])));
  assert.match(r.holds[0].reason, /over the last 4 runs' batches/);
  const clean = [1, 2, 3, 4].map((k) => world({ n: 400, from: 10_000 * k, moderators: ['a'], seed: 20 + k, acc: 0.95 }));
  assert.deepEqual(checkCumulative(history, clean.flat(), settings, 4).holds, [], 'honest nights together are not held');
});

test('termsOf: lower-case words of three characters or more, each once; nothing for a purged text', () => {
  assert.deepEqual(termsOf('The cat, the CAT and a dog’s toy! x1 42'), ['the', 'cat', 'and', 'dog’s', 'toy']);
  assert.deepEqual(termsOf(null), []);
});

test('a rare category: never flagging it is held by flags against the head’s expectation, where agreement cannot see it', () => {
  // 6% positives; the head flags almost nothing at its threshold but its calibrated scores rank them.
  const rare = (n: number, from: number, seed: number, moderators: string[], label?: (h: boolean, i: number, m: string) => boolean): Verdict[] => {
    const rng = mulberry32(seed);
    return Array.from({ length: n }, (_, i) => {
      const truth = rng() < 0.06;
      const score = truth ? 0.2 + 0.6 * rng() : 0.05 * rng();
      const moderator = moderators[i % moderators.length];
      const honest = rng() < 0.95 ? truth : !truth;
      return { labelId: from + i + 1, taskId: `t${from + i}`, category: 'hate', moderator, model: score >= 0.9, score, verdict: label ? label(honest, i, moderator) : honest };
    });
  };
  const history = rare(3000, 0, 30, ['a']);
  const honest = rare(1000, 5000, 31, ['a', 'b']);
  assert.deepEqual(checkDrift(history, honest, settings).holds, [], 'honest moderators are not held');
  const batch = rare(1000, 5000, 31, ['a', 'n'], (h, _i, m) => (m === 'n' ? false : h));
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(r.holds.map((h) => [h.category, h.moderator]), [['hate', 'n']]);
  assert.match(r.holds[0].reason, /moderator n flagged hate on 0 of 500 items in this batch where the serving head's scores expected \d+\.\d/);
  assert.ok(!r.rows.some((x) => x.moderator === 'n' && x.against === 'model' && x.finding), 'agreement with the decision alone does not find it');
});

/** Verdicts with calibrated-looking scores: half the items positive, the head's threshold (0.9) above almost every score. */
function scoredWorld(o: { n: number; from: number; seed: number; word: (i: number) => boolean; label?: (honest: boolean, i: number, rng: () => number) => boolean }): Verdict[] {
  const rng = mulberry32(o.seed);
  return Array.from({ length: o.n }, (_, i) => {
    const truth = rng() < 0.5;
    const score = truth ? 0.3 + 0.6 * rng() : 0.6 * rng();
    const honest = rng() < 0.9 ? truth : !truth;
    return {
      labelId: o.from + i + 1,
      taskId: `t${o.from + i}`,
      category: 'hate',
      moderator: 'a',
      model: score >= 0.9,
      score,
      verdict: o.label ? o.label(honest, i, rng) : honest,
      terms: o.word(i) ? ['w', 'common'] : ['common'],
    };
  });
}

test('one word’s texts inverted, too few of them flagged by the head for its flagged region: held by how the flags rank against its scores', () => {
  const word = (i: number) => i % 5 === 0;
  const history = scoredWorld({ n: 1500, from: 0, seed: 40, word });
  const honest = scoredWorld({ n: 300, from: 5000, seed: 41, word });
  assert.deepEqual(checkDrift(history, honest, settings).holds, [], 'an honest night is not held');
  const inverted = scoredWorld({ n: 300, from: 5000, seed: 41, word, label: (h, i) => (word(i) ? !h : h) });
  const r = checkDrift(history, inverted, settings);
  // Inverting half-positive texts keeps their number of flags, and the head flags almost none of them:
  // neither the flags-against-expected row nor the flagged region's agreement can see it.
  assert.deepEqual(r.findings.map((f) => [f.against, f.slice.kind, f.slice.value]), [['ranking', 'term', 'w']]);
  assert.deepEqual(r.holds.map((h) => [h.category, h.moderator]), [['hate', null]]);
  assert.match(r.holds[0].reason, /on items with the word "w", moderators' hate flags rank against the serving head's scores in this batch: AUC 0\.\d\d \(\d+ flagged of 60\) against 0\.\d\d before/);
  const row = r.findings[0];
  assert.ok(row.batch.rate! < 0.5 && row.history.rate! > 0.7, JSON.stringify(row));
});

test('a slice under min_labels but with min_ranked scored verdicts is judged by its ranking alone: 25 inverted texts are held', () => {
  const word = (i: number) => i % 12 === 0;
  const shipped = { ...settings, min_ranked: 20 };
  const history = scoredWorld({ n: 1500, from: 0, seed: 44, word });
  const honest = scoredWorld({ n: 300, from: 5000, seed: 45, word });
  assert.deepEqual(checkDrift(history, honest, shipped).holds, [], 'an honest night is not held');
  const inverted = scoredWorld({ n: 300, from: 5000, seed: 45, word, label: (h, i) => (word(i) ? !h : h) });
  const r = checkDrift(history, inverted, shipped);
  assert.deepEqual(r.findings.map((f) => [f.against, f.slice.kind, f.slice.value, f.batch.n]), [['ranking', 'term', 'w', 25]]);
  // The word's agreement and flags rows are reported but not judged: 25 verdicts are under min_labels.
  const others = r.rows.filter((x) => x.slice.value === 'w' && x.against !== 'ranking');
  assert.ok(others.length === 2 && others.every((x) => !x.tested), JSON.stringify(others));
  // Ranking rows need min_labels too where min_ranked is not set: then nothing judges these 25 texts.
  assert.deepEqual(checkDrift(history, inverted, settings).findings, []);
});

test('moderators teaching the head a word it does not rank (flags its items whatever their score) are not held for it', () => {
  const word = (i: number) => i % 5 === 0;
  const history = scoredWorld({ n: 1500, from: 0, seed: 42, word });
  // On the word's items, flags as often as before but unrelated to the head's scores: AUC about 0.5.
  const batch = scoredWorld({ n: 600, from: 5000, seed: 43, word, label: (h, i, rng) => (word(i) ? rng() < 0.5 : h) });
  const r = checkDrift(history, batch, settings);
  assert.deepEqual(r.holds, []);
  const row = r.rows.find((x) => x.against === 'ranking' && x.slice.value === 'w')!;
  // The drop is large and significant; what keeps it from a finding is that the flags are not turned against the scores.
  assert.ok(row.change! < -0.2 && row.p_value! <= row.threshold, JSON.stringify(row));
  assert.ok(row.batch.rate! + 1.645 * row.se!.batch >= 0.5, JSON.stringify(row));
});

test('nearest: a slice that came near a hold without being held is named first; a slice that was held is not among them', () => {
  const word = (i: number) => i % 5 === 0;
  const history = scoredWorld({ n: 1500, from: 0, seed: 42, word });
  // Moderators flag the word's items whatever the head's score (the test above): significant, not turned, not held.
  const teaching = checkDrift(history, scoredWorld({ n: 600, from: 5000, seed: 43, word, label: (h, i, rng) => (word(i) ? rng() < 0.5 : h) }), settings);
  assert.deepEqual(teaching.holds, []);
  const near = nearest(teaching.rows);
  assert.deepEqual([near[0].against, near[0].slice.kind, near[0].slice.value], ['ranking', 'term', 'w']);
  assert.match(near[0].reason, /^on items with the word "w", moderators' hate flags rank against the serving head's scores in this batch: AUC 0\.\d\d/);
  assert.ok(near.length <= 3 && near.every((n, k) => n.p_value <= 10 * n.threshold && (k === 0 || n.p_value / n.threshold >= near[k - 1].p_value / near[k - 1].threshold)), JSON.stringify(near));
  // The same word's texts inverted is a finding and held: it is not named again as near.
  const inverted = checkDrift(history, scoredWorld({ n: 300, from: 5000, seed: 41, word, label: (h, i) => (word(i) ? !h : h) }), settings);
  assert.equal(inverted.holds.length, 1);
  assert.equal(nearest(inverted.rows).some((n) => n.against === 'ranking' && n.slice.value === 'w'), false);
});

test('nearest: near is relative to the threshold a row needed; a word at p 0.008 against 1.5e-5 is not named, one at 5e-5 is', () => {
  const row = (value: string, p: number, threshold: number, extra: Partial<DriftRow> = {}): DriftRow => ({
    against: 'ranking',
    scope: 'batch',
    category: 'hate',
    moderator: null,
    slice: { kind: 'term', value },
    region: 'all',
    batch: { n: 40, agree: 20, rate: 0.4 },
    history: { n: 200, agree: 100, rate: 0.7 },
    change: -0.3,
    p_value: p,
    threshold,
    tested: true,
    finding: false,
    ...extra,
  });
  const rows = [
    row('far', 8e-3, 1.5e-5),
    row('near', 5e-5, 1.5e-5),
    row('nearer', 2e-5, 1.5e-5),
    row('held', 1e-6, 1.5e-5, { finding: true }),
    row('untested', 1e-6, 1.5e-5, { tested: false }),
    row('cumulative', 2e-5, 1.5e-5, { scope: 'cumulative' }),
  ];
  assert.deepEqual(nearest(rows).map((n) => n.slice.value), ['nearer', 'near']);
  assert.deepEqual(nearest(rows, 1).map((n) => n.slice.value), ['nearer']);
});

test('aucOf: ranks with ties at half, Hanley–McNeil standard error; null without five of each', () => {
  const v = (score: number, verdict: boolean, i: number): Verdict => ({ labelId: i, taskId: `t${i}`, category: 'hate', moderator: 'a', model: false, score, verdict });
  // Flagged 0.9, 0.8, 0.5, 0.4, 0.3; cleared 0.5, 0.2, 0.1, 0.1, 0.0: 22.5 of 25 pairs ranked right (one tie at 0.5).
  const vs = [0.9, 0.8, 0.5, 0.4, 0.3].map((s, i) => v(s, true, i)).concat([0.5, 0.2, 0.1, 0.1, 0.0].map((s, i) => v(s, false, 10 + i)));
  const a = aucOf(vs);
  assert.equal(a.auc, 22.5 / 25);
  assert.equal(a.n, 10);
  assert.equal(a.positives, 5);
  const A = 0.9;
  const q1 = A / (2 - A);
  const q2 = (2 * A * A) / (1 + A);
  assert.ok(Math.abs(a.se - Math.sqrt((A * (1 - A) + 4 * (q1 - A * A) + 4 * (q2 - A * A)) / 25)) < 1e-12);
  assert.equal(aucOf(vs.slice(0, 9)).auc, null, 'four cleared');
  assert.equal(aucOf(vs.map((x) => ({ ...x, score: null }))).auc, null, 'unscored verdicts do not count');
});
