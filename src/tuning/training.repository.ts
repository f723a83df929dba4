/** Training runs and the data they read: the only code in tuning/ that touches the database. */
import { sql } from 'kysely';
import { notify, type Executor } from '../db/database.js';
import type { HoldStatus, RunStatus, RunTrigger } from '../db/schema/training.js';
import { textSha256Of } from '../db/stored-columns.js';

export async function insertRun(
  db: Executor,
  r: { id: string; trigger: RunTrigger; scheduledFor?: Date | null; requestedBy?: string | null; policyName: string; policyVersion: string; hyperparameters: Record<string, unknown> },
): Promise<boolean> {
  const res = await db
    .insertInto('training_runs')
    .values({
      id: r.id,
      trigger: r.trigger,
      scheduled_for: r.scheduledFor ?? null,
      status: 'queued',
      requested_by: r.requestedBy ?? null,
      policy_name: r.policyName,
      policy_version: r.policyVersion,
      hyperparameters: JSON.stringify(r.hyperparameters),
      reference_head_id: null,
      active_head_id: null,
      candidate_head_id: null,
      data_snapshot: null,
      eval_report: null,
      gate: null,
      error: null,
      replica: null,
      started_at: null,
      finished_at: null,
    })
    // A cron slot another replica already took: no second run.
    .onConflict((oc) => oc.column('scheduled_for').where('trigger', '=', 'cron').doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
}

export interface RunUpdate {
  status?: RunStatus;
  referenceHeadId?: string | null;
  activeHeadId?: string | null;
  candidateHeadId?: string | null;
  dataSnapshot?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  evalReport?: Record<string, unknown>;
  gate?: Record<string, unknown>;
  error?: string | null;
  replica?: string;
  started?: boolean;
  finished?: boolean;
}

/**
 * Updates run `id`; with `onlyIf`, only while the run is in that status (a claim: queued → running).
 * Returns whether the run was updated.
 */
export async function updateRun(db: Executor, id: string, u: RunUpdate, onlyIf?: RunStatus): Promise<boolean> {
  const res = await db
    .updateTable('training_runs')
    .set({
      ...(u.status ? { status: u.status } : {}),
      ...(u.referenceHeadId !== undefined ? { reference_head_id: u.referenceHeadId } : {}),
      ...(u.activeHeadId !== undefined ? { active_head_id: u.activeHeadId } : {}),
      ...(u.candidateHeadId !== undefined ? { candidate_head_id: u.candidateHeadId } : {}),
      ...(u.dataSnapshot ? { data_snapshot: JSON.stringify(u.dataSnapshot) } : {}),
      ...(u.metrics ? { metrics: JSON.stringify(u.metrics) } : {}),
      ...(u.evalReport ? { eval_report: JSON.stringify(u.evalReport) } : {}),
      ...(u.gate ? { gate: JSON.stringify(u.gate) } : {}),
      ...(u.error !== undefined ? { error: u.error } : {}),
      ...(u.replica ? { replica: u.replica } : {}),
      ...(u.started ? { started_at: sql<Date>`now()` } : {}),
      ...(u.finished ? { finished_at: sql<Date>`now()` } : {}),
    })
    .where('id', '=', id)
    .$if(onlyIf !== undefined, (qb) => qb.where('status', '=', onlyIf!))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) > 0;
}

/** Where a run queued through an API replica without the jobs is announced to the process that runs them. */
export const TRAINING_REQUESTED_CHANNEL = 'modtune_training_requested';

/** Announces queued run `runId` (NOTIFY on TRAINING_REQUESTED_CHANNEL). */
export async function notifyRunRequested(db: Executor, runId: string): Promise<void> {
  await notify(db, TRAINING_REQUESTED_CHANNEL, runId);
}

/** The oldest run still queued that was created before `createdBefore` (runs left for a jobs process to pick up). */
export async function oldestQueuedRun(db: Executor, createdBefore: Date): Promise<string | undefined> {
  const r = await db
    .selectFrom('training_runs')
    .select('id')
    .where('status', '=', 'queued')
    .where('created_at', '<=', createdBefore)
    .orderBy('created_at')
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return r?.id;
}

