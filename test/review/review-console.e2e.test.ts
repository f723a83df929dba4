/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The review console over a moderator's shift, keyboard only: sign-in checks the key and its role at
 * once; every one of the shipped policy's 13 categories is one key press away (and the verdict stored is
 * exactly what was toggled); a task lost to another moderator returns the page to a state where N works;
 * the lease counts down, warns a minute before it ends and, when it ends, hands the page back to N.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { parsePolicy } from '../../src/policy/loader.js';
import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { browserSkip, CATEGORY_KEYS, launchBrowser, openReview, watchPage } from '../helpers/browser.js';
import { heldTaskId, leaseTo, taskReviews, taskRow } from '../helpers/factories.js';
import { openAiCategories, policies, reviewPolicyYaml } from '../helpers/policies.js';

const POLICY = reviewPolicyYaml({ lease_seconds: 600 }, {}, openAiCategories());

const statusText = (page: Page) => page.locator('#status').textContent().then((t) => t ?? '');

describe('review console: a shift on the keyboard', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let moderator: string;
  let moderatorId: string;
  let client: string;

  const fresh = async (clock = false): Promise<Page> => {
    const page = await browser.newPage();
    if (clock) await page.clock.install();
    return page;
  };
  const signIn = async (page: Page, key: string) => {
    await page.locator('#key').fill(key);
    await page.keyboard.press('Enter');
  };
  const heldTask = async () => {
    const id = await heldTaskId(app.database.db, moderatorId);
    assert.ok(id, 'the moderator holds a task');
    return id;
  };

  before(async () => {
    app = await startTestApp({ listen: true, policies: policies(parsePolicy('default', POLICY)) });
    client = await app.key('client');
    moderator = await app.key('moderator');
    moderatorId = (await app.request.get('/v1/me').set('Authorization', `Bearer ${moderator}`)).body.key_id;
    const texts = Array.from({ length: 8 }, (_, i) => `message number ${i} for the shift`);
    assert.equal((await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: texts })).status, 200);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('sign-in checks the key and its role at once', async () => {
    const page = await fresh();
    await page.goto(`${app.baseUrl}/review`);
    await signIn(page, client);
    await page.waitForFunction(() => /Key refused/.test(document.getElementById('status')?.textContent ?? ''));
    assert.match(await statusText(page), /needs a moderator or admin key; this key \(.*\) has the client role/);
    assert.equal(await page.locator('#login').isVisible(), true);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);

    await signIn(page, 'mt_not_a_key_at_all');
    await page.waitForFunction(() => /API key not recognised/.test(document.getElementById('status')?.textContent ?? ''));
    assert.equal(await page.locator('#login').isVisible(), true);

    await signIn(page, moderator);
    await page.locator('#idle').waitFor({ state: 'visible' });
    assert.match(await statusText(page), /^Signed in as /);
    await page.close();
  });

  test('every one of 13 categories is one key press; the stored verdict is exactly what was toggled', async () => {
    const page = await fresh();
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    const rows = page.locator('#categories tbody tr');
    assert.equal(await rows.count(), 13);
    assert.deepEqual(await rows.locator('td:first-child').allTextContents(), CATEGORY_KEYS.map((k) => k.toUpperCase()));
    assert.deepEqual(await rows.locator('input').evaluateAll((bs) => bs.map((b) => (b as HTMLInputElement).value)), [...OPENAI_CATEGORIES]);
    const startState = await rows.locator('input').evaluateAll((bs) => bs.map((b) => (b as HTMLInputElement).checked));
    const taskId = await heldTask();
    for (const k of CATEGORY_KEYS) await page.keyboard.press(k);
    const toggled = await rows.locator('input').evaluateAll((bs) => bs.map((b) => (b as HTMLInputElement).checked));
    assert.deepEqual(toggled, startState.map((c) => !c), 'each key toggled its own category, once');
    const shown = await page.locator('#content').textContent();
    await page.keyboard.press('s');
    // The verdict is stored before the next task is claimed: wait for the page to move on.
    await page.waitForFunction((prev) => document.getElementById('content')?.textContent !== prev || !document.getElementById('idle')!.hidden, shown);
    const [review] = await taskReviews(app.database.db, taskId);
    const labels = typeof review.labels === 'string' ? JSON.parse(review.labels) : review.labels;
    assert.deepEqual(OPENAI_CATEGORIES.map((c) => labels[c]), toggled, 'the database holds the verdict as toggled, category by category');
    await page.close();
  });

  test('a task lost to another moderator: the page says so and N works again', async () => {
    const page = await fresh();
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    const taskId = await heldTask();
    // The lease ran out meanwhile and another moderator claimed the task.
    const other = (await app.request.get('/v1/me').set('Authorization', `Bearer ${await app.key('moderator')}`)).body.key_id;
    await leaseTo(app.database.db, taskId, other);
    await page.keyboard.press('s');
    await page.locator('#idle').waitFor({ state: 'visible' });
    assert.match((await page.locator('#idle-message').textContent()) ?? '', /leased to another moderator\. Press N to claim the next task/);
    assert.match(await statusText(page), /the task is no longer yours/);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.notEqual(await heldTask(), taskId, 'N claimed another task');
    await page.keyboard.press('r');
    await page.locator('#idle').waitFor({ state: 'visible' });
    await page.close();
  });

  test('the lease counts down, warns a minute before it ends, and hands the page back to N when it ends', async () => {
    const page = await fresh(true);
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    await page.clock.runFor(1_000);
    assert.match((await page.locator('#lease').textContent()) ?? '', /^lease (9:5\d|10:00) left$/);
    assert.equal(await page.locator('#lease.warn').count(), 0);

    await page.clock.runFor(9 * 60_000 + 5_000);
    assert.match((await page.locator('#lease').textContent()) ?? '', /^lease 0:[0-5]\d left$/);
    assert.equal(await page.locator('#lease.warn').count(), 1);
    assert.match(await statusText(page), /ends in less than a minute/);

    await page.clock.runFor(60_000);
    assert.equal(await page.locator('#idle').isVisible(), true);
    assert.match((await page.locator('#idle-message').textContent()) ?? '', /lease on that task ran out/);
    // The page's clock ran ten minutes ahead of the server's; back to real time, N claims again.
    await page.clock.setSystemTime(new Date());
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.match((await page.locator('#lease').textContent()) ?? '', /^lease \d+:\d\d left$/);
    await page.close();
  });
  test('U takes the last verdict back: the task returns with a fresh lease; the idle view shows your numbers', async () => {
    const page = await fresh();
    await openReview(page, app.baseUrl, moderator);
    // The numbers load after the idle view shows.
    await page.waitForFunction(() => (document.getElementById('my-stats')?.textContent ?? '') !== '');
    assert.match((await page.locator('#my-stats').textContent()) ?? '', /^You: \d+ verdicts in the last 24 h, \d+ in 7 days · median [\d.]+ s a task/);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    const first = await page.locator('#content').textContent();
    const firstId = await heldTask();
    await page.keyboard.press('2');
    await page.keyboard.press('s');
    await page.waitForFunction((prev) => document.getElementById('content')?.textContent !== prev || !document.getElementById('idle')!.hidden, first);
    await page.keyboard.press('u');
    await page.waitForFunction(() => /Verdict taken back/.test(document.getElementById('status')?.textContent ?? ''));
    assert.equal(await page.locator('#content').textContent(), first);
    assert.equal((await taskReviews(app.database.db, firstId)).length, 0, 'the verdict is gone');
    await page.keyboard.press('s');
    await page.waitForFunction(() => /Verdict saved|claimed|empty/.test(document.getElementById('status')?.textContent ?? ''));
    assert.equal((await taskReviews(app.database.db, firstId)).length, 1, 'given again');
    await page.close();
  });
  test('at 390 px (a phone) nothing is wider than the screen', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
    await page.keyboard.press('?');
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390, 'with the help shown too');
    await page.keyboard.press('r');
    await page.close();
  });
});

