/**
 * `npm run docs:screenshots`: the review console (and a task with its marked words) and the dashboard (and its
 * threshold advisor) as a moderator and an admin see them,
 * light theme, at desktop width (1280 px) and narrow (390 px, a phone), into docs/screenshots/. Starts
 * its own service in-process (in-memory database, the tests' tiny starter model) with a little made-up
 * traffic (no dataset rows), and drives Debian's chromium. Exits 2 when chromium is not installed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { parsePolicy } from '../src/policy/loader.js';
import { ADMIN_KEY, startTestApp } from '../test/helpers/app.js';
import { browserSkip, launchBrowser, openReview } from '../test/helpers/browser.js';
import { makeTexts, waitForRun } from '../test/helpers/feedback.js';
import { openAiCategories, policies, reviewPolicyYaml } from '../test/helpers/policies.js';

const OUT = path.join('docs', 'screenshots');
const SECTIONS = { training: { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 }, gate: {} };
// The feedback is audited blind (the advisor measures thresholds on blind audits); the example tasks go
// through an "open" policy whose tasks show the model's decision (and so its marked words).
const POLICY = reviewPolicyYaml({ lease_seconds: 600, blind: 'audit' }, SECTIONS, openAiCategories(0.95, ['violence/graphic']));
const OPEN = reviewPolicyYaml({ lease_seconds: 600 }, SECTIONS, openAiCategories(0.95, ['violence/graphic']));

if (browserSkip) {
  process.stderr.write(`docs:screenshots: ${browserSkip}\n`);
  process.exit(2);
}
await fs.mkdir(OUT, { recursive: true });
const app = await startTestApp({ listen: true, policies: policies(parsePolicy('default', POLICY), parsePolicy('open', OPEN)) });
const as = (k: string) => ({ Authorization: `Bearer ${k}` });
const client = await app.key('client');
const moderator = await app.key('moderator');
const texts = [
  { text: 'you people are all the same, get out of this forum', author_id: 'user-481', thread_id: 'thread-77', external_id: 'c-1001' },
  { text: 'thanks, that fixed it for me', author_id: 'user-102', thread_id: 'thread-77', external_id: 'c-1002' },
  { text: 'I will find you and hurt you \u202Ewon uoy truh\u202C', author_id: 'user-481', thread_id: 'thread-77', external_id: 'c-1003' },
];
// Made-up traffic for a training run to learn from: moderators call "I will hurt you …" violence and
// "I will help you …" not (filler words from the tests' texts), reviewed before the example tasks exist.
const feedback = (await makeTexts(240, 1)).map((x) => ({ text: `I will ${x.marked ? 'hurt' : 'help'} you ${x.text.split(' ').slice(-3).join(' ')}`, marked: x.marked }));
const marked = new Map<string, boolean>();
for (let i = 0; i < feedback.length; i += 40) {
  const r = await app.request.post('/v1/moderate').set(as(client)).send({ input: feedback.slice(i, i + 40).map((x) => x.text) });
  r.body.results.forEach((x: { review_task_id: string }, k: number) => marked.set(x.review_task_id, feedback[i + k].marked));
}
for (;;) {
  const c = await app.request.post('/v1/review/claim').set(as(moderator)).send({ limit: 50 });
  if (c.body.data.length === 0) break;
  for (const t of c.body.data as { id: string; policy: { categories: string[] } }[]) {
    const categories = Object.fromEntries(t.policy.categories.map((x) => [x, x === 'violence' && marked.get(t.id) === true]));
    await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set(as(moderator)).send({ categories });
  }
}
const trained = await waitForRun(app, (await app.request.post('/v1/training/runs').set(as(ADMIN_KEY)).send({})).body.id);
process.stderr.write(`docs:screenshots: a training run ${trained.status}\n`);

await app.request.post('/v1/moderate').set(as(client)).send({ input: texts.slice(0, 2), policy: 'open' });
// Settle the first two so the third shows its author's history.
for (let i = 0; i < 2; i++) {
  const c = await app.request.post('/v1/review/claim').set(as(moderator)).send({ limit: 1 });
  const t = c.body.data[0];
  const categories = Object.fromEntries(t.policy.categories.map((x: string) => [x, i === 0 && x === 'harassment']));
  await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set(as(moderator)).send({ categories });
}
await app.request.post('/v1/moderate').set(as(client)).send({ input: [texts[2]], policy: 'open' });

const browser = await launchBrowser();
for (const [name, width, height] of [
  ['desktop', 1280, 1000],
  ['narrow', 390, 844],
] as const) {
  const page = await browser.newPage({ viewport: { width, height } });
  await openReview(page, app.baseUrl, moderator);
  await page.keyboard.press('n');
  await page.locator('#task').waitFor({ state: 'visible' });
  await page.screenshot({ path: path.join(OUT, `review-${name}.png`), fullPage: true });
  if (name === 'desktop') {
    const marks = await page.locator('#content mark').allTextContents();
    process.stderr.write(`docs:screenshots: the task's marked words: ${marks.join(', ') || 'none'}\n`);
    await page.locator('main').screenshot({ path: path.join(OUT, 'review-highlight.png') });
  }
  await page.keyboard.press('r');
  await page.locator('#idle').waitFor({ state: 'visible' });

  const dash = await browser.newPage({ viewport: { width, height } });
  await dash.goto(`${app.baseUrl}/dashboard`);
  await dash.locator('#key').fill(ADMIN_KEY);
  await dash.keyboard.press('Enter');
  await dash.locator('#dashboard').waitFor({ state: 'visible' });
  await dash.waitForFunction(() => /^Updated/.test(document.getElementById('status')?.textContent ?? ''));
  await dash.screenshot({ path: path.join(OUT, `dashboard-${name}.png`), fullPage: true });
  if (name === 'desktop') {
    // The threshold advisor: a target precision for violence, then what that threshold would have changed.
    await dash.selectOption('#advise-category', 'violence');
    await dash.fill('#advise-value', '0.8');
    await dash.click('#advise-form button[type=submit]');
    await dash.waitForFunction(() => (document.getElementById('advise-result')?.textContent ?? '') !== '');
    process.stderr.write(`docs:screenshots: advisor: ${await dash.textContent('#advise-result')}\n`);
    if (await dash.isVisible('#what-if')) {
      await dash.click('#what-if');
      await dash.locator('#what-if-result').waitFor({ state: 'visible' });
    }
    // A section taller than the window is captured scrolled: the sticky page header would be drawn across it.
    // (Through the CSSOM: the pages' Content-Security-Policy refuses inline style sheets.)
    await dash.evaluate(() => document.querySelector('header')?.style.setProperty('position', 'static'));
    await dash.locator('#thresholds').screenshot({ path: path.join(OUT, 'advisor.png') });
  }
  for (const [label, p] of [
    ['review', page],
    ['dashboard', dash],
  ] as const) {
    const wide = await p.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => !e.closest('.scroll') && e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5)
        .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}${e.className && typeof e.className === 'string' ? `.${e.className.split(' ').join('.')}` : ''}`),
    );
    if (wide.length) process.stderr.write(`${label} at ${width} px: wider than the screen: ${wide.join(', ')}\n`);
  }
  await page.close();
  await dash.close();
}
await browser.close();
await app.close();
process.stdout.write(`screenshots in ${OUT}: ${(await fs.readdir(OUT)).sort().join(', ')}\n`);
