/**
 * Part of stage 2 (the snapshot): the label-drift check. A batch it holds stays out of training and
 * evaluation until an admin decides (holds.service.ts), and the run ends `held`.
 */
import { v7 as uuidv7 } from 'uuid';
import { rollBackPast } from '../../models/activation.js';
import type * as heads from '../../models/head.repository.js';
import * as reviews from '../../review/settled-labels.repository.js';
import type { ItemInputs } from '../math/dataset.js';
import { checkCumulative, checkDrift, inHold, NEAR_P, nearest, termsOf, type DriftRow, type HoldRange, type NearRow, type Verdict } from '../math/drift.js';
import * as repo from '../training.repository.js';
import { HeldRun, type RunContext, type RunSetting } from './context.js';

/**
 * The label-drift check (src/tuning/math/drift.ts) on the verdicts settled since the last checked run (on a
 * deployment's first run: all of them, each moderator against the others), against the ones before,
 * and the cumulative check over the last runs' batches. Batches outside tolerance are stored as holds
 * and the run ends `held`.
 */
export async function driftCheck(
ctx: RunContext,
runId: string,
  setting: RunSetting,
  items: Map<string, ItemInputs>,
  batch: { from: number; to: number },
  windowStarts: number[],
  anyHold: HoldRange[],
  excluded: HoldRange[],
): Promise<{
  summary: {
    rows: DriftRow[];
    /** This batch's rows nearest a finding without being one (math/drift.ts nearest): named in the run's outcome. */
    near: NearRow[];
    batch_verdicts: number;
    history_verdicts: number;
    windows: { from: number; runs: number; verdicts: number }[];
  } | null;
  unscored: Set<string>;
}> {
  const settings = setting.policy.settings.drift;
  // Items with a verdict no calibrated head scored (served by the starter or an imported head) and no kept
  // out-of-fold score yet: this run keeps theirs (pipeline.ts), so later checks can count those verdicts.
  const unscored = new Set<string>();
  if (!settings.enabled) return { summary: null, unscored };
  // An item's words, once per item (its verdicts come back once per category and per window).
  const termsCache = new Map<string, string[]>();
  const termsOfItem = (id: string) => {
    let t = termsCache.get(id);
    if (!t) termsCache.set(id, (t = termsOf(items.get(id)?.text ?? null)));
    return t;
  };
  // Each verdict against the decision of the head that served its item: that head had not seen the label.
  const toVerdict = (r: Awaited<ReturnType<typeof reviews.verdicts>>[number]): Verdict | null => {
    if (!r.model_calibrated && r.oof_score === null) unscored.add(r.item_id);
    return setting.policy.rules[r.category]
      ? {
          labelId: Number(r.label_id),
          taskId: r.task_id,
          category: r.category,
          moderator: r.moderator_key_id,
          verdict: r.verdict,
          model: r.model_label,
          // Only a calibrated head's scores say how many items moderators should flag (a starter's or an
          // imported head's do not: against them, honest labels look like a collapse or a flood). Where the
          // serving head was not calibrated, the out-of-fold score the first run that trained on the item kept.
          score: r.model_calibrated ? r.model_score : (r.oof_score ?? null),
          author: r.author_id,
          terms: termsOfItem(r.item_id),
        }
      : null;
  };
  const keep = (holdRanges: HoldRange[]) => (v: Verdict | null): v is Verdict => v !== null && !inHold(v.labelId, v.category, [v.moderator], holdRanges);
  const load = async (from: number, to: number, limit = Number.MAX_SAFE_INTEGER) => (await reviews.verdicts(ctx.database.db, { from, to, limit })).map(toVerdict);
  const batchVerdicts = (await load(batch.from, batch.to)).filter(keep(anyHold));
  const history = (await load(0, batch.from, settings.history)).filter(keep(excluded));
  const report = checkDrift(history, batchVerdicts, settings);
  const rows = [...report.rows];
  const holds = report.holds.map((h) => ({ ...h, fromLabelId: batch.from }));
  // The cumulative check: the batches since each of the last runs together, against the labels before
  // them; the slow poisoner's first night is unknown, so every start is tried (Bonferroni over the starts),
  // shortest window first (this batch alone), and the first that finds something holds: a poisoned night
  // found on its own does not drag the honest nights before it into the hold.
  const windows: { from: number; runs: number; verdicts: number }[] = [];
  const counted = [...batchVerdicts];
  const batchHolds = report.holds.map((h) => ({ ...h, fromLabelId: batch.from, toLabelId: batch.to }));
  // Every window is a tail of the longest: loaded once.
  const longest = windowStarts.length
    ? (await load(Math.min(...windowStarts), batch.to)).filter(keep(excluded)).filter((v) => !inHold(v.labelId, v.category, [v.moderator], batchHolds))
    : [];
  for (const [k, from] of windowStarts.entries()) {
    const windowVerdicts = longest.filter((v) => v.labelId > from);
    const before = (await load(0, from, settings.history)).filter(keep(excluded));
    const cumulative = checkCumulative(before, windowVerdicts, { ...settings, max_p_value: settings.max_p_value / windowStarts.length }, k + 1);
    windows.push({ from, runs: k + 1, verdicts: windowVerdicts.length });
    rows.push(...cumulative.rows);
    if (cumulative.holds.length) {
      holds.push(...cumulative.holds.map((h) => ({ ...h, fromLabelId: from })));
      counted.push(...windowVerdicts.filter((v) => v.labelId <= batch.from));
      break;
    }
  }
  // The snapshot keeps the moderator and category rows that were tested (enough verdicts on both sides),
  // and the author and term rows that came near a finding (one-sided p ≤ NEAR_P).
  const tested = rows.filter((r) => r.tested && (r.slice.kind === 'moderator' || r.slice.kind === 'category' || (r.p_value ?? 1) <= NEAR_P));
  if (holds.length > 0) {
    await repo.insertHolds(
      ctx.database.db,
      holds.map((h) => ({
        id: uuidv7(),
        runId,
        category: h.category,
        moderator: h.moderator,
        fromLabelId: h.fromLabelId,
        toLabelId: batch.to,
        labels: counted.filter((v) => v.category === h.category && v.labelId > h.fromLabelId && (h.moderator === null || v.moderator === h.moderator)).length,
        reason: h.reason,
      })),
    );
    // A cumulative hold reaches back into labels heads were already trained on: the active head goes back
    // to the newest of its ancestors trained without them.
    const earliest = Math.min(...holds.map((h) => h.fromLabelId));
    const back = await rollBackPastFor(ctx, runId, setting.active, earliest);
    await repo.updateRun(ctx.database.db, runId, {
      dataSnapshot: { max_label_id: batch.to, backbone_id: setting.backbone.id, drift: { rows: tested, holds, windows, ...(back ? { rolled_back_to: back } : {}) } },
    });
    throw new HeldRun(
      `label drift: held ${holds.length} batch${holds.length === 1 ? '' : 'es'} of labels out of training and evaluation until an admin ` +
        `accepts or discards ${holds.length === 1 ? 'it' : 'them'} (GET /v1/label-holds)` +
        `${back ? `; the active head trained on held labels, so head v${back.version} (${back.id}), the newest trained without them, is active again` : ''}: ` +
        holds.map((h) => h.reason).join(' | '),
    );
  }
  return { summary: { rows: tested, near: nearest(rows), batch_verdicts: batchVerdicts.length, history_verdicts: history.length, windows }, unscored };
}