describe('review console: why a task is here, who wrote it, and what the text hides', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let moderator: string;
  const HIDDEN = 'kill\u200B you \u202Ewon uoy llik\u202C';

  before(async () => {
    app = await startTestApp({ listen: true, policies: policies(parsePolicy('default', POLICY)) });
    const client = await app.key('client');
    moderator = await app.key('moderator');
    const send = (input: unknown[]) => app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input });
    await send([{ text: '<b>earlier</b> <img src=x onerror="window.__xss=1">', author_id: 'a1', thread_id: 'th', external_id: 'p1' }]);
    await send([{ text: HIDDEN, author_id: 'a1', thread_id: 'th', external_id: 'p2' }]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('the task says why it is here and whose it is, lists the author’s earlier item as text, and shows hidden characters on C', async () => {
    const page = await browser.newPage();
    await openReview(page, app.baseUrl, moderator);
    // The first task is the earlier post: settle it, so the second shows a verdict in its history.
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#history-block').isVisible(), false, 'nothing earlier from this author');
    assert.equal(await page.locator('#hidden-warning').isVisible(), false);
    await page.keyboard.press('3'); // harassment/threatening… whatever the third category is, flag it
    await page.keyboard.press('s');
    await page.waitForFunction(() => (document.getElementById('content')?.textContent ?? '').includes('llik'));

    assert.match((await page.locator('#why').textContent()) ?? '', /random sample of all decisions \(audit\)/);
    assert.equal(await page.locator('#subject').textContent(), 'post p2 · author a1 · thread th');
    const history = page.locator('#history li');
    assert.equal(await history.count(), 1);
    assert.match((await history.textContent()) ?? '', new RegExp(`same author and thread · post p1 · moderators: ${OPENAI_CATEGORIES[2].replace('/', '\\/')} · model: \\w+`));
    assert.equal(await page.locator('#history q').textContent(), '<b>earlier</b> <img src=x onerror="window.__xss=1">');
    assert.equal(await page.locator('#history img, #history b').count(), 0);

    // The text hides a zero-width space and a right-to-left override: the page says so, and C shows them.
    assert.equal(await page.locator('#hidden-warning').isVisible(), true);
    assert.match((await page.locator('#hidden-text').textContent()) ?? '', /2 that change the reading direction and 1 invisible \(U\+200B, U\+202E, U\+202C\)/);
    assert.equal(await page.locator('#content').textContent(), HIDDEN);
    await page.keyboard.press('c');
    assert.equal(await page.locator('#content').textContent(), 'kill⟦U+200B⟧ you ⟦U+202E⟧won uoy llik⟦U+202C⟧');
    await page.keyboard.press('c');
    assert.equal(await page.locator('#content').textContent(), HIDDEN);
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    await page.close();
  });
});

