import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePolicy } from '../../src/policy/loader.js';
import { decide } from '../../src/policy/policy.js';
import { cohenKappa, krippendorffAlpha, median } from '../../src/review/agreement.js';
import { disagreements, hasTie, resolveLabels } from '../../src/review/labels.js';
import { routeDecision } from '../../src/review/routing.js';
import { assignSplit, groupKeys, normalizeForGrouping, splitFor, splitForText, textSha256 } from '../../src/review/split.js';

test("Cohen's kappa matches hand-computed tables", () => {
  // A/B: yes/yes 20, yes/no 5, no/yes 10, no/no 15 (n = 50).
  // p_o = 35/50 = 0.7; p_A = 25/50, p_B = 30/50; p_e = 0.5·0.6 + 0.5·0.4 = 0.5; κ = 0.2/0.5 = 0.4.
  const pairs: [boolean, boolean][] = [
    ...Array(20).fill([true, true]),
    ...Array(5).fill([true, false]),
    ...Array(10).fill([false, true]),
    ...Array(15).fill([false, false]),
  ];
  const k = cohenKappa(pairs);
  assert.equal(k.n, 50);
  assert.ok(Math.abs(k.observed - 0.7) < 1e-12);
  assert.ok(Math.abs(k.expected - 0.5) < 1e-12);
  assert.ok(Math.abs(k.kappa! - 0.4) < 1e-12);
  // Perfect agreement with both labels present: κ = 1. Perfect disagreement: κ = −1.
  assert.equal(cohenKappa([[true, true], [false, false]]).kappa, 1);
  assert.equal(cohenKappa([[true, false], [false, true]]).kappa, -1);
  // Undefined cases.
  assert.equal(cohenKappa([]).kappa, null);
  assert.equal(cohenKappa([[true, true], [true, true]]).kappa, null, 'p_e = 1: chance explains everything');
});

test("Krippendorff's alpha (nominal) matches hand-computed values", () => {
  // Two raters, units (1,1) (0,0) (1,0) (1,1): o11 = 4, o00 = 2, o01 = 1, n = 8.
  // D_o = 2/8, D_e = 2·3·5/(8·7) = 30/56, α = 1 − (1/4)/(30/56) = 1 − 56/120 = 0.5333…
  const a = krippendorffAlpha([[true, true], [false, false], [true, false], [true, true]]);
  assert.ok(Math.abs(a.alpha! - (1 - 56 / 120)) < 1e-12, String(a.alpha));
  assert.equal(a.units, 4);
  assert.equal(a.ratings, 8);
  // Three raters, units (1,1,1) (1,1,0) (0,0,0): o11 = 4, o00 = 3, o01 = 1, n = 9.
  // D_o = 2/9, D_e = 2·4·5/(9·8) = 40/72, α = 1 − (2/9)/(40/72) = 1 − 0.4 = 0.6.
  const b = krippendorffAlpha([[true, true, true], [true, true, false], [false, false, false]]);
  assert.ok(Math.abs(b.alpha! - 0.6) < 1e-12, String(b.alpha));
  // Units with a single rating are ignored; missing ratings are fine.
  const c = krippendorffAlpha([[true, true], [false, false], [true, false], [true, true], [true], []]);
  assert.ok(Math.abs(c.alpha! - a.alpha!) < 1e-12);
  assert.equal(krippendorffAlpha([[true], [false]]).alpha, null);
  assert.equal(krippendorffAlpha([[true, true], [true, true]]).alpha, null, 'no variation: undefined');
});

