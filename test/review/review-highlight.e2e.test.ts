/// <reference lib="dom" />
/**
 * The review page marks the words that moved the serving head (its n-gram part's exact shares), never on a
 * blind task; the subject's earlier items flagged for a graphic category are blurred until revealed, and
 * their hidden characters are shown and said.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { parsePolicy } from '../../src/policy/loader.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { browserSkip, launchBrowser, openReview } from '../helpers/browser.js';
import { makeTexts, MARKED, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicyYaml } from '../helpers/policies.js';

const CATEGORIES = { violence: '{ flag: 0.5, block: 0.9, graphic: true }', harassment: '{ flag: 0.5, block: 0.95 }', hate: '{ flag: 0.5, block: 0.95 }' };
const TRAINING = { training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 } };

describe('review page: marked words, graphic history', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let client: string;
  let moderator: string;
  before(async () => {
    app = await startTestApp({
      listen: true,
      policies: policies(
        parsePolicy('default', reviewPolicyYaml({}, TRAINING, CATEGORIES)),
        parsePolicy('blindpol', reviewPolicyYaml({ blind: 'all' }, TRAINING, CATEGORIES)),
      ),
    });
    client = await app.key('client');
    moderator = await app.key('moderator');
    await moderateAndReview(app, client, moderator, await makeTexts(200, 1));
    const run = await waitForRun(app, (await app.request.post('/v1/training/runs').set('Authorization', `Bearer ${ADMIN_KEY}`).send({})).body.id);
    assert.equal(run.status, 'promoted', `${run.status}: ${run.error}`);
    // An earlier item of the author, flagged for violence (graphic here), with a zero-width space; it is reviewed.
    const first = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: [{ text: `${MARKED} zebra\u200b`, author_id: 'u-1' }] });
    assert.equal(first.body.results[0].categories.violence, true, 'the tuned head flags the marked text');
    const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 5 });
    for (const t of claimed.body.data as { id: string; start: Record<string, boolean> }[]) {
      await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set('Authorization', `Bearer ${moderator}`).send({ categories: t.start });
    }
    await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: [{ text: `${MARKED} again`, author_id: 'u-1' }] });
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('the words the head leaned on are marked, with their share; the earlier graphic item is blurred until B', async () => {
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.textContent('#content'), `${MARKED} again`);
    const marks = await page.$$eval('#content mark', (ms) => ms.map((m) => ({ text: m.textContent ?? '', title: m.getAttribute('title') ?? '' })));
    assert.ok(marks.length > 0, 'some words are marked');
    for (const m of marks) {
      assert.ok(`${MARKED} again`.split(' ').includes(m.text), m.text);
      assert.match(m.title, /^\+\d+\.\d\d toward violence/);
    }
    assert.equal(await page.isVisible('#highlight-note'), true);
    // The raw view shows no marks.
    await page.keyboard.press('c');
    assert.equal(await page.locator('#content mark').count(), 0);
    await page.keyboard.press('c');

    const q = page.locator('#history q.history-text');
    assert.equal(await q.count(), 1);
    assert.equal(await q.getAttribute('data-graphic'), 'true');
    assert.match((await q.getAttribute('class')) ?? '', /blurred/);
    assert.match((await q.textContent()) ?? '', /zebra⟦U\+200B⟧/);
    assert.match((await page.textContent('#history .history-hidden')) ?? '', /hidden characters: U\+200B/);
    await page.keyboard.press('b');
    assert.doesNotMatch((await q.getAttribute('class')) ?? '', /blurred/);
  });

  test('a blind task carries no marked words (the API has none to give)', async () => {
    const m = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: `${MARKED} blind`, policy: 'blindpol' });
    const task = await app.request.get(`/v1/review/tasks/${m.body.results[0].review_task_id}`).set('Authorization', `Bearer ${moderator}`);
    assert.equal(task.body.blind, true);
    assert.equal(task.body.highlight, null);
    const open = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: `${MARKED} open` });
    const shown = await app.request.get(`/v1/review/tasks/${open.body.results[0].review_task_id}`).set('Authorization', `Bearer ${moderator}`);
    assert.equal(shown.body.blind, false);
    assert.ok(shown.body.highlight.length > 0);
  });
});
