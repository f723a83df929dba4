/** The only code that touches the review tables. */
import { sql } from 'kysely';
import { notify, type Executor } from '../db/database.js';
import { REVIEW_REASONS, type ReviewReason, type Split } from '../db/schema/review.js';
import type { ResolvedLabel } from './labels.js';
import { assignSplit, groupKeys } from './split.js';
import { categoryFlagsOf, categoryScoresOf, textSha256Of } from '../db/stored-columns.js';

export interface NewTask {
  id: string;
  itemId: string;
  decisionId: string;
  reason: ReviewReason;
  priority: number;
  policyName: string;
  policyVersion: string;
  categories: string[];
  requiredReviews: number;
  leaseSeconds: number;
  /** Route.inclusion; null for an appeal (asked for by a person, not drawn). */
  inclusion?: number | null;
  appealReason?: string | null;
  appealedBy?: string | null;
}

export async function insertTasks(db: Executor, tasks: NewTask[]): Promise<void> {
  if (tasks.length === 0) return;
  await db
    .insertInto('review_tasks')
    .values(
      tasks.map((t) => ({
        id: t.id,
        item_id: t.itemId,
        decision_id: t.decisionId,
        reason: t.reason,
        priority: t.priority,
        policy_name: t.policyName,
        policy_version: t.policyVersion,
        categories: JSON.stringify(t.categories),
        required_reviews: t.requiredReviews,
        lease_seconds: t.leaseSeconds,
        inclusion_probability: t.inclusion ?? null,
        leased_to: null,
        leased_at: null,
        lease_expires_at: null,
        appeal_reason: t.appealReason ?? null,
        appealed_by: t.appealedBy ?? null,
        completed_at: null,
      })),
    )
    .execute();
}

/** Tasks this moderator already holds (an unexpired lease), so a reload does not strand them. */
export async function heldTaskIds(db: Executor, moderator: string, limit: number, reasons?: ReviewReason[]): Promise<string[]> {
  const rows = await db
    .selectFrom('review_tasks')
    .select('id')
    .where('status', '=', 'open')
    .where('leased_to', '=', moderator)
    .where('lease_expires_at', '>', sql<Date>`now()`)
    .$if(!!reasons?.length, (qb) => qb.where('reason', 'in', reasons!))
    .orderBy('priority', 'desc')
    .orderBy('created_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Leases up to `limit` open tasks to `moderator`: not leased (or the lease expired), not already
 * reviewed by them, highest priority then oldest first. SKIP LOCKED lets concurrent claimers pass over
 * rows another transaction is taking instead of waiting for them or taking them too.
 */
export async function leaseTasks(db: Executor, moderator: string, limit: number, reasons?: ReviewReason[], senior = false): Promise<string[]> {
  const candidates = await db
    .selectFrom('review_tasks as t')
    .select('t.id')
    .where('t.status', '=', 'open')
    // Escalated tasks wait for a senior moderator.
    .$if(!senior, (qb) => qb.where('t.escalated_at', 'is', null))
    .where((eb) => eb.or([eb('t.leased_to', 'is', null), eb('t.lease_expires_at', '<=', sql<Date>`now()`)]))
    .$if(!!reasons?.length, (qb) => qb.where('t.reason', 'in', reasons!))
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('reviews as r')
            .select(sql`1`.as('one'))
            .whereRef('r.task_id', '=', 't.id')
            .where('r.moderator_key_id', '=', moderator),
        ),
      ),
    )
    .orderBy('t.priority', 'desc')
    .orderBy('t.created_at')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
  if (candidates.length === 0) return [];
  const ids = candidates.map((c) => c.id);
  await db
    .updateTable('review_tasks')
    .set({
      leased_to: moderator,
      leased_at: sql`now()`,
      lease_expires_at: sql`now() + lease_seconds * interval '1 second'`,
    })
    .where('id', 'in', ids)
    .execute();
  return ids;
}

