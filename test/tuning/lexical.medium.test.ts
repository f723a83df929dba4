/**
 * The lexical part sees every word: a made-up word that moderators flag in 30 texts scores higher in
 * new texts after one run, while another made-up word (in texts they cleared) does not, on the starter
 * model (whose word-level vocabulary maps both words to one [UNK]) and on an imported BERT-style
 * classifier. Through the API, as an operator would: moderate, review, train, moderate again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { importModel } from '../../src/models/import/importer.js';
import { registerBackbone } from '../../src/models/model.service.js';
import { mulberry32 } from '../../src/random.js';
import { ADMIN_KEY, startTestApp, type TestApp } from '../helpers/app.js';
import { quietLogger, testDatabases } from '../helpers/db.js';
import { waitForRun } from '../helpers/feedback.js';
import { fixtureModelDir } from '../helpers/fixture-models.js';
import { policies, reviewPolicy } from '../helpers/policies.js';
import { TINY_MODEL_TEXTS } from '../helpers/tiny-model.js';

const FLAGGED = 'zorblax';
const CLEARED = 'quimberton';

/** Ordinary sentences the tiny model knows, with the made-up words placed in some of them. */
function texts(seed: number): { text: string; violence: boolean }[] {
  const rng = mulberry32(seed);
  const base = [...TINY_MODEL_TEXTS];
  const pick = () => base[Math.floor(rng() * base.length)];
  const out: { text: string; violence: boolean }[] = [];
  for (let i = 0; i < 30; i++) out.push({ text: `${pick()}, ${FLAGGED} ${i}`, violence: true });
  for (let i = 0; i < 30; i++) out.push({ text: `${pick()}, ${CLEARED} ${i}`, violence: false });
  for (let i = 0; i < 90; i++) out.push({ text: `${pick()} (${i})`, violence: false });
  return out;
}

async function review(app: TestApp, client: string, moderator: string, items: { text: string; violence: boolean }[]): Promise<void> {
  const byTask = new Map<string, boolean>();
  for (let i = 0; i < items.length; i += 50) {
    const r = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: items.slice(i, i + 50).map((x) => x.text) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    r.body.results.forEach((x: { review_task_id: string }, k: number) => byTask.set(x.review_task_id, items[i + k].violence));
  }
  for (;;) {
    const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
    if (claimed.body.data.length === 0) break;
    for (const t of claimed.body.data as { id: string }[]) {
      const v = await app.request
        .post(`/v1/review/tasks/${t.id}/verdict`)
        .set('Authorization', `Bearer ${moderator}`)
        .send({ categories: { violence: byTask.get(t.id) ?? false, harassment: false, hate: false } });
      assert.equal(v.status, 200, JSON.stringify(v.body));
    }
  }
}

const PROBE = (word: string) => `we met a ${word} near the house`;

for (const kind of testDatabases()) {
  for (const backbone of ['starter', 'bert'] as const) {
    describe(`the lexical part learns a new word (${backbone}, ${kind.name})`, { skip: kind.skip }, () => {
      let app: TestApp;
      let dir: string;
      let client: string;
      let moderator: string;
      const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
      const violenceOf = async (text: string) =>
        (await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: text })).body.results[0].category_scores.violence as number;

      before(async () => {
        dir = await fs.mkdtemp(path.join(os.tmpdir(), 'modtune-lexical-'));
        const labels: Record<string, string | null> = backbone === 'bert' ? { toxic: 'harassment', severe_toxic: null, insult: null, threat: 'violence', identity_hate: 'hate', obscene: null } : {};
        app = await startTestApp({
          db: kind,
          policies: policies(reviewPolicy('default', {}, { training: { min_pairs: 10, l2: [3, 1, 0.3, 0.1], folds: 3 }, labels })),
        });
        client = await app.key('client');
        moderator = await app.key('moderator');
        if (backbone === 'bert') {
          const imported = await importModel({ sourceDir: await fixtureModelDir('bert', { seed: 11 }), outDir: path.join(dir, 'bert'), labelMap: labels, logger: quietLogger() });
          const { head } = await app.database.db.transaction().execute((trx) => registerBackbone(trx, imported.model, 'import', 'bert'));
          const res = await app.request.post(`/v1/models/${head.id}/activate`).set(admin).send({ reason: 'test: an imported classifier' });
          assert.equal(res.status, 200, JSON.stringify(res.body));
        }
      });
      after(async () => {
        await app?.close();
        await fs.rm(dir, { recursive: true, force: true });
      });

      test(`"${FLAGGED}", flagged by moderators in 30 texts, scores higher after one run; "${CLEARED}", cleared in 30, does not`, async () => {
        const before = { flagged: await violenceOf(PROBE(FLAGGED)), cleared: await violenceOf(PROBE(CLEARED)) };
        if (backbone === 'starter') assert.equal(before.flagged, before.cleared, 'the starter’s vocabulary has neither word: both are [UNK]');
        await review(app, client, moderator, texts(backbone === 'bert' ? 2 : 1));
        const run = await waitForRun(app, (await app.request.post('/v1/training/runs').set(admin).send({})).body.id);
        assert.equal(run.status, 'promoted', `${run.status}: ${run.error ?? run.gate?.reasons.join('; ')}`);
        const after = { flagged: await violenceOf(PROBE(FLAGGED)), cleared: await violenceOf(PROBE(CLEARED)) };
        assert.ok(after.flagged > before.flagged + 0.2, `${FLAGGED}: ${before.flagged} → ${after.flagged}`);
        assert.ok(after.flagged > 0.5, `${FLAGGED} is flagged now: ${after.flagged}`);
        assert.ok(after.cleared <= before.cleared + 0.02, `${CLEARED}: ${before.cleared} → ${after.cleared}`);
        assert.ok(after.cleared < 0.5);
        // The word, not the sentence it came in: a new sentence with it, and one with neither word.
        assert.ok((await violenceOf(`is the ${FLAGGED} still here?`)) > (await violenceOf('is the cat still here?')) + 0.2);
      });
    });
  }
}
