/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * Hostile content everywhere a page shows stored strings: a catalogue of XSS payloads in moderated
 * text, context, external / author ids and the thread history built from them, moderators' comments, appeal reasons and
 * moderator notes (an appeal shows the earlier verdicts' notes) on the
 * review page, and in run errors, gate text and backbone names on the dashboard. Every payload must show
 * as the exact text and execute nothing. Policy names cannot carry markup: the loader accepts only
 * [a-z0-9_-] names (test/policy), and the page shows them as text anyway.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { updateRun } from '../../src/tuning/training.repository.js';
import { browserSkip, launchBrowser, openReview, watchPage } from '../helpers/browser.js';
import { createBackbone, createHead } from '../helpers/factories.js';
import { waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';

const MARK = 'window.__xss=(window.__xss||0)+1';
export const PAYLOADS = [
  `<script>${MARK}</script>`,
  `<img src=x onerror="${MARK}">`,
  `<svg onload="${MARK}"></svg>`,
  `<svg><script>${MARK}</script></svg>`,
  `<iframe srcdoc="<script>parent.${MARK}</script>"></iframe>`,
  `<a href="javascript:${MARK}">click</a>`,
  `"><img src=x onerror=${MARK}>`,
  `'><script>${MARK}</script>`,
  `</textarea><script>${MARK}</script>`,
  `</pre><img src=x onerror=${MARK}>`,
  `<details open ontoggle="${MARK}">`,
  `<body onload="${MARK}">`,
  `<input autofocus onfocus="${MARK}">`,
  `<math><mtext><table><mglyph><style><img src=x onerror=${MARK}>`,
  `<object data="javascript:${MARK}"></object>`,
  `<style>@import 'javascript:${MARK}';</style>`,
  `{{constructor.constructor('${MARK}')()}}`,
  `\${${MARK}}`,
  `&lt;script&gt;${MARK}&lt;/script&gt;`,
  `<scr<script>ipt>${MARK}</scr</script>ipt>`,
  `\u202e<img src=x onerror=${MARK}>\u200b`,
];

describe('XSS catalogue', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  const dialogs: string[] = [];
  const executed = () => page.evaluate(() => (window as unknown as { __xss?: number }).__xss);

  before(async () => {
    app = await startTestApp({ listen: true, policies: policies(reviewPolicy('default')), env: { RATE_LIMIT_PER_SECOND: '0' } });
    browser = await launchBrowser();
    page = await browser.newPage();
    watchPage(page, { dialogs });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('review page: every payload in text, context, appeal reason and notes shows as text; nothing runs', async (t) => {
    const client = await app.key('client');
    const moderator = await app.key('moderator');
    // A decision reviewed by another moderator with every payload in the notes, then appealed with a
    // payload as the reason: the appeal's reviewer sees both.
    const notes = PAYLOADS.join('\n');
    const appealed = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: 'have a nice day' });
    const firstReviewer = await app.key('moderator');
    const first = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${firstReviewer}`).send({ limit: 1 });
    assert.equal(first.body.data[0]?.decision.id, appealed.body.results[0].decision_id, 'the first reviewer got the decision to appeal');
    const v = await app.request
      .post(`/v1/review/tasks/${first.body.data[0].id}/verdict`)
      .set('Authorization', `Bearer ${firstReviewer}`)
      .send({ categories: { violence: false, harassment: false, hate: false }, notes });
    assert.equal(v.status, 200, JSON.stringify(v.body));
    const ap = await app.request.post(`/v1/decisions/${appealed.body.results[0].decision_id}/appeal`).set('Authorization', `Bearer ${client}`).send({ reason: PAYLOADS[1] });
    assert.equal(ap.status, 201);
    // One item per payload: the payload as the text, its reverse as the context, and as the item's
    // external and author ids; all in one thread, so each later task lists the earlier payloads.
    const m = await app.request
      .post('/v1/moderate')
      .set('Authorization', `Bearer ${client}`)
      .send({ input: PAYLOADS.map((p) => ({ text: p, context: [...p].reverse().join(''), external_id: p, author_id: p, thread_id: 'xss-thread' })) });
    assert.equal(m.status, 200);
    // A moderator's comment carrying every payload, on the first item: every task in its thread shows it.
    const comment = PAYLOADS.join('\n');
    const c = await app.request.post(`/v1/review/tasks/${m.body.results[0].review_task_id}/comments`).set('Authorization', `Bearer ${firstReviewer}`).send({ comment });
    assert.equal(c.status, 201, JSON.stringify(c.body));

    await openReview(page, app.baseUrl, moderator);
    const seen = new Set<string>();
    let sawNotes = false;
    for (let i = 0; i < PAYLOADS.length + 2; i++) {
      await page.keyboard.press('n');
      await page.locator('#task').waitFor({ state: 'visible' });
      const text = (await page.locator('#content').textContent()) ?? '';
      if ((await page.locator('#reason').textContent()) === 'appeal') {
        assert.equal(await page.locator('#appeal').textContent(), `Appeal: ${PAYLOADS[1]}`);
        assert.equal(await page.locator('#earlier li').count(), 1);
        assert.equal(await page.locator('#earlier q').textContent(), notes);
        sawNotes = true;
      } else if (PAYLOADS.includes(text)) {
        seen.add(text);
        assert.equal(await page.locator('#context').textContent(), [...text].reverse().join(''));
        assert.equal(await page.locator('#subject').textContent(), `post ${text} · author ${text} · thread xss-thread`);
        const earlier = PAYLOADS.indexOf(text);
        assert.equal(await page.locator('#history li').count(), earlier, 'the thread’s earlier payloads are listed');
        if (earlier > 0) assert.equal(await page.locator('#history q').first().textContent(), PAYLOADS[earlier - 1]);
        assert.equal(await page.locator('#comments q').textContent(), comment, 'the comment shows as text');
      }
      // Nothing but text inside the content boxes, the subject line and the history.
      assert.equal(
        await page.locator('#content *, #context *, #appeal *, #earlier q *, #why *, #subject *, #history q *, #history .history-meta *, #comments q *, #comments .history-meta *').count(),
        0,
        `elements injected for ${JSON.stringify(text)}`,
      );
      assert.equal(await executed(), undefined, `executed: ${JSON.stringify(text)}`);
      await page.keyboard.press('Control+Enter');
      await page.waitForFunction((prev) => document.getElementById('content')?.textContent !== prev || !document.getElementById('idle')!.hidden, text);
      if (!(await page.locator('#idle').isHidden())) break;
    }
    assert.equal(seen.size, PAYLOADS.length, `saw ${seen.size} of ${PAYLOADS.length} payloads`);
    assert.ok(sawNotes, 'the appeal, with the earlier notes, was shown');
    assert.deepEqual(dialogs, []);
    t.diagnostic(`${PAYLOADS.length} payloads in text, context and notes, 1 in an appeal reason: 0 executed`);
  });

  test('dashboard: payloads in run errors, gate reasons, drift slices and backbone names show as text', async () => {
    const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await app.request.post('/v1/training/runs').set(admin).send({});
      assert.equal(r.status, 202);
      ids.push(r.body.id);
      await waitForRun(app, r.body.id);
    }
    for (let i = 0; i < ids.length; i++) {
      await updateRun(app.database.db, ids[i], {
        error: PAYLOADS[i],
        gate: {
          passed: false,
          checks: [{ check: PAYLOADS[i + 4], passed: false, detail: PAYLOADS[i + 8] }],
          reasons: [PAYLOADS[i + 8]],
          // A drift row's sentence names a word or an author the platform sent: text too.
          drift_near: [{ reason: PAYLOADS[i + 14] }],
        },
      });
    }
    // A backbone named by a hostile operator, with a head that has an accuracy to chart.
    const bb = await createBackbone(app.database.db, { name: PAYLOADS[12], sha256: 'x'.repeat(64), path: '/nowhere', labels: ['violence'] });
    await createHead(app.database.db, bb, { status: 'rejected', source: PAYLOADS[13], metrics: { eval_accuracy: 0.5 } });

    const dash = await browser.newPage();
    dash.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await dash.goto(`${app.baseUrl}/dashboard`);
    await dash.locator('input[type=password]').fill(ADMIN_KEY);
    await dash.keyboard.press('Enter');
    await dash.waitForFunction(() => /Updated/.test(document.body.textContent ?? ''));
    // Every section drawn (the payloads in them as text): then nothing injected can still be waiting to run.
    const shown = [PAYLOADS[0], PAYLOADS[8], PAYLOADS[12], PAYLOADS[13], PAYLOADS[14]];
    await dash.waitForFunction((ps) => ps.every((p) => (document.body.textContent ?? '').includes(p)), shown).catch(() => undefined);
    const body = (await dash.locator('body').textContent()) ?? '';
    for (const p of shown) assert.ok(body.includes(p), `not shown as text: ${p}`);
    const injected = await dash.evaluate(() => document.querySelectorAll('body script:not([src]), body img[src="x"], body iframe, body object, body svg[onload], details[ontoggle], input[onfocus]').length);
    assert.equal(injected, 0);
    assert.equal(await dash.evaluate(() => (window as unknown as { __xss?: number }).__xss), undefined);
    assert.deepEqual(dialogs, []);
    await dash.close();
  });
});
