/** The official OpenAI SDK (v6), pointed at modtune, must work unchanged. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { OPENAI_CATEGORIES } from '../../src/policy/categories.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { testDatabases } from '../helpers/db.js';

for (const kind of testDatabases()) {
  describe(`OpenAI SDK round trip (${kind.name})`, { skip: kind.skip }, () => {
    let app: TestApp;
    let openai: OpenAI;
    before(async () => {
      app = await startTestApp({ db: kind, listen: true });
      openai = new OpenAI({ apiKey: await app.key('client'), baseURL: `${app.baseUrl}/v1`, maxRetries: 0 });
    });
    after(async () => {
      await app?.close();
    });

    test('moderations.create with a string and with strings', async () => {
      const one = await openai.moderations.create({ model: 'omni-moderation-latest', input: 'I will find you and kill you' });
      assert.match(one.id, /^modr-/);
      assert.match(one.model, /^modtune\//);
      assert.equal(one.results.length, 1);
      const r = one.results[0];
      assert.deepEqual(Object.keys(r.categories).sort(), [...OPENAI_CATEGORIES].sort());
      assert.deepEqual(Object.keys(r.category_scores).sort(), [...OPENAI_CATEGORIES].sort());
      assert.deepEqual(r.category_applied_input_types.violence, ['text']);
      assert.equal(r.flagged, true);
      assert.equal(r.categories.violence, true);
      // The extension the SDK keeps: enough to act on the decision.
      const ext = (r as unknown as { modtune: { decision_id: string; item_id: string; action: string; review_task_id: string | null } }).modtune;
      assert.match(ext.decision_id, /^[0-9a-f-]{36}$/);
      assert.ok(['allow', 'review', 'block'].includes(ext.action));
      const decision = await fetch(`${app.baseUrl}/v1/decisions/${ext.decision_id}`, { headers: { Authorization: `Bearer ${openai.apiKey}` } });
      assert.equal(decision.status, 200);
      const stored = (await decision.json()) as { action: string; item_id: string };
      assert.deepEqual([stored.action, stored.item_id], [ext.action, ext.item_id]);
      if (ext.action === 'review') assert.match(String(ext.review_task_id), /^[0-9a-f-]{36}$/);

      const many = await openai.moderations.create({ input: ['have a nice day', 'thanks for the help, see you tomorrow'] });
      assert.equal(many.results.length, 2);
      assert.ok(many.results.every((x) => x.flagged === false));
    });

    test('SDK errors carry our status and message', async () => {
      const bad = new OpenAI({ apiKey: 'mt_wrong', baseURL: `${app.baseUrl}/v1`, maxRetries: 0 });
      await assert.rejects(bad.moderations.create({ input: 'hi' }), (err: InstanceType<typeof OpenAI.APIError>) => {
        assert.equal(err.status, 401);
        assert.match(err.message, /API key not recognised/);
        return true;
      });
    });
  });
}
