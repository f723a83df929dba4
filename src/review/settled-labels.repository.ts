/**
 * The settled-label store: the moderators' settled answer per item × category (`review_labels`), which
 * review writes when a task's reviews are in (and undoes) and which training, the drift check, the
 * threshold advisor and the preference-pair export read. Its own repository, so the tables review owns for
 * its work (tasks, leases, reviews) and the dataset every other feature reads are not one file.
 */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import type { ReviewReason, Split } from '../db/schema/review.js';
import type { ResolvedLabel } from './labels.js';
import { categoryScoreOf } from '../db/stored-columns.js';

const daysAgo = (days: number) => sql<Date>`now() - ${days} * interval '1 day'`;

/** Whether a training run snapshotted labels up to `labelId` or beyond (its data reached training). */
export async function labelsTrained(db: Executor, labelId: number): Promise<boolean> {
  const r = await db
    .selectFrom('training_runs')
    .select(sql<number>`1`.as('one'))
    .where(sql<boolean>`(data_snapshot ->> 'max_label_id')::bigint >= ${labelId}`)
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

/** Labels settled on the item after `labelId` (a later appeal): an undo would leave them on a verdict that is gone. */
export async function laterLabels(db: Executor, itemId: string, labelId: number): Promise<boolean> {
  const r = await db.selectFrom('review_labels').select('id').where('item_id', '=', itemId).where('id', '>', labelId).where(sql<boolean>`task_id <> (select task_id from review_labels where id = ${labelId})`).limit(1).executeTakeFirst();
  return r !== undefined;
}

export async function insertLabels(
  db: Executor,
  t: { taskId: string; itemId: string; decisionId: string; split: Split },
  labels: ResolvedLabel[],
): Promise<void> {
  await db
    .insertInto('review_labels')
    .values(
      labels.map((l) => ({
        task_id: t.taskId,
        category: l.category,
        item_id: t.itemId,
        decision_id: t.decisionId,
        label: l.label,
        model_label: l.modelLabel,
        votes_yes: l.votesYes,
        votes_total: l.votesTotal,
        split: t.split,
      })),
    )
    .execute();
}

/** The highest settled-label id: a training run's snapshot of the labels. */
export async function labelSnapshot(db: Executor): Promise<number> {
  const r = await db.selectFrom('review_labels').select((eb) => eb.fn.max('id').as('max_id')).executeTakeFirstOrThrow();
  return Number(r.max_id ?? 0);
}

export interface SettledLabelFilter {
  /** Only labels settled up to this id (a snapshot); later ones neither count nor replace. */
  maxId?: number;
  /** Keyset pagination: labels after this id. */
  afterId?: number;
  limit?: number;
  split?: Split;
  category?: string;
  /** Also the item's external id, text and context. */
  withItem?: boolean;
  /** Only labels of tasks opened for this reason (`audit`: the random sample). */
  reason?: ReviewReason;
}

/**
 * The one dataset: the latest settled label per item × category (an appeal's later label replaces the
 * earlier one; a later dropped tie leaves the cell without a label), with where it came from: the task's
 * routing reason, its reviewers in order, the votes, the split and the decision's backbone and head.
 * In settlement order. Training and the preference-pair export both read it.
 */
export async function settledLabels(db: Executor, f: SettledLabelFilter = {}) {
  return db
    .selectFrom('review_labels as l')
    .innerJoin('review_tasks as t', 't.id', 'l.task_id')
    .innerJoin('decisions as d', 'd.id', 'l.decision_id')
    .$if(!!f.withItem, (qb) => qb.innerJoin('content_items as i', 'i.id', 'l.item_id').select(['i.external_id', 'i.text', 'i.context']))
    .select([
      'l.id',
      'l.item_id',
      'l.task_id',
      'l.decision_id',
      'l.category',
      sql<boolean>`l.label`.as('label'),
      'l.model_label',
      'l.votes_yes',
      'l.votes_total',
      'l.split',
      'l.created_at',
      't.reason',
      't.inclusion_probability',
      'd.backbone_id',
      'd.head_id',
      sql<string[]>`(select coalesce(json_agg(r.moderator_key_id order by r.created_at, r.id), '[]'::json) from reviews r where r.task_id = l.task_id)`.as('reviewers'),
      // Every reviewer of the task was blind (not shown the model's decision).
      sql<boolean>`(select coalesce(bool_and(r.blind), false) from reviews r where r.task_id = l.task_id)`.as('blind'),
    ])
    .where('l.label', 'is not', null)
    .$if(f.maxId !== undefined, (qb) => qb.where('l.id', '<=', f.maxId!))
    .$if(f.afterId !== undefined, (qb) => qb.where('l.id', '>', f.afterId!))
    .$if(!!f.split, (qb) => qb.where('l.split', '=', f.split!))
    .$if(!!f.category, (qb) => qb.where('l.category', '=', f.category!))
    .$if(!!f.reason, (qb) => qb.where('t.reason', '=', f.reason!))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('review_labels as n')
            .select(sql`1`.as('one'))
            .whereRef('n.item_id', '=', 'l.item_id')
            .whereRef('n.category', '=', 'l.category')
            .whereRef('n.id', '>', 'l.id')
            .$if(f.maxId !== undefined, (qb) => qb.where('n.id', '<=', f.maxId!)),
        ),
      ),
    )
    .orderBy('l.id')
    .$if(f.limit !== undefined, (qb) => qb.limit(f.limit!))
    .execute();
}