export async function getRun(db: Executor, id: string) {
  return db.selectFrom('training_runs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listRuns(db: Executor, limit: number) {
  return db
    .selectFrom('training_runs')
    .select([
      'id',
      'trigger',
      'scheduled_for',
      'status',
      'policy_name',
      'policy_version',
      'hyperparameters',
      'reference_head_id',
      'active_head_id',
      'candidate_head_id',
      'data_snapshot',
      'gate',
      'error',
      'replica',
      'created_at',
      'started_at',
      'finished_at',
      sql<number | null>`(eval_report -> 'candidate' ->> 'accuracy')::float8`.as('candidate_accuracy'),
      sql<number | null>`(eval_report -> 'active' ->> 'accuracy')::float8`.as('active_accuracy'),
      sql<number | null>`(eval_report -> 'measure' -> 'candidate' ->> 'auprc')::float8`.as('candidate_auprc'),
      sql<number | null>`(eval_report -> 'measure' -> 'active' ->> 'auprc')::float8`.as('active_auprc'),
      sql<number | null>`jsonb_array_length(metrics -> 'steps')`.as('logged_steps'),
      sql<number | null>`(metrics -> 'steps' -> -1 ->> 'loss')::float8`.as('final_loss'),
      sql<number | null>`(metrics -> 'steps' -> -1 ->> 'rewards/margins')::float8`.as('final_margin'),
      sql<Record<string, unknown>[] | null>`metrics -> 'categories'`.as('categories'),
      // What became of the run's head since: still active, or left (by a rollback, and when).
      sql<string | null>`(select h.status from head_versions h where h.id = training_runs.candidate_head_id)`.as('candidate_status'),
      sql<Date | null>`(select max(a.at) from head_activations a where a.previous_head_id = training_runs.candidate_head_id and a.rollback)`.as('rolled_back_at'),
    ])
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
}

export async function runningRun(db: Executor) {
  return db.selectFrom('training_runs').select(['id', 'replica', 'started_at']).where('status', '=', 'running').executeTakeFirst();
}

/**
 * Runs a crashed process left `running`; called only while holding the training lock (a live run holds
 * it). Queued runs are not failed: a process that runs the jobs picks them up.
 */
export async function failAbandonedRuns(db: Executor): Promise<string[]> {
  const rows = await db
    .updateTable('training_runs')
    .set({ status: 'failed', error: 'the process running it stopped before it finished', finished_at: sql<Date>`now()` })
    .where('status', '=', 'running')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/** What a decision was scored with: its features, token ids and backbone, and the item's text (for recomputing). */
export async function decisionInputs(db: Executor, decisionIds: string[]) {
  const out: {
    id: string;
    item_id: string;
    backbone_id: string;
    /** Null where the item did not go to review when it was decided (0015): recompute from the text. */
    features: Uint8Array | null;
    token_ids: Uint8Array | null;
    text: string | null;
    context: string | null;
    text_sha256: string;
    group_key: string | null;
  }[] = [];
  // In chunks: a large IN list is slow to plan and some drivers cap parameters.
  for (let i = 0; i < decisionIds.length; i += 2000) {
    const rows = await db
      .selectFrom('decisions as d')
      .innerJoin('content_items as i', 'i.id', 'd.item_id')
      .leftJoin('item_splits as s', 's.item_id', 'd.item_id')
      .select(['d.id', 'd.item_id', 'd.backbone_id', 'd.features', 'd.token_ids', 'i.text', 'i.context', textSha256Of('i').as('text_sha256'), 's.group_key'])
      .where('d.id', 'in', decisionIds.slice(i, i + 2000))
      .execute();
    out.push(...rows);
  }
  return out;
}

/** Features (and token ids) kept for items on a backbone that did not score them (migration 0014). */
export async function cachedItemFeatures(db: Executor, backboneId: string, itemIds: string[]) {
  const out: { item_id: string; features: Uint8Array; token_ids: Uint8Array | null }[] = [];
  for (let i = 0; i < itemIds.length; i += 2000) {
    out.push(
      ...(await db
        .selectFrom('item_features')
        .select(['item_id', 'features', 'token_ids'])
        .where('backbone_id', '=', backboneId)
        .where('item_id', 'in', itemIds.slice(i, i + 2000))
        .execute()),
    );
  }
  return out;
}

/** Keeps items' recomputed features on a backbone (replacing what was there: a recompute may add token ids). */
export async function saveItemFeatures(db: Executor, backboneId: string, rows: { itemId: string; features: Uint8Array; tokenIds: Uint8Array | null }[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('item_features')
      .values(rows.slice(i, i + 500).map((r) => ({ item_id: r.itemId, backbone_id: backboneId, features: r.features, token_ids: r.tokenIds })))
      .onConflict((oc) => oc.columns(['backbone_id', 'item_id']).doUpdateSet((eb) => ({ features: eb.ref('excluded.features'), token_ids: eb.ref('excluded.token_ids') })))
      .execute();
  }
}

/**
 * Keeps out-of-fold scores of items no calibrated head scored (migration 0017); an item's first kept score
 * stays (a later run's fold models may have trained on the item as an earlier run's did not).
 */
export async function saveItemScores(db: Executor, runId: string, rows: { itemId: string; category: string; score: number }[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    await db
      .insertInto('item_scores')
      .values(rows.slice(i, i + 1000).map((r) => ({ item_id: r.itemId, category: r.category, score: r.score, training_run_id: runId })))
      .onConflict((oc) => oc.columns(['item_id', 'category']).doNothing())
      .execute();
  }
}

/**
 * The last run that trained (promoted or rejected) on a backbone: the highest label id it saw. A
 * superseded run does not count: its candidate was compared with a head that is no longer active.
 */
export async function lastTrainedSnapshot(db: Executor, backboneId: string): Promise<{ id: string; maxLabelId: number } | undefined> {
  return lastSnapshot(db, backboneId, ['promoted', 'rejected']);
}

/**
 * The last run whose labels the drift check looked at (one that trained, or was held): the next batch
 * starts after its highest label id.
 */
export async function lastCheckedSnapshot(db: Executor, backboneId: string): Promise<{ id: string; maxLabelId: number } | undefined> {
  return lastSnapshot(db, backboneId, ['promoted', 'rejected', 'superseded', 'held']);
}

async function lastSnapshot(db: Executor, backboneId: string, statuses: RunStatus[]): Promise<{ id: string; maxLabelId: number } | undefined> {
  return (await lastSnapshots(db, backboneId, statuses, 1))[0];
}

/**
 * The highest label ids of the last `n` runs the drift check looked at, newest first: the cumulative
 * check's window starts after the oldest of them.
 */
export async function lastCheckedSnapshots(db: Executor, backboneId: string, n: number): Promise<{ id: string; maxLabelId: number }[]> {
  return lastSnapshots(db, backboneId, ['promoted', 'rejected', 'superseded', 'held'], n);
}

async function lastSnapshots(db: Executor, backboneId: string, statuses: RunStatus[], n: number): Promise<{ id: string; maxLabelId: number }[]> {
  const rows = await db
    .selectFrom('training_runs')
    .select(['id', sql<number | null>`(data_snapshot ->> 'max_label_id')::bigint`.as('max_label_id')])
    .where('status', 'in', statuses)
    .where(sql`data_snapshot ->> 'backbone_id'`, '=', backboneId)
    .orderBy('finished_at', 'desc')
    .limit(n)
    .execute();
  // Runs from before labels had ids recorded no max_label_id: they do not hold a new run back.
  const out: { id: string; maxLabelId: number }[] = [];
  for (const r of rows) {
    if (r.max_label_id === null) break;
    out.push({ id: r.id, maxLabelId: Number(r.max_label_id) });
  }
  return out;
}

export interface NewHold {
  id: string;
  runId: string;
  category: string;
  moderator: string | null;
  fromLabelId: number;
  toLabelId: number;
  labels: number;
  reason: string;
}

export async function insertHolds(db: Executor, holds: NewHold[]): Promise<void> {
  if (holds.length === 0) return;
  await db
    .insertInto('label_holds')
    .values(
      holds.map((h) => ({
        id: h.id,
        training_run_id: h.runId,
        category: h.category,
        moderator_key_id: h.moderator,
        from_label_id: h.fromLabelId,
        to_label_id: h.toLabelId,
        labels: h.labels,
        reason: h.reason,
        decided_by: null,
        decided_at: null,
        note: null,
      })),
    )
    .execute();
}

export async function listHolds(db: Executor, status?: HoldStatus) {
  const rows = await db
    .selectFrom('label_holds')
    .selectAll()
    .$if(!!status, (qb) => qb.where('status', '=', status!))
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((r) => ({ ...r, from_label_id: Number(r.from_label_id), to_label_id: Number(r.to_label_id) }));
}

/** Accepts or discards a hold that is still held; false when there is no such held hold. */
export async function decideHold(db: Executor, id: string, status: Exclude<HoldStatus, 'held'>, by: string, note: string | null): Promise<boolean> {
  const r = await db
    .updateTable('label_holds')
    .set({ status, decided_by: by, decided_at: sql`now()`, note })
    .where('id', '=', id)
    .where('status', '=', 'held')
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** How many runs ended (or are) in each status. */
export async function runCounts(db: Executor): Promise<Record<string, number>> {
  const rows = await db.selectFrom('training_runs').select((eb) => ['status', eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** The newest run that reached the gate: both heads' eval accuracy, whether it passed, when it ended. */
export async function lastGate(db: Executor) {
  const r = await db
    .selectFrom('training_runs')
    .select([
      'finished_at',
      sql<number | null>`(eval_report -> 'candidate' ->> 'accuracy')::float8`.as('candidate'),
      sql<number | null>`(eval_report -> 'active' ->> 'accuracy')::float8`.as('active'),
      sql<number | null>`(eval_report -> 'measure' -> 'candidate' ->> 'auprc')::float8`.as('candidate_auprc'),
      sql<number | null>`(eval_report -> 'measure' -> 'active' ->> 'auprc')::float8`.as('active_auprc'),
      sql<boolean | null>`(gate ->> 'passed')::boolean`.as('passed'),
    ])
    .where('gate', 'is not', null)
    .where('finished_at', 'is not', null)
    .orderBy('finished_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r
    ? {
        candidate: r.candidate,
        active: r.active,
        auprc: { candidate: r.candidate_auprc, active: r.active_auprc },
        passed: r.passed === true,
        finishedAt: new Date(r.finished_at!).getTime(),
      }
    : null;
}

/** A settled label on a decision of `headId` that only blind reviewers gave, with what the decision was scored on. */
export interface BlindLabel {
  taskId: string;
  category: string;
  label: boolean;
  modelLabel: boolean;
  /** Null only for an item that was not routed when decided (an appeal): the guard leaves it out. */
  features: Uint8Array | null;
  tokenIds: Uint8Array | null;
  /** The item's text (null once retention purged it): an n-gram part reads it. */
  text: string | null;
}

/**
 * The settled labels on `headId`'s decisions whose reviewers were all blind (the promotion guard's
 * units): a moderator shown the head's decision leans toward it.
 */
export async function blindLabelsOfHead(db: Executor, headId: string): Promise<BlindLabel[]> {
  const rows = await db
    .selectFrom('review_labels as l')
    .innerJoin('decisions as d', 'd.id', 'l.decision_id')
    .innerJoin('content_items as i', 'i.id', 'd.item_id')
    .select(['l.task_id', 'l.category', 'l.label', 'l.model_label', 'd.features', 'd.token_ids', 'i.text'])
    .where('d.head_id', '=', headId)
    .where('l.label', 'is not', null)
    .where(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('reviews as r').select(sql`1`.as('one')).whereRef('r.task_id', '=', 'l.task_id').where('r.blind', '=', false))),
    )
    .execute();
  return rows.map((r) => ({ taskId: r.task_id, category: r.category, label: r.label!, modelLabel: r.model_label, features: r.features, tokenIds: r.token_ids, text: r.text }));
}

/** The run a head came from, as the registry shows it. */
export async function runSummary(db: Executor, id: string) {
  return db.selectFrom('training_runs').select(['id', 'trigger', 'status', 'created_at', 'finished_at', 'gate']).where('id', '=', id).executeTakeFirst();
}
