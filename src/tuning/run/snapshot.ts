/**
 * Stage 2 of a run: its data. Every label settled up to now (none new since the last run: skipped, unless
 * forced), each labelled item's inputs on this backbone, the drift check on the labels since the last
 * checked run, and the dataset without held batches; with the snapshot the run records.
 */
import { trustedKeyIds } from '../../auth/api-key.repository.js';
import * as reviews from '../../review/settled-labels.repository.js';
import { buildDataset, type SettledCell } from '../math/dataset.js';
import { inHold } from '../math/drift.js';
import * as repo from '../training.repository.js';
import { SkipRun, type Hyperparameters, type RunContext, type RunSetting } from './context.js';
import { driftCheck } from './drift-check.js';
import { itemInputs } from './inputs.js';

/**
 * The run's data: every label settled up to now, as a dataset on this backbone. No new label since the
 * last run means the same data and (training being deterministic) the same candidate: skip, unless
 * asked to retry.
 */
export async function takeSnapshot(ctx: RunContext, runId: string, setting: RunSetting, hp: Hyperparameters, force: boolean) {
  const { policy, active, backbone, reference, binding } = setting;
  const maxLabelId = await reviews.labelSnapshot(ctx.database.db);
  const last = await repo.lastTrainedSnapshot(ctx.database.db, backbone.id);
  if (!force && last && maxLabelId <= last.maxLabelId) {
    throw new SkipRun(
      `no new settled labels since training run ${last.id} (highest label id ${last.maxLabelId}); ` +
        'force a run to train on the same data with other hyperparameters (npm run train -- --force, or {"force": true} in POST /v1/training/runs)',
    );
  }
  const settled: SettledCell[] = (await reviews.settledLabels(ctx.database.db, { maxId: maxLabelId }))
    .filter((r) => r.category in policy.rules)
    .map((r) => ({
      id: Number(r.id),
      itemId: r.item_id,
      taskId: r.task_id,
      decisionId: r.decision_id,
      category: r.category,
      label: r.label,
      modelLabel: r.model_label,
      split: r.split,
      reason: r.reason,
      inclusion: r.inclusion_probability,
      reviewers: r.reviewers,
      blind: r.blind,
      votesYes: r.votes_yes,
      votesTotal: r.votes_total,
    }));
  // Token ids only where a head reads them (an imported lexical part); n-grams come from the text.
  const needTokens = active.lexical !== null || reference.lexical !== null;
  const inputs = await itemInputs(ctx, backbone.id, reference.dim, settled, needTokens);
  // Held and discarded batches stay out of training and evaluation; a new bad batch is held here.
  const holds = await repo.listHolds(ctx.database.db);
  const ranges = (h: (typeof holds)[number]) => ({ category: h.category, moderator: h.moderator_key_id, fromLabelId: h.from_label_id, toLabelId: h.to_label_id });
  const excluded = holds.filter((h) => h.status !== 'accepted').map(ranges);
  // The batch: labels since the last run the check looked at (all of them on a deployment's first run).
  // The cumulative window: the batches of the last cumulative_runs runs and this one, once there are two.
  const runs = policy.settings.drift.cumulative_runs;
  const checked = await repo.lastCheckedSnapshots(ctx.database.db, backbone.id, Math.max(1, runs));
  const from = checked.length ? Math.min(checked[0].maxLabelId, maxLabelId) : 0;
  // Window starts, shortest window first: this batch alone (at the cumulative threshold), then the end of each
  // earlier run's batch, up to cumulative_runs − 1 runs back; each with labels before it.
  const windowStarts = runs > 0 && from > 0 ? [from, ...checked.slice(1, runs).map((c) => c.maxLabelId).filter((x) => x > 0 && x < from)] : [];
  const { summary: drift, unscored } = await driftCheck(ctx, runId, setting, inputs.items, { from, to: maxLabelId }, windowStarts, holds.map(ranges), excluded);
  const cells = settled.filter((c) => !inHold(c.id, c.category, c.reviewers, excluded));
  const dataset = buildDataset(cells, inputs.items, reference.dim, binding, {
    thresholds: Object.fromEntries(Object.entries(policy.rules).map(([c, r]) => [c, r.flag])),
    classWeights: hp.class_weights,
    pairs: hp.pairs,
    trustedKeys: new Set(await trustedKeyIds(ctx.database.db)),
    // The labels the active head was trained on: those after it are new evidence for the gate.
    activeSawUpTo: typeof active.dataSnapshot?.max_label_id === 'number' ? active.dataSnapshot.max_label_id : null,
  });
  const snapshot = {
    taken_at: ctx.clock.date().toISOString(),
    max_label_id: maxLabelId,
    settled_labels: cells.length,
    held_out_labels: settled.length - cells.length,
    drift,
    pairs: dataset.categories.reduce((a, c) => a + c.item.length, 0),
    train_items: dataset.trainItemIds.length,
    eval_cells: dataset.eval.truth.length,
    trusted_eval_cells: dataset.eval.trusted.filter(Boolean).length,
    eval_items: dataset.eval.items.n,
    categories: dataset.counts,
    categories_skipped: dataset.skipped,
    features_recomputed: inputs.recomputed,
    features_cached: inputs.cached,
    without_token_ids: inputs.withoutTokens,
    without_text: inputs.withoutText,
    left_out: inputs.leftOut,
    backbone_id: backbone.id,
    dpo_reference_head_id: reference.id,
    forced: force,
  };
  return { dataset, snapshot, unscored };
}