describe('review console: graphic content stays blurred until revealed; the queue can be filtered by reason', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let moderator: string;
  const GRAPHIC = reviewPolicyYaml({ lease_seconds: 600 }, {}, openAiCategories(0.95, ['violence']));

  before(async () => {
    assert.notEqual(GRAPHIC, POLICY);
    app = await startTestApp({ listen: true, policies: policies(parsePolicy('default', GRAPHIC)) });
    const client = await app.key('client');
    moderator = await app.key('moderator');
    const as = (k: string) => ({ Authorization: `Bearer ${k}` });
    // An audit whose text the model flags for violence (graphic here), then an appeal (higher priority).
    const nice = await app.request.post('/v1/moderate').set(as(client)).send({ input: ['have a nice day'] });
    const other = await app.key('moderator');
    const c = await app.request.post('/v1/review/claim').set(as(other)).send({ limit: 1 });
    const cats = Object.fromEntries(c.body.data[0].policy.categories.map((x: string) => [x, false]));
    assert.equal((await app.request.post(`/v1/review/tasks/${c.body.data[0].id}/verdict`).set(as(other)).send({ categories: cats })).status, 200);
    const kill = await app.request.post('/v1/moderate').set(as(client)).send({ input: ['I will find you and kill you'] });
    assert.equal(kill.body.results[0].categories.violence, true, 'the model flags it for violence');
    assert.equal((await app.request.post(`/v1/decisions/${nice.body.results[0].decision_id}/appeal`).set(as(client)).send({ reason: 'not fair' })).status, 201);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('V narrows the queue to one reason; B (or a click) reveals a blurred text and B blurs it again', async () => {
    const page = await browser.newPage();
    await openReview(page, app.baseUrl, moderator);
    // Every reason → appeal → flagged → confirm → uncertain → audit.
    for (let i = 0; i < 5; i++) await page.keyboard.press('v');
    assert.equal(await page.locator('#reason-filter').inputValue(), 'audit');
    assert.match((await page.locator('#status').textContent()) ?? '', /Taking audit tasks only/);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#reason').textContent(), 'audit', 'the audit, though an appeal waits with a higher priority');

    assert.equal(await page.locator('#content.blurred').count(), 1);
    assert.equal(await page.locator('#graphic-note').isVisible(), true);
    await page.keyboard.press('b');
    assert.equal(await page.locator('#content.blurred').count(), 0);
    assert.equal(await page.locator('#graphic-note').isVisible(), false);
    await page.keyboard.press('b');
    assert.equal(await page.locator('#content.blurred').count(), 1);
    await page.locator('#content').click();
    assert.equal(await page.locator('#content.blurred').count(), 0);

    // Give it back, widen the queue again: the appeal comes first, and it is not blurred.
    await page.keyboard.press('r');
    await page.locator('#idle').waitFor({ state: 'visible' });
    await page.keyboard.press('v');
    assert.equal(await page.locator('#reason-filter').inputValue(), '');
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#reason').textContent(), 'appeal');
    assert.equal(await page.locator('#content.blurred').count(), 0);
    await page.close();
  });

  test('M comments on the subject (shown as text); Z escalates to a senior moderator with a reason and moves on; both ask inline, no dialog', async () => {
    const page = await browser.newPage();
    const dialogs: string[] = [];
    watchPage(page, { dialogs });
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    const taskId = (await app.database.db.selectFrom('review_tasks').select('id').where('status', '=', 'open').where('leased_to', 'is not', null).executeTakeFirstOrThrow()).id;

    // M asks under the task; Escape cancels, nothing is sent.
    await page.keyboard.press('m');
    await page.locator('#ask').waitFor({ state: 'visible' });
    assert.match((await page.locator('#ask-label').textContent()) ?? '', /^Comment on this item/);
    await page.waitForFunction(() => document.activeElement?.id === 'ask-input');
    await page.keyboard.type('never mind');
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#ask').isHidden(), true);
    assert.equal(await page.locator('#comments li').count(), 0);
    assert.equal(await page.locator('#task').isVisible(), true, 'Enter or Escape in the question never submits the verdict');
    await page.keyboard.press('m');
    await page.waitForFunction(() => document.activeElement?.id === 'ask-input');
    await page.keyboard.type('<img src=x onerror="window.__xss=1"> same text in five threads');
    await page.keyboard.press('Enter');
    await page.locator('#comments li').first().waitFor();
    assert.match((await page.locator('#comments li').first().textContent()) ?? '', /on this item: <img src=x onerror="window.__xss=1"> same text in five threads$/);
    assert.equal(await page.locator('#comments img').count(), 0);

    await page.keyboard.press('z');
    assert.match((await page.locator('#ask-label').textContent()) ?? '', /^Escalate to a senior moderator/);
    await page.waitForFunction(() => document.activeElement?.id === 'ask-input');
    await page.keyboard.type('is this a threat? needs a senior look');
    await page.keyboard.press('Enter');
    // The confirmation stays with the next claim's line instead of being replaced by it.
    await page.waitForFunction(() => /^Escalated to a senior moderator \("is this a threat\? needs a senior look"\)\. (Task .* claimed|Queue empty)/.test(document.getElementById('status')?.textContent ?? ''));
    const row = await taskRow(app.database.db, taskId);
    assert.ok(row.escalated_at);
    assert.equal(row.escalation_comment, 'is this a threat? needs a senior look');
    assert.equal(row.leased_to, null, 'given up for a senior');
    assert.equal(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.deepEqual(dialogs, []);
    await page.close();
  });
});