export async function taskDetails(db: Executor, ids: string[]) {
  if (ids.length === 0) return [];
  return db
    .selectFrom('review_tasks as t')
    .innerJoin('decisions as d', 'd.id', 't.decision_id')
    .innerJoin('content_items as i', 'i.id', 't.item_id')
    .select([
      't.id',
      't.item_id',
      't.decision_id',
      't.reason',
      't.priority',
      't.status',
      't.policy_name',
      't.policy_version',
      't.categories as task_categories',
      't.required_reviews',
      't.reviews_done',
      't.leased_to',
      't.leased_at',
      't.lease_expires_at',
      't.appeal_reason',
      't.conflict',
      't.created_at',
      't.completed_at',
      'i.text',
      'i.context',
      'i.external_id',
      'i.author_id',
      'i.thread_id',
      'i.created_at as item_created_at',
      't.escalated_at',
      't.escalation_comment',
      sql<string | null>`(select k.name from api_keys k where k.id = t.escalated_by)`.as('escalated_by_name'),
      'i.text_purged_at',
      'd.action',
      'd.flagged',
      categoryFlagsOf('d').as('model_categories'),
      categoryScoresOf('d').as('category_scores'),
      'd.head_id',
      'd.created_at as decided_at',
    ])
    .where('t.id', 'in', ids)
    .orderBy('t.priority', 'desc')
    .orderBy('t.created_at')
    .execute();
}

/**
 * The verdicts given on each decision's earlier tasks, oldest first: an appeal's reviewer sees what the
 * first reviewers decided and wrote. (Other tasks do not: double review stays independent.)
 */
export async function earlierReviews(db: Executor, decisionIds: string[]) {
  if (decisionIds.length === 0) return [];
  return db
    .selectFrom('reviews as r')
    .innerJoin('review_tasks as t', 't.id', 'r.task_id')
    .select(['r.decision_id', 'r.task_id', 't.reason', 'r.labels', 'r.notes', 'r.created_at'])
    .where('r.decision_id', 'in', decisionIds)
    .orderBy('r.created_at')
    .execute();
}

export async function lockTask(db: Executor, id: string) {
  return db.selectFrom('review_tasks').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
}

export async function insertReview(
  db: Executor,
  r: {
    id: string;
    taskId: string;
    itemId: string;
    decisionId: string;
    moderator: string;
    labels: Record<string, boolean>;
    notes: string | null;
    handlingMs: number | null;
    blind: boolean;
    requiredBefore: number;
  },
): Promise<void> {
  await db
    .insertInto('reviews')
    .values({
      id: r.id,
      task_id: r.taskId,
      item_id: r.itemId,
      decision_id: r.decisionId,
      moderator_key_id: r.moderator,
      labels: JSON.stringify(r.labels),
      notes: r.notes,
      handling_ms: r.handlingMs,
      blind: r.blind,
      required_before: r.requiredBefore,
    })
    .execute();
}

/** A moderator's verdicts since `since` (newest first, at most `limit`), with the settled labels of their tasks. */
export async function moderatorVerdicts(db: Executor, moderator: string, since: Date, limit: number) {
  const rows = await db
    .selectFrom('reviews as r')
    .innerJoin('review_tasks as t', 't.id', 'r.task_id')
    .select(['r.task_id', 'r.labels', 'r.handling_ms', 'r.created_at', 't.reviews_done'])
    .where('r.moderator_key_id', '=', moderator)
    .where('r.created_at', '>', since)
    .orderBy('r.created_at', 'desc')
    .limit(limit)
    .execute();
  const taskIds = [...new Set(rows.map((r) => r.task_id))];
  const settled = taskIds.length
    ? await db.selectFrom('review_labels').select(['task_id', 'category', 'label']).where('task_id', 'in', taskIds).where('label', 'is not', null).execute()
    : [];
  return { rows, settled };
}