/**
 * After the fit: the out-of-fold scores of the train items the check found unscored (no calibrated head
 * served them), kept for the checks of later runs (migration 0017). An item's cells of one category share
 * its fold, so they share the score: one row each.
 */
export async function keepItemScores(
  ctx: RunContext,
  runId: string,
  trainItemIds: string[],
  outOfFold: { category: string; item: Int32Array; score: Float32Array }[],
  unscored: Set<string>,
): Promise<void> {
  const scores = new Map<string, { itemId: string; category: string; score: number }>();
  for (const o of outOfFold) {
    o.item.forEach((k, j) => {
      const itemId = trainItemIds[k];
      if (unscored.has(itemId)) scores.set(`${itemId}\u0000${o.category}`, { itemId, category: o.category, score: o.score[j] });
    });
  }
  if (scores.size) await repo.saveItemScores(ctx.database.db, runId, [...scores.values()]);
}

/** {@link rollBackPast} for a run, announced so this process serves the head at once. */
async function rollBackPastFor(ctx: RunContext, runId: string, active: heads.HeadRow, labelId: number): Promise<{ id: string; version: number } | null> {
  const back = await rollBackPast(ctx.database.db, active, labelId, { name: `training run ${runId}` }, { training_run_id: runId });
  if (back) await ctx.events?.emit('head.promoted', { headId: back.id, runId });
  return back;
}
