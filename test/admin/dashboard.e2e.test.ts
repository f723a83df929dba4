/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The admin dashboard in a real browser: a moderator key is refused with the server's message; an
 * admin key shows the training runs (promoted, rejected, skipped) with gate decisions, the loss and
 * reward-margin curves of the selected run, eval accuracy per head version and the review queue, all
 * as inline SVG. A hostile run error renders as inert text; the page survives a failing endpoint. Held
 * batches are accepted or discarded, and heads rolled back or activated, from the page, with a reason asked inline
 * that the activation history then shows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { browserSkip, expectStrictPage, launchBrowser, watchPage } from '../helpers/browser.js';
import { makeTexts, moderateAndReview, waitForRun } from '../helpers/feedback.js';
import { policies, reviewPolicy } from '../helpers/policies.js';
import { insertHolds, updateRun } from '../../src/tuning/training.repository.js';

const TRAINING = { l2: [1, 0.1], folds: 3, min_pairs: 10, seed: 7 };
const GATE = { max_recall_drop: 0.05 };
const PAYLOAD = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script>';

const xss = () => (window as unknown as { __xss?: number }).__xss;

describe('admin dashboard', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let moderator: string;
  const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
  const runs: Record<'skipped' | 'promoted' | 'rejected', Record<string, any>> = {} as never;
  const dialogs: string[] = [];
  /** Confirmations the page asked for while a test meant to answer them (accepted), kept apart from stray ones. */
  const confirmed: string[] = [];
  let acceptDialogs = false;
  const holdId = crypto.randomUUID();
  const consoleErrors: string[] = [];

  const startRun = async (body: object = {}) => {
    const r = await app.request.post('/v1/training/runs').set(admin).send(body);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return waitForRun(app, r.body.id);
  };

  before(async () => {
    // The drift check would hold step 3's inverted batch before training; this page test wants a gate rejection.
    app = await startTestApp({ listen: true, policies: policies(reviewPolicy('default', {}, { training: TRAINING, gate: GATE, drift: { enabled: false } })) });
    const client = await app.key('client');
    moderator = await app.key('moderator');

    // 1. No pairs yet: skipped. Its error column then carries markup, as a hostile value would.
    runs.skipped = await startRun();
    assert.equal(runs.skipped.status, 'skipped');
    await updateRun(app.database.db, runs.skipped.id, { error: PAYLOAD });

    // 2. Consistent feedback: promoted, with metrics.
    await moderateAndReview(app, client, moderator, await makeTexts(200, 1));
    runs.promoted = await startRun();
    assert.equal(runs.promoted.status, 'promoted', JSON.stringify(runs.promoted.gate));

    // 3. More feedback, then a head kept at the reference (β 100, no recalibration) cannot improve on
    //    the promoted head: the gate says why.
    await moderateAndReview(app, client, moderator, await makeTexts(40, 2), { invertAll: true });
    runs.rejected = await startRun({ hyperparameters: { beta: [100], calibration: 'none', select: false } });
    assert.equal(runs.rejected.status, 'rejected', JSON.stringify(runs.rejected.gate));
    assert.ok(runs.rejected.gate.reasons.length > 0);

    // Open review tasks for the queue chart: three audits, one of them leased.
    const m = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['one more', 'and another', 'a third'] });
    assert.equal(m.status, 200);
    const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 1 });
    assert.equal(claimed.body.data.length, 1);

    // A batch the drift check held, with a hostile reason (the reason names server data).
    await insertHolds(app.database.db, [{ id: holdId, runId: runs.rejected.id, category: 'violence', moderator: null, fromLabelId: 0, toLabelId: 0, labels: 42, reason: PAYLOAD }]);

    browser = await launchBrowser();
    page = await browser.newPage();
    watchPage(page, { dialogs, consoleErrors, confirmed, accept: () => acceptDialogs });
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('the page is served with a strict CSP, no inline script and no inline style', async () => {
    await expectStrictPage(page, `${app.baseUrl}/dashboard`, { styles: true });
    assert.equal(await page.locator('[style], style').count(), 0);
    assert.equal(await page.locator('#login').isVisible(), true);
  });

  test('a moderator key is refused with the server message and the key form stays', async () => {
    await page.locator('#key').fill(moderator);
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /Key refused/.test(document.getElementById('status')?.textContent ?? ''));
    assert.match((await page.locator('#status').textContent()) ?? '', /needs the admin role; this key has the moderator role/);
    assert.equal(await page.locator('#status.error').count(), 1);
    assert.equal(await page.locator('#login').isVisible(), true);
    assert.equal(await page.locator('#dashboard').isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  test('an admin sees the runs, their gate decisions and the four charts; the hostile error is text', async () => {
    await page.locator('#key').fill(ADMIN_KEY);
    await page.keyboard.press('Enter');
    await page.locator('#dashboard').waitFor({ state: 'visible' });
    await page.locator('svg[data-chart=loss] path').first().waitFor();

    const rows = page.locator('#runs-table tbody tr');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-status'))), ['rejected', 'promoted', 'skipped']);
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run-id'))), [runs.rejected.id, runs.promoted.id, runs.skipped.id]);
    const rejectedRow = rows.nth(0);
    assert.match((await rejectedRow.locator('td').first().textContent()) ?? '', /rejected/);
    assert.deepEqual(await rejectedRow.locator('ul.reasons li').allTextContents(), runs.rejected.gate.reasons);
    assert.match((await rows.nth(1).locator('.verdict').textContent()) ?? '', /passed/);
    assert.match((await rows.nth(1).textContent()) ?? '', new RegExp(String(runs.promoted.data_snapshot.pairs)));
    assert.equal(await rows.nth(2).locator('.error-text').textContent(), PAYLOAD);
    assert.equal(await page.locator('#runs-table img, #runs-table script').count(), 0);

    // The default selection is the newest run that trained: the rejected one, with its curves.
    assert.equal(await page.locator('#runs-table tr.selected').getAttribute('data-run-id'), runs.rejected.id);
    assert.ok((await page.locator('svg[data-chart=loss] path.line').count()) >= 1);
    assert.equal(await page.locator('svg[data-chart=margins] path.line').count(), 3);
    const m = runs.rejected.eval_report.measure;
    assert.equal(await page.locator('#n-auprc').textContent(), `${m.candidate.auprc.toFixed(3)} / ${m.active.auprc.toFixed(3)}`);
    assert.equal(await page.locator('#n-accuracy').textContent(), `${(m.candidate.accuracy * 100).toFixed(1)}% / ${(m.active.accuracy * 100).toFixed(1)}%`);
    // The evidence rule's reading, with its interval and the number of items, on the panel and in the runs table.
    const ev = runs.rejected.gate.evidence;
    const evidence = await page.locator('#n-evidence').textContent();
    assert.match(
      evidence ?? '',
      new RegExp(`^${ev.verdict.replace('_', ' ')} AUPRC [+−]\\d\\.\\d{3} \\[[+−]\\d\\.\\d{3}, [+−]\\d\\.\\d{3}\\] accuracy [+−]\\d+\\.\\d \\[[+−]\\d+\\.\\d, [+−]\\d+\\.\\d\\] on ${ev.items} items( \\(\\d+ eval \\+ \\d+ new\\))?, violence \\d+\\+$`),
    );
    assert.match((await rejectedRow.locator('.evidence').textContent()) ?? '', new RegExp(`evidence: ${ev.verdict.replace('_', ' ')}`));
    // The settings the run ran with (its overrides included) and what each category chose.
    const hp = await page.locator('#run-hyperparameters').textContent();
    assert.match(hp ?? '', /^settings.*beta 100 · .*calibration none · /);
    assert.match(hp ?? '', /violencebackbone l2 [\d.]+ ×[\d.]+, lexical l2 [\d.]+ ×[\d.]+; β 100\.000, no search \(\d+ flagged of \d+\)/);

    // Accuracy per head version: a dot for the promoted head and one for the rejected head.
    const promotedDot = page.locator(`svg[data-chart=accuracy] circle.promoted[data-id="${runs.promoted.candidate_head_id}"]`);
    assert.equal(await promotedDot.count(), 1);
    assert.equal(await page.locator(`svg[data-chart=accuracy] circle.rejected[data-id="${runs.rejected.candidate_head_id}"]`).count(), 1);
    assert.deepEqual(await page.locator('#heads-table tbody tr td:first-child').allTextContents(), ['v3', 'v2', 'v1']);
    // Its axis names only the versions measured (v2, v3): no tick at a version that does not exist.
    assert.deepEqual(await page.locator('svg[data-chart=accuracy] text.tick.x').allTextContents(), ['2', '3']);

    // The queue: three open audit tasks, one leased; agreement rows per category.
    const auditBar = page.locator('svg[data-chart=queue] .bar-group').filter({ hasText: 'audit' });
    assert.equal(await auditBar.locator('rect.open').count(), 1);
    assert.equal(await auditBar.locator('text.value').textContent(), '3');
    assert.equal(await auditBar.locator('rect.leased').count(), 1);
    assert.deepEqual(await page.locator('#agreement-table tbody tr td:first-child').allTextContents(), ['harassment', 'hate', 'violence']);

    assert.equal(await page.evaluate(xss), undefined);
  });

  test('select runs with the mouse and the keyboard; a run without metrics says so', async () => {
    const before = await page.locator('svg[data-chart=loss] path.line').getAttribute('d');
    await page.locator(`#runs-table tr[data-run-id="${runs.promoted.id}"] td:nth-child(2)`).click();
    await page.waitForFunction((prev) => document.querySelector('svg[data-chart=loss] path.line')?.getAttribute('d') !== prev, before);
    assert.equal(await page.locator('#runs-table tr.selected').getAttribute('data-run-id'), runs.promoted.id);
    assert.equal(await page.locator('#n-auprc').textContent(), `${runs.promoted.eval_report.measure.candidate.auprc.toFixed(3)} / ${runs.promoted.eval_report.measure.active.auprc.toFixed(3)}`);

    // Focus stays on the clicked row: ↓ moves to the skipped run, Enter selects it.
    await page.locator(`#runs-table tr[data-run-id="${runs.promoted.id}"]`).focus();
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-run-id')), runs.skipped.id);
    await page.keyboard.press('Enter');
    await page.locator('#metrics-empty').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#run-charts').isVisible(), false);
    assert.equal(await page.locator('#metrics-empty').textContent(), `No training metrics for this run. skipped: ${PAYLOAD}`);
    assert.equal(await page.locator('#metrics-empty *').count(), 0);
    assert.equal(await page.evaluate(xss), undefined);
  });

  test('R refreshes; a failing endpoint is reported and the rest of the page keeps working', async () => {
    const client = await app.key('client');
    await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: ['a fourth'] });
    await page.route('**/v1/models', (route) =>
      route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: { code: 'internal', message: 'the registry is down <b>x</b>' } }) }),
    );
    await page.locator('body').focus();
    await page.keyboard.press('r');
    await page.waitForFunction(() => /Could not load/.test(document.getElementById('status')?.textContent ?? ''));
    assert.equal(await page.locator('#status').textContent(), 'Could not load head versions: the registry is down <b>x</b>');
    assert.equal(
      await page.locator('svg[data-chart=queue] .bar-group').filter({ hasText: 'audit' }).locator('text.value').textContent(),
      '4',
      'the queue was refreshed',
    );
    assert.equal(await page.locator('#runs-table tr.selected').getAttribute('data-run-id'), runs.skipped.id, 'the selection survives a refresh');
    assert.equal(await page.locator('#dashboard').isVisible(), true);
    await page.unroute('**/v1/models');

    await page.locator('#refresh').click();
    await page.waitForFunction(() => /^Updated/.test(document.getElementById('status')?.textContent ?? ''));
    assert.equal(await page.locator('svg[data-chart=accuracy] circle.mark.promoted').count(), 1);
  });

  test('a held batch of labels is listed with its reason as text; Discard asks, then decides it for good', async () => {
    const row = page.locator(`#holds-table tr[data-hold-id="${holdId}"]`);
    await row.waitFor();
    assert.match((await row.locator('td').first().textContent()) ?? '', /held/);
    assert.equal(await row.locator('td.reason').textContent(), PAYLOAD);
    assert.match((await row.textContent()) ?? '', /violence.*all moderators.*42/);
    acceptDialogs = true;
    await row.locator('button.discard').click();
    await page.waitForFunction((id) => /discarded/.test(document.querySelector(`#holds-table tr[data-hold-id="${id}"] td`)?.textContent ?? ''), holdId);
    acceptDialogs = false;
    assert.equal(confirmed.length, 1);
    assert.match(confirmed[0], /Discard this batch of labels\? Its labels will never train or evaluate\. This cannot be undone\./);
    assert.equal(await row.locator('button').count(), 0, 'a decided batch has no buttons');
    const api = await app.request.get('/v1/label-holds?status=discarded').set(admin);
    assert.deepEqual(api.body.data.map((h: { id: string }) => h.id), [holdId]);
  });

  test('the activation history says who changed the head and why; Roll back and Activate ask for a reason; a stale rollback is refused', async () => {
    const history = page.locator('#activations-table tbody tr');
    const firstRow = async () => (await history.first().locator('td').allTextContents()).slice(1);
    await history.first().waitFor();
    assert.deepEqual(await firstRow(), ['v1 → v2', 'activation', 'training run passed the gate', `training run ${runs.promoted.id}`]);
    const v2 = runs.promoted.candidate_head_id as string;
    const activeBefore = (await app.request.get('/v1/models').set(admin)).body.data.find((h: { active: boolean }) => h.active);
    assert.equal(activeBefore.id, v2);
    const v1 = activeBefore.parent_id as string;

    // Roll back from the active head (v2): the page asks why, inline, and the reason lands in the history.
    const answer = async (reason: string) => {
      await page.locator('#reason-panel').waitFor({ state: 'visible' });
      const question = (await page.locator('#reason-label').textContent()) ?? '';
      await page.locator('#reason-input').fill(reason);
      await page.keyboard.press('Enter');
      return question;
    };
    const dialogsBefore = dialogs.length;
    // Escape cancels: nothing changes.
    await page.locator(`#heads-table button.rollback[data-head-id="${v2}"]`).click();
    await page.locator('#reason-panel').waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#reason-panel').isHidden(), true);
    assert.equal((await app.request.get('/v1/models').set(admin)).body.data.find((h: { active: boolean }) => h.active).id, v2, 'cancelled: nothing rolled back');
    await page.locator(`#heads-table button.rollback[data-head-id="${v2}"]`).click();
    assert.match(await answer('incident <b>42</b>'), /^Roll back from v2\?/);
    await page.waitForFunction(() => /rollback/.test(document.querySelector('#activations-table tbody tr td:nth-child(3)')?.textContent ?? ''));
    assert.deepEqual((await firstRow()).slice(0, 3), ['v2 → v1', 'rollback', 'incident <b>42</b>']);
    assert.equal(await page.locator(`#heads-table button.rollback[data-head-id="${v1}"]`).count(), 1, 'v1 is active now');
    assert.match((await page.locator(`#runs-table tr[data-run-id="${runs.promoted.id}"] td`).first().textContent()) ?? '', /^promoted rolled back /, 'the promoted run says its head was rolled back');
    const api = (await app.request.get('/v1/models/activations?limit=1').set(admin)).body.data[0];
    assert.deepEqual([api.previous_head_id, api.head_id, api.rollback, api.reason], [v2, v1, true, 'incident <b>42</b>']);

    // Someone else activates the rejected head (v3) meanwhile; this page still offers to roll back from v1.
    assert.equal((await app.request.post('/v1/models/3/activate').set(admin).send({ reason: 'what-if' })).status, 200);
    await page.locator(`#heads-table button.rollback[data-head-id="${v1}"]`).click();
    await answer('');
    await page.waitForFunction(() => /Could not roll back/.test(document.getElementById('status')?.textContent ?? ''));
    assert.match((await page.locator('#status').textContent()) ?? '', /nothing was rolled back/);
    const active = (await app.request.get('/v1/models').set(admin)).body.data.find((h: { active: boolean }) => h.active);
    assert.equal(active.version, 3, 'the stale rollback changed nothing');

    // Activate v2 from its row, with no reason given: the API's default reason is recorded.
    await page.locator('#refresh').click();
    await page.waitForFunction(() => /^Updated/.test(document.getElementById('status')?.textContent ?? ''));
    await page.locator(`#heads-table button.activate[data-head-id="${v2}"]`).click();
    assert.match(await answer(''), /^Activate v2 \(retired\)\? It serves all traffic at once\. Why\?$/);
    await page.waitForFunction(() => /^Activated/.test(document.getElementById('status')?.textContent ?? ''));
    assert.deepEqual((await firstRow()).slice(0, 3), ['v3 → v2', 'activation', 'manual activation']);
    assert.equal(dialogs.length, dialogsBefore, 'no browser dialog');
    assert.equal(await page.locator('#activations-table b').count(), 0, 'a reason is text');
  });

  test('at 390 px (a phone) only the tables scroll, inside their boxes', async () => {
    const narrow = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await narrow.goto(`${app.baseUrl}/dashboard`);
    await narrow.locator('#key').fill(ADMIN_KEY);
    await narrow.keyboard.press('Enter');
    await narrow.waitForFunction(() => /^Updated/.test(document.getElementById('status')?.textContent ?? ''));
    await narrow.locator('svg[data-chart=loss] path').first().waitFor();
    const wide = await narrow.evaluate(() =>
      [...document.querySelectorAll('body *')]
        .filter((e) => e.getBoundingClientRect().right > 391 && !e.closest('.table-scroll, .scroll, table'))
        .map((e) => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
        .slice(0, 8),
    );
    assert.equal(await narrow.evaluate(() => document.documentElement.scrollWidth), 390, wide.join('; '));
    // The runs are cards: the gate and the AUPRC of each run are on the screen, named, without scrolling sideways.
    const first = narrow.locator('#runs-table tbody tr').first();
    for (const label of ['Gate', 'Eval AUPRC (candidate / active)']) {
      const td = first.locator(`td[data-label="${label}"]`);
      const box = (await td.boundingBox())!;
      assert.ok(box.x >= 0 && box.x + box.width <= 390, `${label} at ${box.x}..${box.x + box.width}`);
    }
    assert.equal(await narrow.locator('#runs-table thead').isVisible(), false);
    // The header does not stay over the content when the page scrolls.
    assert.equal(await narrow.evaluate(() => getComputedStyle(document.querySelector('header')!).position), 'static');
    await narrow.close();
  });

  test('sign out forgets the key; a bad key is refused with the 401 message', async () => {
    await page.locator('#signout').click();
    assert.equal(await page.locator('#login').isVisible(), true);
    assert.equal(await page.locator('#dashboard').isVisible(), false);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    await page.locator('#key').fill('mt_not_a_real_key');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /Key refused/.test(document.getElementById('status')?.textContent ?? ''));
    assert.match((await page.locator('#status').textContent()) ?? '', /API key not recognised/);
    assert.equal(await page.locator('#login').isVisible(), true);

    assert.equal(await page.evaluate(xss), undefined);
    assert.deepEqual(dialogs, []);
    // The browser logs each refused or failed fetch as a console error; nothing else may appear.
    assert.deepEqual(consoleErrors.filter((e) => !/Failed to load resource: the server responded with a status of (401|403|409|500)/.test(e)), []);
  });
});
