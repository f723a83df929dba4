/**
 * POST /v1/moderate with `explain: true`: per result and category, the deciding label's logit (whose sigmoid
 * is the category's score), its parts adding up to it, the words by their n-gram share once a tuned head has
 * an n-gram part, and the backbone's words by occlusion; without `explain`, nothing extra.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

for (const kind of testDatabases()) {
  describe(`explain: true (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let client: string;
    before(async () => {
      app = await startTestApp({ db: kind, policies: policies(reviewPolicy('default', {}, { training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 } })) });
      client = await app.key('client');
    });
    after(async () => {
      await app?.close();
    });
    const moderate = (body: object) => app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send(body);

    test('parts add up to the logit and its sigmoid is the score; occlusion names the backbone words; nothing without explain', async () => {
      const plain = await moderate({ input: 'I will find you and kill you' });
      assert.equal(plain.body.results[0].explanation, undefined);
      const r = await moderate({ input: 'I will find you and kill you', explain: true });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const x = r.body.results[0];
      for (const [cat, e] of Object.entries(x.explanation as Record<string, { logit: number; parts: Record<string, number>; backbone_words: { word: string }[] }>)) {
        const sum = e.parts.bias + e.parts.backbone + e.parts.lexical + e.parts.ngrams;
        assert.ok(Math.abs(sum - e.logit) < 1e-5, `${cat}: parts ${sum} vs logit ${e.logit}`);
        assert.ok(Math.abs(sigmoid(e.logit) - x.category_scores[cat]) < 1e-5, `${cat}: σ(logit) ${sigmoid(e.logit)} vs score ${x.category_scores[cat]}`);
        assert.ok(e.backbone_words.length > 0 && e.backbone_words.every((w) => 'I will find you and kill you'.split(' ').includes(w.word)));
      }
      // The starter's violence logit moves most with "kill" among its words.
      assert.equal(x.explanation.violence.backbone_words[0].word, 'kill');
      assert.equal((await moderate({ input: 'x', explain: 'yes' })).status, 400);
    });

    test('after a run, the tuned head’s n-gram part names the marked words, exactly', async () => {
      const moderator = await app.key('moderator');
      await moderateAndReview(app, client, moderator, await makeTexts(200, 1));
      const run = await waitForRun(app, (await app.request.post('/v1/training/runs').set('Authorization', `Bearer ${ADMIN_KEY}`).send({})).body.id);
      assert.equal(run.status, 'promoted', `${run.status}: ${run.error}`);
      const r = await moderate({ input: 'the weather is not lovely today', explain: true });
      const v = r.body.results[0].explanation.violence;
      assert.ok(v.parts.ngrams !== 0, 'the tuned head has an n-gram part');
      const sum = v.words.reduce((a: number, w: { contribution: number }) => a + w.contribution, 0);
      assert.ok(v.words.length <= 10 && v.words.length > 0);
      // The top words carry the part (all of it when the text has at most ten words).
      assert.ok(Math.abs(sum - v.parts.ngrams) < 1e-4, `${sum} vs ${v.parts.ngrams}`);
      assert.equal(v.words[0].word, 'not', JSON.stringify(v.words));
    });
  });
}
