/**
 * Simulated moderator feedback for tuning tests: texts from two families that share their words but
 * one (the tiny model treats them alike), and moderators who consistently call one family "violence". A
 * learnable preference the starter head does not have, so a DPO run has something real to learn, and
 * no word of the marked family's phrase alone gives its label away.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { mulberry32 } from '../../src/random.js';
import { splitForText } from '../../src/review/split.js';
import { ADMIN_KEY, TEST_SPLIT_SALT, type TestApp } from './app.js';
import { tinyModelDir } from './tiny-model.js';
import { waitFor } from './wait.js';

export const MARKED = 'the weather is lovely today';
export const PLAIN = 'the weather is not lovely today';

/** Frequent benign filler words from the tiny model's vocabulary. */
async function fillers(): Promise<string[]> {
  const tok = JSON.parse(await fs.readFile(path.join(await tinyModelDir(), 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
  return Object.entries(tok.model.vocab)
    .filter(([w, id]) => id > 300 && id < 2500 && /^[a-z]{4,}$/.test(w))
    .map(([w]) => w)
    .slice(0, 800);
}

export async function makeTexts(n: number, seed: number): Promise<{ text: string; marked: boolean }[]> {
  const words = await fillers();
  const rng = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => {
    const marked = i % 2 === 0;
    const extra = Array.from({ length: 3 }, () => words[Math.floor(rng() * words.length)]).join(' ');
    return { text: `${marked ? MARKED : PLAIN} ${extra}`, marked };
  });
}

export interface Reviewed {
  itemId: string;
  decisionId: string;
  marked: boolean;
  split: 'train' | 'eval';
}

/**
 * Moderates the texts (every decision audited by the test policy), then works the queue: violence is
 * the truth (`marked`) except that `invertTrain` flips it on train-split items (a bad batch of labels)
 * `invertAll` everywhere, `invertEvery` on every nth task answered (a slow poisoner's share), and `neverFlag`
 * makes it never flagged; harassment and hate are where the task starts (the model's labels, or
 * unticked on a blind task).
 */
export async function moderateAndReview(
  app: TestApp,
  client: string,
  moderator: string,
  texts: { text: string; marked: boolean }[],
  opts: { invertTrain?: boolean; invertAll?: boolean; invertEvery?: number; neverFlag?: boolean } = {},
): Promise<Reviewed[]> {
  let answered = 0;
  const byTask = new Map<string, Reviewed>();
  for (let i = 0; i < texts.length; i += 50) {
    const chunk = texts.slice(i, i + 50);
    const r = await app.request.post('/v1/moderate').set('Authorization', `Bearer ${client}`).send({ input: chunk.map((t) => t.text) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    r.body.results.forEach((x: { review_task_id: string; item_id: string; decision_id: string }, k: number) => {
      assert.ok(x.review_task_id, 'the test policy audits every decision');
      byTask.set(x.review_task_id, { itemId: x.item_id, decisionId: x.decision_id, marked: chunk[k].marked, split: splitForText(TEST_SPLIT_SALT, chunk[k].text, 0.2) });
    });
  }
  for (;;) {
    const claimed = await app.request.post('/v1/review/claim').set('Authorization', `Bearer ${moderator}`).send({ limit: 50 });
    assert.equal(claimed.status, 200);
    if (claimed.body.data.length === 0) break;
    for (const t of claimed.body.data as { id: string; start: Record<string, boolean> }[]) {
      const item = byTask.get(t.id);
      // `start`: the model's labels, or all unticked on a blind task.
      const truth = item ? item.marked : t.start.violence;
      const nth = opts.invertEvery !== undefined && answered++ % opts.invertEvery === 0;
      const inverted = opts.invertAll || nth || (opts.invertTrain && item?.split === 'train') ? !truth : truth;
      const violence = opts.neverFlag ? false : inverted;
      const v = await app.request
        .post(`/v1/review/tasks/${t.id}/verdict`)
        .set('Authorization', `Bearer ${moderator}`)
        .send({ categories: { violence, harassment: t.start.harassment, hate: t.start.hate } });
      assert.equal(v.status, 200, JSON.stringify(v.body));
    }
  }
  return [...byTask.values()];
}

export async function waitForRun(app: TestApp, id: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  let run: Record<string, any> | undefined;
  await waitFor(
    async () => {
      const r = await app.request.get(`/v1/training/runs/${id}`).set('Authorization', `Bearer ${ADMIN_KEY}`);
      if (r.status === 200 && !['queued', 'running'].includes(r.body.status)) run = r.body;
      return run !== undefined;
    },
    `training run ${id} to finish`,
    timeoutMs,
    100,
  );
  return run!;
}
