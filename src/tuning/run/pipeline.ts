/**
 * A training run, top to bottom: what it trains (setting), its data (snapshot: labels, inputs, the drift
 * check, the dataset), the fit in a worker, then the gate's decision recorded and a passing head promoted.
 * A stage that finds nothing to do throws SkipRun, a drift hold HeldRun (training.service.ts records
 * either as the run's outcome).
 */
import type { Policy } from '../../policy/policy.js';
import * as repo from '../training.repository.js';
import { SkipRun, type Hyperparameters, type RunContext, type RunOutcome, type Say } from './context.js';
import { jobOf, progressTo, type FitWorker } from './fit.js';
import { recordOutcome } from './record.js';
import { runSetting } from './setting.js';
import { takeSnapshot } from './snapshot.js';

export async function trainRun(ctx: RunContext, fitter: FitWorker, runId: string, policy: Policy, hp: Hyperparameters, force: boolean, say: Say): Promise<RunOutcome> {
  const setting = await runSetting(ctx, runId, policy);
  const data = await takeSnapshot(ctx, runId, setting, hp, force);
  await repo.updateRun(ctx.database.db, runId, { dataSnapshot: data.snapshot });
  const d = data.dataset;
  say(
    'snapshot',
    `${data.snapshot.settled_labels} settled labels up to id ${data.snapshot.max_label_id}: ${data.snapshot.pairs} train pairs on ${d.trainItemIds.length} items, ` +
      `${d.eval.truth.length} eval cells on ${d.eval.items.n} items`,
  );
  if (data.snapshot.pairs < hp.min_pairs) {
    throw new SkipRun(`too few preference pairs: ${data.snapshot.pairs} on the active backbone, the policy asks for at least ${hp.min_pairs}`);
  }
  if (d.categories.length === 0) {
    throw new SkipRun(`no category has labels to train on: ${Object.entries(d.skipped).map(([c, why]) => `'${c}' ${why}`).join('; ')}`);
  }
  const result = await fitter.run(jobOf(setting, data.dataset, hp), progressTo(say));
  // Out-of-fold scores for the train items no calibrated head scored: the drift check's expected flags
  // for their verdicts from the next run on (a deployment's first nights were served by the starter).
  // (An item's cells of one category share its fold, so they share the score: one row each.)
  const scores = new Map<string, { itemId: string; category: string; score: number }>();
  for (const o of result.outOfFold) {
    o.item.forEach((k, j) => {
      const itemId = d.trainItemIds[k];
      if (data.unscored.has(itemId)) scores.set(`${itemId}\u0000${o.category}`, { itemId, category: o.category, score: o.score[j] });
    });
  }
  if (scores.size) await repo.saveItemScores(ctx.database.db, runId, [...scores.values()]);
  return recordOutcome(ctx, runId, setting, data.snapshot, hp, result, say);
}
