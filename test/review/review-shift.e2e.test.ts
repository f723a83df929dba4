/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * A scripted shift, on the keyboard only: a moderator works through 200 tasks of mixed reasons (audits,
 * flagged, uncertain and block confirmations under a 13-category policy, and appeals that arrive during
 * the shift), with a lease lost to another moderator on the way and one verdict taken back and given
 * again. For every task the script decides the verdict from the text alone and presses only category
 * keys; afterwards the database must hold exactly that verdict, category by category, for every task.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { parsePolicy } from '../../src/policy/loader.js';
import { mulberry32 } from '../../src/random.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { browserSkip, CATEGORY_KEYS, launchBrowser, openReview } from '../helpers/browser.js';
import { countRows, heldTaskId, leaseTo } from '../helpers/factories.js';
import { openAiCategories, policies, reviewPolicyYaml } from '../helpers/policies.js';
import { TINY_MODEL_TEXTS } from '../helpers/tiny-model.js';

const SHIFT = 200;
const POLICY = reviewPolicyYaml(
  { audit_rate: 0.4, uncertainty_margin: 0.2, confirm_block_rate: 0.3, queue_flagged: true, lease_seconds: 600 },
  {},
  openAiCategories(0.8),
);

/** The verdict the script gives a text: a fixed function of the text, so the database can be checked. */
function desired(text: string): Record<string, boolean> {
  return Object.fromEntries(OPENAI_CATEGORIES.map((c) => [c, createHash('sha256').update(`${c}\u0000${text}`).digest()[0] % 4 === 0]));
}

describe('a scripted shift of 200 tasks on the keyboard', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let client: string;
  let moderator: string;
  let moderatorId: string;
  const as = (k: string) => ({ Authorization: `Bearer ${k}` });

  before(async () => {
    // A seeded draw, so the routing mixes audits and block confirmations in (the test default never draws them).
    app = await startTestApp({ listen: true, policies: policies(parsePolicy('default', POLICY)), random: mulberry32(7) });
    client = await app.key('client');
    moderator = await app.key('moderator');
    moderatorId = (await app.request.get('/v1/me').set(as(moderator))).body.key_id;
    // Enough traffic for 190 tasks; the appeals during the shift add more.
    for (let batch = 0; ; batch++) {
      const input = Array.from({ length: 32 }, (_, i) => `${TINY_MODEL_TEXTS[(batch * 32 + i) % TINY_MODEL_TEXTS.length]} (${batch}.${i})`);
      assert.equal((await app.request.post('/v1/moderate').set(as(client)).send({ input })).status, 200);
      if ((await countRows(app.database.db, 'review_tasks')) >= 190) break;
    }
    browser = await launchBrowser();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  const current = () => page.locator('#content').textContent().then((t) => t ?? '');
  const heldTask = () => heldTaskId(app.database.db, moderatorId);

  /** Presses the keys that turn the shown checkboxes into `want` (only those that differ). */
  async function setVerdict(want: Record<string, boolean>): Promise<void> {
    const boxes = await page.locator('#categories input').evaluateAll((bs) => bs.map((b) => [(b as HTMLInputElement).value, (b as HTMLInputElement).checked] as const));
    assert.deepEqual(boxes.map(([c]) => c), [...OPENAI_CATEGORIES], 'categories in the policy’s order');
    for (const [i, [c, checked]] of boxes.entries()) if (checked !== want[c]) await page.keyboard.press(CATEGORY_KEYS[i]);
  }

  async function next(prevText: string): Promise<void> {
    await page.waitForFunction(
      (prev) => document.getElementById('content')?.textContent !== prev || !document.getElementById('idle')!.hidden,
      prevText,
    );
  }

  test('200 verdicts, appeals, a lost lease and an undo: every verdict in the database is the one keyed in', async (t) => {
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });

    const reasons = new Map<string, number>();
    let verdicts = 0;
    let appealed = false;
    let lostLease = false;
    let undone = false;
    for (let guard = 0; verdicts < SHIFT && guard < SHIFT * 2; guard++) {
      if (await page.locator('#idle').isVisible()) {
        await page.keyboard.press('n');
        await page.locator('#task').or(page.locator('#idle-message', { hasText: 'empty' })).first().waitFor();
        if (!(await page.locator('#task').isVisible())) break;
      }
      const text = await current();
      const reason = (await page.locator('#reason').textContent()) ?? '?';
      // An appeal's text is the appealed item's: its verdict is a function of the text like any other.
      const want = desired(text);

      if (verdicts === 60 && !appealed) {
        // The platform appeals fifteen decisions moderators already settled: appeals jump the queue.
        const settled = await app.database.db.selectFrom('review_tasks').select('decision_id').where('status', '=', 'done').where('reason', '!=', 'appeal').limit(15).execute();
        for (const s of settled) assert.equal((await app.request.post(`/v1/decisions/${s.decision_id}/appeal`).set(as(client)).send({ reason: 'please look again' })).status, 201);
        appealed = true;
      }
      if (verdicts === 100 && !lostLease) {
        // The lease ran out while the moderator looked, and another moderator took the task.
        const id = await heldTask();
        const other = (await app.request.get('/v1/me').set(as(await app.key('moderator')))).body.key_id;
        await leaseTo(app.database.db, id!, other);
        await setVerdict(want);
        await page.keyboard.press('s');
        await page.locator('#idle').waitFor({ state: 'visible' });
        assert.match((await page.locator('#idle-message').textContent()) ?? '', /no longer yours|leased to another moderator/);
        lostLease = true;
        continue;
      }

      await setVerdict(want);
      await page.keyboard.press('s');
      await next(text);
      verdicts++;
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);

      if (verdicts === 150 && !undone) {
        // A wrong key noticed too late: take the verdict back, fix it, give it again.
        await page.keyboard.press('u');
        await page.waitForFunction(() => /Verdict taken back/.test(document.getElementById('status')?.textContent ?? ''));
        assert.equal(await current(), text, 'the same task came back');
        await setVerdict(want);
        await page.keyboard.press('s');
        await next(text);
        undone = true;
      }
    }
    assert.equal(verdicts, SHIFT, `${verdicts} verdicts given`);
    assert.ok(appealed && lostLease && undone);
    for (const r of ['audit', 'appeal', 'flagged', 'uncertain', 'confirm']) assert.ok((reasons.get(r) ?? 0) > 0, `the shift saw ${r} tasks: ${JSON.stringify([...reasons])}`);

    // The database: every verdict this moderator gave is exactly the one keyed in, category by category.
    const rows = await app.database.db
      .selectFrom('reviews as r')
      .innerJoin('content_items as i', 'i.id', 'r.item_id')
      .select(['r.labels', 'i.text'])
      .where('r.moderator_key_id', '=', moderatorId)
      .execute();
    assert.equal(rows.length, SHIFT, 'one review per verdict (the undone one replaced, the lost one never stored)');
    let wrong = 0;
    for (const r of rows) {
      const want = desired(r.text!);
      for (const c of OPENAI_CATEGORIES) if (r.labels[c] !== want[c]) wrong++;
    }
    assert.equal(wrong, 0, 'verdicts on the wrong category');
    t.diagnostic(`${SHIFT} verdicts by keyboard (${[...reasons].map(([k, v]) => `${v} ${k}`).join(', ')}), 1 lost lease, 1 undo: 0 wrong categories`);
  });
});