test('median', () => {
  assert.equal(median([]), null);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('labels: one reviewer; majority; ties by policy; pairs only where the settled label differs', () => {
  const cats = ['violence', 'hate'];
  const model = { violence: true, hate: false };
  const one = resolveLabels(cats, [{ violence: false, hate: false }], model, 'flag');
  assert.deepEqual(
    one.map((l) => [l.category, l.label, l.conflict]),
    [['violence', false, false], ['hate', false, false]],
  );
  assert.deepEqual(disagreements(one).map((l) => l.category), ['violence']);

  const three = resolveLabels(cats, [{ violence: true, hate: true }, { violence: false, hate: true }, { violence: true, hate: false }], model, 'flag');
  assert.deepEqual(three.map((l) => [l.label, l.votesYes, l.votesTotal, l.conflict]), [[true, 2, 3, true], [true, 2, 3, true]]);
  assert.deepEqual(disagreements(three).map((l) => l.category), ['hate']);

  const tie = [{ violence: true, hate: false }, { violence: false, hate: false }];
  assert.equal(resolveLabels(cats, tie, model, 'flag')[0].label, true, 'flag: a tie flags');
  const dropped = resolveLabels(cats, tie, model, 'drop');
  assert.equal(dropped[0].label, null, 'drop: no label');
  assert.equal(dropped[0].conflict, true);
  assert.deepEqual(disagreements(dropped), [], 'a dropped tie makes no pair');
  assert.equal(hasTie(cats, tie), true);
  assert.equal(hasTie(cats, [{ violence: true, hate: false }, { violence: true, hate: false }]), false);
  assert.equal(hasTie(cats, [{ violence: true, hate: true }, { violence: false, hate: true }, { violence: true, hate: false }]), false, 'three reviewers cannot tie');
});

test('split: drawn from the item’s text and the deployment’s salt, stable, close to the eval fraction, unpredictable without the salt', () => {
  const texts = Array.from({ length: 4000 }, (_, i) => `comment number ${i}`);
  const split = (salt: string, t: string) => splitForText(salt, t, 0.2);
  const evalShare = texts.filter((t) => split('a', t) === 'eval').length / texts.length;
  assert.ok(Math.abs(evalShare - 0.2) < 0.03, `eval share ${evalShare}`);
  assert.equal(split('a', texts[7]), split('a', texts[7]), 'the same text, the same side: a repost cannot straddle the split');
  assert.ok(texts.every((t) => splitForText('a', t, 0) === 'train'));
  // Another deployment (another salt) splits the same texts independently: about 2 × 0.2 × 0.8 of them differ.
  const differ = texts.filter((t) => split('a', t) !== split('b', t)).length / texts.length;
  assert.ok(Math.abs(differ - 0.32) < 0.03, `share split differently: ${differ}`);
  assert.equal(splitFor('x', 0.2), splitFor('x', 0.2));
});

test('split groups: a repost with other case, spacing or invisible characters is the same text; an author or thread groups its items', () => {
  const base = 'You people are ALL the same';
  const reposts = ['you people are all the same', '  You  people\tare ALL the same\n', 'You\u200B people are ALL the\u00A0same', 'Ｙou people are ALL the same', 'You people are ALL the same\uFEFF'];
  for (const r of reposts) assert.equal(normalizeForGrouping(r), normalizeForGrouping(base), JSON.stringify(r));
  assert.notEqual(normalizeForGrouping('you people are all the sane'), normalizeForGrouping(base), 'a different word is a different text');
  const keys = (text: string | null, authorId: string | null = null, threadId: string | null = null) => groupKeys({ text, textSha256: textSha256(text ?? 'gone'), authorId, threadId });
  assert.equal(keys(base).text, keys(reposts[1]).text);
  assert.equal(keys(base).group, keys(base).text, 'without author or thread, the group is the text');
  assert.equal(keys('one', 'a1', 't1').group, 'author:a1', 'the author comes before the thread');
  assert.equal(keys('one', null, 't1').group, 'thread:t1');
  assert.equal(keys(null).text, `r:${textSha256('gone')}`, 'a purged text keeps its stored hash');
  // Over many groups the reposts always land with their original, whatever their own hash says.
  const salt = 'salt';
  let followed = 0;
  for (let i = 0; i < 500; i++) {
    const original = splitForText(salt, `post ${i}`, 0.2);
    const repost = assignSplit(salt, keys(`POST   ${i}`, `someone-${i}`), 0.2, { byText: original, byGroup: null });
    assert.equal(repost, original);
    if (splitFor(`${salt}:author:someone-${i}`, 0.2) !== original) followed++;
  }
  assert.ok(followed > 50, `the text rule overrode the author's own draw ${followed} times`);
  // An author's later items follow the author's first, whatever their text's own draw.
  assert.equal(assignSplit(salt, keys('new text', 'a9'), 0.2, { byText: null, byGroup: 'eval' }), 'eval');
  assert.equal(assignSplit(salt, keys('new text', 'a9'), 0.2, { byText: null, byGroup: 'train' }), 'train');
});

test('routing: audit first and independent of scores, then confirm, uncertain, flagged', () => {
  const policy = parsePolicy(
    'p',
    'categories:\n  violence: { flag: 0.5, block: 0.9 }\nreview: { audit_rate: 0.1, confirm_block_rate: 0.5, uncertainty_margin: 0.1, audit_reviews_per_task: 2 }\n',
  );
  const seq = (...xs: number[]) => () => xs.shift()!;
  const allow = decide(policy, { violence: 0.1 });
  // An allowed item reaches review only through the audit draw: it stands for 1 / 0.1 items of traffic.
  assert.deepEqual(routeDecision(allow, policy, seq(0.05)), { reason: 'audit', priority: 20, requiredReviews: 2, inclusion: 0.1 });
  assert.equal(routeDecision(allow, policy, seq(0.5)), null);
  const block = decide(policy, { violence: 0.95 });
  assert.equal(routeDecision(block, policy, seq(0.5, 0.4))?.reason, 'confirm');
  assert.equal(routeDecision(block, policy, seq(0.5, 0.4))?.inclusion, 0.1 + 0.9 * 0.5, 'a block: the audit draw or, failing it, the confirmation draw');
  assert.equal(routeDecision(decide(policy, { violence: 0.75 }), policy, seq(0.05))?.inclusion, 1, 'audited, but the policy would have routed it anyway');
  assert.equal(routeDecision(block, policy, seq(0.5, 0.6)), null, 'an unsampled block is final');
  assert.equal(routeDecision(decide(policy, { violence: 0.55 }), policy, seq(0.5))?.reason, 'uncertain');
  assert.equal(routeDecision(decide(policy, { violence: 0.45 }), policy, seq(0.5))?.reason, 'uncertain');
  const flagged = routeDecision(decide(policy, { violence: 0.75 }), policy, seq(0.5));
  assert.deepEqual(flagged, { reason: 'flagged', priority: 50, requiredReviews: 1, inclusion: 1 });
  const quiet = parsePolicy('q', 'categories:\n  violence: { flag: 0.5, block: null }\nreview: { audit_rate: 0, uncertainty_margin: 0, queue_flagged: false }\n');
  assert.equal(routeDecision(decide(quiet, { violence: 0.75 }), quiet, seq(0.5)), null, 'queue_flagged: false leaves "review" to the platform');
});
