/// <reference lib="dom" />
/**
 * The first screen of a laptop (1280 × 800): a task with all 13 categories, a context and the author's
 * history still shows the submit button without scrolling; `?` brings the help into view.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { parsePolicy } from '../../src/policy/loader.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { browserSkip, launchBrowser, openReview } from '../helpers/browser.js';
import { openAiCategories, policies, reviewPolicyYaml } from '../helpers/policies.js';

describe('review page at 1280 × 800', { skip: browserSkip }, () => {
  let app: TestApp;
  let browser: Browser;
  let moderator: string;
  before(async () => {
    app = await startTestApp({ listen: true, policies: policies(parsePolicy('default', reviewPolicyYaml({}, {}, openAiCategories()))) });
    const client = await app.key('client');
    moderator = await app.key('moderator');
    // The author's earlier items, reviewed; then the task under test, with a long context.
    await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: Array.from({ length: 6 }, (_, i) => ({ text: `earlier message ${i} from this author, of some length to fill a line or two`, author_id: 'u-5' })) });
    for (;;) {
      const c = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
      if (c.body.data.length === 0) break;
      for (const t of c.body.data as { id: string; start: Record<string, boolean> }[]) await app.request.post(`/v1/review/tasks/${t.id}/verdict`).set('Authorization', `Bearer ${moderator}`).send({ categories: t.start });
    }
    await app.request
      .post('/v1/moderate')
      .set('Authorization', `Bearer ${client}`)
      .send({ input: [{ text: 'the message under review, long enough to take a few lines of the screen '.repeat(4), context: 'the post it replies to, which is long too '.repeat(8), author_id: 'u-5' }] });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  test('the submit button is on the first screen; ? shows the help where it can be seen', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await openReview(page, app.baseUrl, moderator);
    await page.keyboard.press('n');
    await page.locator('#task').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#categories tbody tr').count(), 13);
    assert.equal(await page.locator('#history li').count(), 6);
    assert.equal(await page.isVisible('#context-block'), true);
    const box = (await page.locator('#submit').boundingBox())!;
    assert.ok(box.y + box.height <= 800, `the submit button ends at ${box.y + box.height} px, below the 800 px screen`);
    assert.equal(await page.evaluate(() => window.scrollY), 0, 'without scrolling');
    // ? hides the help, ? again shows it in view.
    await page.keyboard.press('?');
    await page.keyboard.press('?');
    const help = (await page.locator('#help').boundingBox())!;
    const scrolled = await page.evaluate(() => window.scrollY);
    assert.ok(help.y < 800 && help.y + help.height > 0, `help at ${help.y} (scrolled ${scrolled})`);
    await page.close();
  });
});
