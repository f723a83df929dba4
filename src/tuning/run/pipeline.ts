/**
 * A training run, top to bottom: what it trains (setting), its data (snapshot: labels, inputs, the drift
 * check, the dataset), the fit in a worker, then the gate's decision recorded and a passing head promoted.
 * A stage that finds nothing to do throws SkipRun, a drift hold HeldRun (training.service.ts records
 * either as the run's outcome).
 */
import type { Policy } from '../../policy/policy.js';
import * as repo from '../training.repository.js';
import { SkipRun, type Hyperparameters, type RunContext, type RunOutcome, type Say } from './context.js';
import { keepItemScores } from './drift-check.js';
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
  await keepItemScores(ctx, runId, d.trainItemIds, result.outOfFold, data.unscored);
  return recordOutcome(ctx, runId, setting, data.snapshot, hp, result, data.snapshot.drift?.near ?? [], say);
}
