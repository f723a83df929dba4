/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The review page in a real browser: sign in with a key, claim, toggle with the keyboard, submit, get
 * the next task. Hostile content (XSS payloads in text, context and appeal reasons) must render as
 * inert text and execute nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { browserSkip, expectStrictPage, launchBrowser, watchPage } from '../helpers/browser.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const PAYLOADS = [
  '<script>window.__xss = (window.__xss || 0) + 1</script>',
  '<img src=x onerror="window.__xss = (window.__xss || 0) + 1">',
  '"><svg onload="window.__xss=1">',
  "javascript:window.__xss=1//' onmouseover='window.__xss=1",
  '<iframe src="javascript:window.parent.__xss=1"></iframe>',
];

describe('review page', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let moderatorKey: string;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];

  before(async () => {
    app = await startTestApp({ listen: true, policies: policies(reviewPolicy('default'), reviewPolicy('blind', { blind: 'audit' })) });
    moderatorKey = await app.key('moderator');
    const client = await app.key('client');
    // Oldest first: the first task claimed carries the payloads in text and context.
    const first = await app.request
      .post('/v1/moderate')
      .set('Authorization', `Bearer ${client}`)
      .send({ input: [{ text: PAYLOADS.join('\n'), context: PAYLOADS.slice().reverse().join(' ') }] });
    assert.equal(first.status, 200);
    const second = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['have a nice day'] });
    assert.equal(second.status, 200);
    browser = await launchBrowser();
    page = await browser.newPage();
    watchPage(page, { dialogs, consoleErrors });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('the page is served with a strict CSP and no inline script', async () => {
    await expectStrictPage(page, `${app.baseUrl}/review`);
  });

  test('sign in, claim with N, hostile content shows as text, toggle with keys, submit, next task', async () => {
    await page.locator('#key').fill(moderatorKey);
    await page.keyboard.press('Enter');
    await page.locator('#idle').waitFor({ state: 'visible' });
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });

    // Content and context are exactly the payload text, and nothing ran.
    assert.equal(await page.locator('#content').textContent(), PAYLOADS.join('\n'));
    assert.equal(await page.locator('#context').textContent(), PAYLOADS.slice().reverse().join(' '));
    assert.equal(await page.locator('#content img, #content script, #content svg, #content iframe, #context *').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.equal(await page.locator('#reason').textContent(), 'audit');

    const before = await page.locator('#categories input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).checked));
    assert.equal(before.length, 3);
    // Digit 2 toggles the second category (and selects it); j moves the selection down, x toggles it.
    await page.keyboard.press('2');
    await page.keyboard.press('j');
    await page.keyboard.press('x');
    await page.keyboard.press('e');
    await page.keyboard.type('reviewed with the keyboard <b>only</b>');
    await page.keyboard.press('Escape');
    const firstTask = await page.evaluate(() => document.getElementById('content')!.textContent);
    await page.keyboard.press('Control+Enter');
    await page.waitForFunction((prev) => document.getElementById('content')?.textContent !== prev, firstTask);
    assert.equal(await page.locator('#content').textContent(), 'have a nice day', 'the next task came up');

    const review = await app.database.db.selectFrom('reviews').selectAll().orderBy('created_at').executeTakeFirstOrThrow();
    const cats = ['violence', 'harassment', 'hate'];
    const expected = Object.fromEntries(cats.map((c, i) => [c, i === 1 || i === 2 ? !before[i] : before[i]]));
    assert.deepEqual(review.labels, expected);
    assert.equal(review.notes, 'reviewed with the keyboard <b>only</b>');
  });

  test('give back with R; the queue-empty state; nothing executed anywhere', async () => {
    await page.keyboard.press('r');
    await page.locator('#idle').waitFor({ state: 'visible' });
    assert.match((await page.locator('#status').textContent()) ?? '', /given back/);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    await page.keyboard.press('s');
    await page.locator('#idle').waitFor({ state: 'visible' });
    assert.match((await page.locator('#idle-message').textContent()) ?? '', /queue is empty/);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(consoleErrors, []);
  });

  test('an appeal reason with markup renders as text', async () => {
    const client = await app.key('client');
    const r = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['the weather is lovely today'] });
    // Finish the audit task first so only the appeal is left.
    const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderatorKey}`).send({});
    await app.request
      .post(`/v1/review/tasks/${claimed.body.data[0].id}/verdict`)
      .set('Authorization', `Bearer ${moderatorKey}`)
      .send({ categories: { violence: false, harassment: false, hate: false } });
    const appeal = await app.request
      .post(`/v1/decisions/${r.body.results[0].decision_id}/appeal`)
      .set('Authorization', `Bearer ${client}`)
      .send({ reason: PAYLOADS[1] });
    assert.equal(appeal.status, 201);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#reason').textContent(), 'appeal');
    assert.equal(await page.locator('#appeal').textContent(), `Appeal: ${PAYLOADS[1]}`);
    assert.equal(await page.locator('#appeal img').count(), 0);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
  });

  test('a blind audit shows no model labels or scores before the verdict; its appeal starts from that verdict', async () => {
    // Clear the queue (the appeal above), then one decision under a policy whose audits are blind.
    await page.keyboard.press('s');
    await page.locator('#idle').waitFor({ state: 'visible' });
    const client = await app.key('client');
    const r = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['I will find you and kill you'], policy: 'blind' });
    const modelSaid = r.body.results[0].categories as Record<string, boolean>;
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#reason').textContent(), 'audit');
    assert.equal(await page.locator('#blind-note').isVisible(), true);
    assert.equal(await page.locator('#model-action-line').isVisible(), false);
    assert.deepEqual(await page.locator('#categories tbody tr td:nth-child(3)').allTextContents(), ['hidden', 'hidden', 'hidden']);
    assert.deepEqual(await page.locator('#categories tbody tr td:nth-child(4)').allTextContents(), ['hidden', 'hidden', 'hidden']);
    assert.equal(await page.locator('#categories .bar').count(), 0, 'no score bar either');
    assert.deepEqual(await page.locator('#categories input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).checked)), [false, false, false], 'nothing pre-ticked');
    // Every category is one key press away; this verdict flags violence and harassment.
    await page.keyboard.press('1');
    await page.keyboard.press('2');
    await page.keyboard.press('s');
    await page.locator('#idle').waitFor({ state: 'visible' });
    const review = await app.database.db.selectFrom('reviews').select(['labels', 'blind']).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    assert.deepEqual(review, { labels: { violence: true, harassment: true, hate: false }, blind: true });

    // The appeal is not blind (it is about the decision) and starts from the verdict, not from the model.
    const appeal = await app.request.post(`/v1/decisions/${r.body.results[0].decision_id}/appeal`).set('Authorization', `Bearer ${client}`).send({ reason: 'not a threat' });
    assert.equal(appeal.status, 201);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#reason').textContent(), 'appeal');
    const task = await app.request.get(`/v1/review/tasks/${appeal.body.review_task_id}`).set('Authorization', `Bearer ${moderatorKey}`);
    assert.deepEqual(task.body.policy.categories, ['violence', 'harassment', 'hate'], 'an appeal lists the categories in the policy’s order too');
    assert.equal(await page.locator('#blind-note').isVisible(), false);
    assert.deepEqual(await page.locator('#categories input').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).checked)), [true, true, false]);
    assert.deepEqual(
      await page.locator('#categories tbody tr td:nth-child(4)').allTextContents(),
      ['violence', 'harassment', 'hate'].map((c) => (modelSaid[c] ? 'flagged' : '—')),
      'the model’s decision is shown on the appeal',
    );
    assert.deepEqual(consoleErrors, []);
  });
});
