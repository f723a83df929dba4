/** Training runs and the data they read: the only code in tuning/ that touches the database. */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';
import type { RunStatus, RunTrigger } from '../db/schema/training.js';

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

export async function updateRun(db: Executor, id: string, u: RunUpdate): Promise<void> {
  await db
    .updateTable('training_runs')
    .set({
      ...(u.status ? { status: u.status } : {}),
      ...(u.referenceHeadId !== undefined ? { reference_head_id: u.referenceHeadId } : {}),
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
    .execute();
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
      sql<number | null>`jsonb_array_length(metrics -> 'steps')`.as('logged_steps'),
      sql<number | null>`(metrics -> 'epochs' -> -1 ->> 'loss')::float8`.as('final_loss'),
      sql<number | null>`(metrics -> 'epochs' -> -1 ->> 'rewards/margins')::float8`.as('final_margin'),
    ])
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
}

export async function runningRun(db: Executor) {
  return db.selectFrom('training_runs').select(['id', 'replica', 'started_at']).where('status', '=', 'running').executeTakeFirst();
}

/** Runs a crashed process left behind; called only while holding the training lock. */
export async function failAbandonedRuns(db: Executor): Promise<string[]> {
  const rows = await db
    .updateTable('training_runs')
    .set({
      status: 'failed',
      error: sql<string>`case when status = 'running' then 'the process running it stopped before it finished' else 'the process that queued it stopped before it started' end`,
      finished_at: sql<Date>`now()`,
    })
    .where('status', 'in', ['running', 'queued'])
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

interface WithFeatures {
  item_id: string;
  category: string;
  features: Uint8Array;
  /** The backbone whose features these are; other backbones' need recomputing from the text. */
  backbone_id: string;
  text: string | null;
  context: string | null;
}

export interface PairRow extends WithFeatures {
  id: number;
  chosen: boolean;
}

/** Train-split pairs, the latest per (item, category), up to a snapshot id, on any backbone. */
export async function loadTrainPairs(db: Executor, maxId: number): Promise<PairRow[]> {
  return db
    .selectFrom('preference_pairs as p')
    .innerJoin('decisions as d', 'd.id', 'p.decision_id')
    .innerJoin('content_items as i', 'i.id', 'p.item_id')
    .distinctOn(['p.item_id', 'p.category'])
    .select(['p.id', 'p.item_id', 'p.category', 'p.chosen', 'd.features', 'd.backbone_id', 'i.text', 'i.context'])
    .where('p.split', '=', 'train')
    .where('p.id', '<=', maxId)
    .orderBy('p.item_id')
    .orderBy('p.category')
    .orderBy('p.id', 'desc')
    .execute();
}

export async function pairSnapshot(db: Executor) {
  const r = await db
    .selectFrom('preference_pairs')
    .select((eb) => [eb.fn.max('id').as('max_id'), eb.fn.countAll<number>().as('all')])
    .where('split', '=', 'train')
    .executeTakeFirstOrThrow();
  return { maxId: Number(r.max_id ?? 0), all: Number(r.all) };
}

export interface LabelRow extends WithFeatures {
  label: boolean;
  model_label: boolean;
}

/** Settled labels for a split, latest per (item, category), on any backbone. */
export async function loadLabels(db: Executor, split: 'train' | 'eval', until: Date): Promise<LabelRow[]> {
  const rows = await db
    .selectFrom('review_labels as l')
    .innerJoin('decisions as d', 'd.id', 'l.decision_id')
    .innerJoin('content_items as i', 'i.id', 'l.item_id')
    .distinctOn(['l.item_id', 'l.category'])
    .select(['l.item_id', 'l.category', 'l.label', 'l.model_label', 'd.features', 'd.backbone_id', 'i.text', 'i.context'])
    .where('l.split', '=', split)
    .where('l.label', 'is not', null)
    .where('l.created_at', '<=', until)
    .orderBy('l.item_id')
    .orderBy('l.category')
    .orderBy('l.created_at', 'desc')
    .execute();
  return rows as LabelRow[];
}

/** The last run that trained (promoted or rejected) on a backbone: its snapshot's highest pair id. */
export async function lastTrainedSnapshot(db: Executor, backboneId: string): Promise<{ id: string; maxPairId: number } | undefined> {
  const r = await db
    .selectFrom('training_runs')
    .select(['id', sql<number>`(data_snapshot ->> 'max_pair_id')::bigint`.as('max_pair_id')])
    .where('status', 'in', ['promoted', 'rejected'])
    .where(sql`data_snapshot ->> 'backbone_id'`, '=', backboneId)
    .orderBy('finished_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r ? { id: r.id, maxPairId: Number(r.max_pair_id) } : undefined;
}