export type SettledLabelRow = Awaited<ReturnType<typeof settledLabels>>[number];

/**
 * Each reviewer's own verdict on settled labels with from < id <= to, newest first (at most `limit`): the
 * units of the label-drift check.
 */
export async function verdicts(db: Executor, range: { from: number; to: number; limit: number }) {
  return db
    .selectFrom('review_labels as l')
    .innerJoin('reviews as r', 'r.task_id', 'l.task_id')
    .innerJoin('content_items as i', 'i.id', 'l.item_id')
    .innerJoin('decisions as d', 'd.id', 'l.decision_id')
    .innerJoin('head_versions as h', 'h.id', 'd.head_id')
    .leftJoin('item_scores as s', (j) => j.onRef('s.item_id', '=', 'l.item_id').onRef('s.category', '=', 'l.category'))
    .select([
      categoryScoreOf('d', sql<string>`l.category`).as('model_score'),
      // Where the serving head was not calibrated: the out-of-fold score a later run kept (migration 0017).
      's.score as oof_score',
      // Whether the serving head's scores are calibrated on moderators' labels (a tuned head with Platt scaling).
      sql<boolean>`(h.source = 'dpo' and coalesce(h.hyperparameters ->> 'calibration', '') = 'platt')`.as('model_calibrated'),
      'l.id as label_id',
      'l.task_id',
      'l.item_id',
      'l.category',
      'l.split',
      'l.model_label',
      'i.author_id',
      'r.moderator_key_id',
      sql<boolean>`coalesce((r.labels ->> l.category)::boolean, false)`.as('verdict'),
    ])
    .where('l.id', '>', range.from)
    .where('l.id', '<=', range.to)
    .where('l.label', 'is not', null)
    .orderBy('l.id', 'desc')
    .limit(range.limit)
    .execute();
}

export async function deleteTaskLabels(db: Executor, taskId: string): Promise<void> {
  await db.deleteFrom('review_labels').where('task_id', '=', taskId).execute();
}

/** Labels settled in the last `days` days, with what the model had said. */
export async function labelsSettledSince(db: Executor, days: number): Promise<{ category: string; label: boolean; modelLabel: boolean }[]> {
  const rows = await db
    .selectFrom('review_labels')
    .select(['category', 'label', 'model_label'])
    .where('label', 'is not', null)
    .where('created_at', '>', daysAgo(days))
    .execute();
  return rows.map((r) => ({ category: r.category, label: r.label!, modelLabel: r.model_label }));
}