/** The task's latest review (the only one an undo may take back), and whether training has read its labels. */
export async function lastReview(db: Executor, taskId: string) {
  return db
    .selectFrom('reviews as r')
    .select([
      'r.id',
      'r.moderator_key_id',
      'r.required_before',
      'r.created_at',
      sql<number | null>`(select min(l.id) from review_labels l where l.task_id = r.task_id)`.as('first_label_id'),
    ])
    .where('r.task_id', '=', taskId)
    .orderBy('r.created_at', 'desc')
    .orderBy('r.id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function taskVerdicts(db: Executor, taskId: string): Promise<Record<string, boolean>[]> {
  const rows = await db.selectFrom('reviews').select('labels').where('task_id', '=', taskId).orderBy('created_at').execute();
  return rows.map((r) => r.labels);
}

/**
 * The deployment's split salt: made on first use (every replica racing to make it keeps the one that
 * landed first) and never changed, so an item's split is stable for the deployment's life.
 */
export async function splitSalt(db: Executor, fresh: () => string): Promise<string> {
  await db.insertInto('deployment_secrets').values({ name: 'split_salt', value: fresh() }).onConflict((oc) => oc.column('name').doNothing()).execute();
  const row = await db.selectFrom('deployment_secrets').select('value').where('name', '=', 'split_salt').executeTakeFirstOrThrow();
  return row.value;
}

/**
 * The item's split, assigned on its first settled review and read back unchanged afterwards: by its
 * group (split.ts), under a transaction lock on its text's key so two reposts settling at once take one side.
 */
export async function ensureSplit(db: Executor, itemId: string, salt: string, evalFraction: number): Promise<Split> {
  const item = await db
    .selectFrom('content_items as c')
    .leftJoin('item_splits as s', 's.item_id', 'c.id')
    .select(['s.split', 'c.text', textSha256Of('c').as('text_sha256'), 'c.author_id', 'c.thread_id'])
    .where('c.id', '=', itemId)
    .executeTakeFirstOrThrow();
  if (item.split) return item.split;
  const keys = groupKeys({ text: item.text, textSha256: item.text_sha256, authorId: item.author_id, threadId: item.thread_id });
  await sql`select pg_advisory_xact_lock(hashtext(${keys.text}))`.execute(db);
  const first = (column: 'text_key' | 'group_key', key: string) =>
    db.selectFrom('item_splits').select('split').where(column, '=', key).orderBy('assigned_at').limit(1);
  const known = await db
    .selectNoFrom([first('text_key', keys.text).as('by_text'), first('group_key', keys.group).as('by_group')])
    .executeTakeFirstOrThrow();
  const split = assignSplit(salt, keys, evalFraction, { byText: known.by_text ?? null, byGroup: known.by_group ?? null });
  const inserted = await db
    .insertInto('item_splits')
    .values({ item_id: itemId, split, eval_fraction: evalFraction, text_key: keys.text, group_key: keys.group })
    .onConflict((oc) => oc.column('item_id').doNothing())
    .returning('split')
    .executeTakeFirst();
  // Nothing inserted: another transaction assigned this item first; its split stands.
  return inserted?.split ?? (await db.selectFrom('item_splits').select('split').where('item_id', '=', itemId).executeTakeFirstOrThrow()).split;
}

/**
 * Where a completed review is announced to other processes (the promotion guard re-checks at once in the
 * process that runs it: `npm run worker` beside API replicas with BACKGROUND_JOBS=false).
 */
export const REVIEW_COMPLETED_CHANNEL = 'modtune_review_completed';

/** Announces that task `taskId` reached `done` (NOTIFY on REVIEW_COMPLETED_CHANNEL; on PGlite no other process is there to hear it). */
export async function notifyTaskCompleted(db: Executor, taskId: string): Promise<void> {
  await notify(db, REVIEW_COMPLETED_CHANNEL, taskId);
}

/** Open tasks per reason, and how many of them a moderator holds now. */
export async function queueDepth(db: Executor): Promise<Record<string, { open: number; leased: number }>> {
  const rows = await db
    .selectFrom('review_tasks')
    .select((eb) => [
      'reason',
      eb.fn.countAll<number>().as('open'),
      sql<number>`count(*) filter (where leased_to is not null and lease_expires_at > now())`.as('leased'),
    ])
    .where('status', '=', 'open')
    .groupBy('reason')
    .execute();
  const out: Record<string, { open: number; leased: number }> = {};
  for (const r of REVIEW_REASONS) out[r] = { open: 0, leased: 0 };
  for (const q of rows) out[q.reason] = { open: Number(q.open), leased: Number(q.leased) };
  return out;
}

/** One earlier item of a task's subject (same author or same thread): its decision and settled verdict. */
export interface SubjectRow {
  item_id: string;
  external_id: string | null;
  author_id: string | null;
  thread_id: string | null;
  text: string | null;
  created_at: Date;
  action: string | null;
  /** The latest decision's categories (the model's labels). */
  model_categories: Record<string, boolean> | null;
  /** Categories the moderators settled as true; null when no verdict settled yet. */
  verdict: string[] | null;
}

/**
 * The items by the same author or in the same thread as `subject`, before it, newest first: what a
 * moderator needs to see a pattern (a harassment campaign, a thread that went bad). At most `limit`.
 */
export async function subjectHistory(db: Executor, subject: { itemId: string; authorId: string | null; threadId: string | null; before: Date }, limit: number): Promise<SubjectRow[]> {
  if (!subject.authorId && !subject.threadId) return [];
  const rows = await db
    .selectFrom('content_items as i')
    .select([
      'i.id as item_id',
      'i.external_id',
      'i.author_id',
      'i.thread_id',
      'i.text',
      'i.created_at',
      sql<string | null>`(select d.action from decisions d where d.item_id = i.id order by d.created_at desc limit 1)`.as('action'),
      sql<Record<string, boolean> | null>`(select ${categoryFlagsOf('d')} from decisions d where d.item_id = i.id order by d.created_at desc limit 1)`.as('model_categories'),
      sql<string[] | null>`(select coalesce(array_agg(l.category order by l.category) filter (where l.label), '{}') from review_labels l
        where l.item_id = i.id and l.id = (select max(l2.id) from review_labels l2 where l2.item_id = i.id and l2.category = l.category)
        having count(*) > 0)`.as('verdict'),
    ])
    .where((eb) =>
      eb.or([
        ...(subject.authorId ? [eb('i.author_id', '=', subject.authorId)] : []),
        ...(subject.threadId ? [eb('i.thread_id', '=', subject.threadId)] : []),
      ]),
    )
    // Before it: earlier, or in the same request (one transaction, one timestamp) with a smaller id
    // (ids are UUIDv7, in the order the request listed the inputs).
    .where(sql<boolean>`(i.created_at, i.id) < (${subject.before}, ${subject.itemId}::uuid)`)
    .orderBy('i.created_at', 'desc')
    .orderBy('i.id', 'desc')
    .limit(limit)
    .execute();
  return rows;
}

/** Whether a key may take escalated tasks: an admin, or a moderator an admin trusts. */
export async function isSenior(db: Executor, keyId: string): Promise<boolean> {
  const k = await db.selectFrom('api_keys').select(['role', 'trusted']).where('id', '=', keyId).executeTakeFirst();
  return k !== undefined && (k.role === 'admin' || k.trusted);
}

export async function insertComment(db: Executor, c: { id: string; itemId: string; authorId: string | null; threadId: string | null; moderator: string; text: string }): Promise<void> {
  await db
    .insertInto('subject_comments')
    .values({ id: c.id, item_id: c.itemId, author_id: c.authorId, thread_id: c.threadId, moderator_key_id: c.moderator, text: c.text })
    .execute();
}

export interface CommentRow {
  id: string;
  item_id: string;
  author_id: string | null;
  thread_id: string | null;
  text: string;
  created_at: Date;
  moderator: string;
}

/**
 * For each subject, the comments on its item, its author or its thread, newest first (at most `limit`),
 * with who wrote them: one statement for a whole claim (a lateral join per subject) instead of one per task.
 */
export async function subjectComments(db: Executor, subjects: { itemId: string; authorId: string | null; threadId: string | null }[], limit: number): Promise<CommentRow[][]> {
  if (subjects.length === 0) return [];
  const rows = await sql<CommentRow & { ord: string }>`
    select s.ord, c.id, c.item_id, c.author_id, c.thread_id, c.text, c.created_at, c.moderator
    from unnest(${subjects.map((x) => x.itemId)}::uuid[], ${subjects.map((x) => x.authorId)}::text[], ${subjects.map((x) => x.threadId)}::text[])
      with ordinality as s(item_id, author_id, thread_id, ord)
    cross join lateral (
      select c.id, c.item_id, c.author_id, c.thread_id, c.text, c.created_at, k.name as moderator
      from subject_comments c
      inner join api_keys k on k.id = c.moderator_key_id
      where c.item_id = s.item_id or c.author_id = s.author_id or c.thread_id = s.thread_id
      order by c.created_at desc, c.id desc
      limit ${limit}
    ) c
    order by s.ord, c.created_at desc, c.id desc`.execute(db);
  const out: CommentRow[][] = subjects.map(() => []);
  for (const { ord, ...row } of rows.rows) out[Number(ord) - 1].push(row);
  return out;
}

/** The model's labels on a decision (what a settled verdict is compared with). */
export async function decisionCategories(db: Executor, decisionId: string): Promise<Record<string, boolean>> {
  const r = await db.selectFrom('decisions as d').select(categoryFlagsOf('d').as('categories')).where('d.id', '=', decisionId).executeTakeFirstOrThrow();
  return r.categories;
}

/**
 * A verdict's mark on its task: one more review, the lease given up, and (when `done` is given) the task
 * closed, with whether its reviewers disagreed.
 */
export async function recordVerdictOnTask(db: Executor, taskId: string, u: { reviewsDone: number; requiredReviews: number; done: { conflict: boolean } | null }): Promise<void> {
  await db
    .updateTable('review_tasks')
    .set({
      reviews_done: u.reviewsDone,
      required_reviews: u.requiredReviews,
      leased_to: null,
      leased_at: null,
      lease_expires_at: null,
      ...(u.done ? { status: 'done' as const, completed_at: sql<Date>`now()`, conflict: u.done.conflict } : {}),
    })
    .where('id', '=', taskId)
    .execute();
}

/** Sends a task up to senior moderators: raised to at least `priority`, its lease given up. */
export async function escalateTask(db: Executor, taskId: string, e: { by: string; comment: string | null; priority: number }): Promise<void> {
  await db
    .updateTable('review_tasks')
    .set({
      escalated_at: sql<Date>`now()`,
      escalated_by: e.by,
      escalation_comment: e.comment,
      priority: sql<number>`greatest(priority, ${e.priority})`,
      leased_to: null,
      leased_at: null,
      lease_expires_at: null,
    })
    .where('id', '=', taskId)
    .execute();
}

export async function deleteReview(db: Executor, reviewId: string): Promise<void> {
  await db.deleteFrom('reviews').where('id', '=', reviewId).execute();
}

/** Opens a task again (an undone verdict), leased to `moderator` for `leaseSeconds` from now. */
export async function reopenTask(db: Executor, taskId: string, r: { moderator: string; reviewsDone: number; requiredReviews: number; leaseSeconds: number }): Promise<void> {
  await db
    .updateTable('review_tasks')
    .set({
      status: 'open',
      reviews_done: r.reviewsDone,
      required_reviews: r.requiredReviews,
      completed_at: null,
      conflict: false,
      leased_to: r.moderator,
      leased_at: sql<Date>`now()`,
      lease_expires_at: sql<Date>`now() + ${r.leaseSeconds} * interval '1 second'`,
    })
    .where('id', '=', taskId)
    .execute();
}

export async function releaseTask(db: Executor, taskId: string): Promise<void> {
  await db.updateTable('review_tasks').set({ leased_to: null, leased_at: null, lease_expires_at: null }).where('id', '=', taskId).execute();
}

/** What an appeal of a decision needs to know about it. */
export async function decisionToAppeal(db: Executor, decisionId: string) {
  return db
    .selectFrom('decisions as d')
    .innerJoin('content_items as i', 'i.id', 'd.item_id')
    .select(['d.id', 'd.item_id', 'd.policy_name', 'd.policy_version', categoryFlagsOf('d').as('categories'), 'i.client_key_id'])
    .where('d.id', '=', decisionId)
    .executeTakeFirst();
}

/** The decision's open appeal task, if it has one. */
export async function openAppealId(db: Executor, decisionId: string): Promise<string | undefined> {
  const r = await db
    .selectFrom('review_tasks')
    .select('id')
    .where('decision_id', '=', decisionId)
    .where('reason', '=', 'appeal')
    .where('status', '=', 'open')
    .executeTakeFirst();
  return r?.id;
}

const daysAgo = (days: number) => sql<Date>`now() - ${days} * interval '1 day'`;

/** Each review's handling time (where recorded) in the last `days` days, with its task's reason. */
export async function handlingTimes(db: Executor, days: number): Promise<{ reason: ReviewReason; handlingMs: number }[]> {
  const rows = await db
    .selectFrom('reviews as r')
    .innerJoin('review_tasks as t', 't.id', 'r.task_id')
    .select(['t.reason', 'r.handling_ms'])
    .where('r.created_at', '>', daysAgo(days))
    .where('r.handling_ms', 'is not', null)
    .execute();
  return rows.map((r) => ({ reason: r.reason, handlingMs: r.handling_ms! }));
}

/** The verdicts of the last `days` days on tasks reviewed more than once, by task then oldest first. */
export async function multiReviewVerdicts(db: Executor, days: number): Promise<{ taskId: string; labels: Record<string, boolean>; categories: string[] }[]> {
  const rows = await db
    .selectFrom('reviews as r')
    .innerJoin('review_tasks as t', 't.id', 'r.task_id')
    .select(['r.task_id', 'r.labels', 't.categories'])
    .where('t.reviews_done', '>=', 2)
    .where('r.created_at', '>', daysAgo(days))
    .orderBy('r.task_id')
    .orderBy('r.created_at')
    .execute();
  return rows.map((r) => ({ taskId: r.task_id, labels: r.labels, categories: r.categories }));
}
