/**
 * Rows for medium and e2e tests, written through the repositories the service itself writes with (so a
 * row a test makes is one the service could have made), with defaults a test overrides only where the
 * value is its point; and the few readers tests repeat. Where no repository writes or reads what a test
 * needs (a lease handed to another moderator, a row count), kysely is used here and nowhere else in test/.
 */
import { createHash } from 'node:crypto';
import { sql, type Selectable } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { DatabaseSchema, Executor } from '../../src/db/database.js';
import type { AuditEventsTable } from '../../src/db/schema/audit-events.js';
import type { HeadStatus } from '../../src/db/schema/head-versions.js';
import type { ReviewLabelsTable, ReviewsTable, ReviewTasksTable, Split } from '../../src/db/schema/review.js';
import { insertItemsAndDecisions, type NewDecision, type NewItem } from '../../src/moderation/moderation.repository.js';
import { insertBackbone, insertHead } from '../../src/models/head.repository.js';
import { recordPolicyVersion } from '../../src/policy/policy.repository.js';
import { insertTasks, type NewTask } from '../../src/review/review.repository.js';
import { insertLabels } from '../../src/review/settled-labels.repository.js';
import { textSha256Bytes } from '../../src/review/split.js';

// ---- The model a decision hangs on: a policy version, a backbone, a head ----

export interface BackboneOverrides {
  id?: string;
  name?: string;
  sha256?: string;
  path?: string;
  featureDim?: number;
  labels?: string[];
  problemType?: string;
  config?: Record<string, unknown>;
}

/** A backbone (1-dimensional, one label `x`, multi-label unless overridden); returns its id. */
export async function createBackbone(db: Executor, o: BackboneOverrides = {}): Promise<string> {
  const id = o.id ?? uuidv7();
  await insertBackbone(db, {
    id,
    name: o.name ?? 'b',
    sha256: o.sha256 ?? createHash('sha256').update(id).digest('hex'),
    path: o.path ?? '/m',
    featureDim: o.featureDim ?? 1,
    labels: o.labels ?? ['x'],
    problemType: o.problemType ?? 'multi_label',
    hub: null,
    config: o.config ?? {},
  });
  return id;
}

export interface HeadOverrides {
  id?: string;
  parentId?: string | null;
  status?: HeadStatus;
  source?: string;
  /** The head's shape (zero weights): one label over one feature unless given. */
  numLabels?: number;
  dim?: number;
  /** Exact weights, instead of zeros of the shape above. */
  weights?: { numLabels: number; dim: number; weight: Float32Array; bias: Float32Array };
  hyperparameters?: Record<string, unknown>;
  metrics?: Record<string, unknown>;
  dataSnapshot?: Record<string, unknown> | null;
}

/** A head of `backboneId` (a candidate of zero weights unless overridden), at the backbone's next version. */
export async function createHead(db: Executor, backboneId: string, o: HeadOverrides = {}): Promise<{ id: string; version: number }> {
  const id = o.id ?? uuidv7();
  const numLabels = o.weights?.numLabels ?? o.numLabels ?? 1;
  const dim = o.weights?.dim ?? o.dim ?? 1;
  const head = o.weights ?? { numLabels, dim, weight: new Float32Array(numLabels * dim), bias: new Float32Array(numLabels) };
  const version = await insertHead(db, {
    id,
    backboneId,
    parentId: o.parentId ?? null,
    status: o.status ?? 'candidate',
    source: o.source ?? 't',
    head: { numLabels: head.numLabels, dim: head.dim, weight: head.weight, bias: head.bias, lexical: null },
    hyperparameters: o.hyperparameters,
    metrics: o.metrics,
    dataSnapshot: o.dataSnapshot,
  });
  return { id, version };
}

/**
 * What a decision's foreign keys need: policy `p`@`v` recorded, a backbone and an active head on it
 * (the head's row marked active, without an activation: nothing here serves it).
 */
export async function seedModel(
  db: Executor,
  o: { policy?: { name: string; version: string; categories?: string[] }; backbone?: BackboneOverrides; head?: HeadOverrides } = {},
): Promise<{ policyName: string; policyVersion: string; backboneId: string; headId: string }> {
  const policy = { categories: ['x'], ...(o.policy ?? { name: 'p', version: 'v' }) };
  await recordPolicyVersion(db, { ...policy, source: '' });
  const backboneId = await createBackbone(db, o.backbone);
  const { id: headId } = await createHead(db, backboneId, { status: 'active', ...o.head });
  return { policyName: policy.name, policyVersion: policy.version, backboneId, headId };
}

// ---- Items, decisions, review tasks, settled labels ----

/** An item as the decision writer takes it: text `t` and its hash, no ids from the platform. */
export function newItem(o: Partial<NewItem> = {}): NewItem {
  const text = o.text ?? 't';
  return {
    id: uuidv7(),
    externalId: null,
    authorId: null,
    threadId: null,
    context: null,
    textSha256: textSha256Bytes(text),
    clientKeyId: null,
    ...o,
    text,
  };
}

/** What a decision needs from the model it was made with: the ids `seedModel` returns. */
export interface DecisionModel {
  policyName: string;
  policyVersion: string;
  backboneId: string;
  headId: string;
}

/**
 * A decision as the decision writer takes it: `allow` on one category `x` scored 0.1, with a 1-dimensional
 * feature vector and one token (what a decision routed to review keeps).
 */
export function newDecision(itemId: string, model: DecisionModel, o: Partial<NewDecision> = {}): NewDecision {
  return {
    id: uuidv7(),
    itemId,
    requestId: 'r',
    policyName: model.policyName,
    policyVersion: model.policyVersion,
    backboneId: model.backboneId,
    headId: model.headId,
    action: 'allow',
    flagged: false,
    categoryScores: { x: 0.1 },
    categories: { x: false },
    features: new Uint8Array(4),
    tokenIds: new Uint8Array(4),
    tokenCount: 1,
    truncated: false,
    ...o,
  };
}

/** An item and its decision, stored; returns both ids. */
export async function createDecision(
  db: Executor,
  model: DecisionModel,
  o: { item?: Partial<NewItem>; decision?: Partial<NewDecision> } = {},
): Promise<{ itemId: string; decisionId: string }> {
  const item = newItem(o.item);
  const decision = newDecision(item.id, model, o.decision);
  await insertItemsAndDecisions(db, [item], [decision]);
  return { itemId: item.id, decisionId: decision.id };
}

/** An open audit task on a decision: one review of the policy's categories (`x` unless given), a 300 s lease. */
export async function createTask(
  db: Executor,
  on: { itemId: string; decisionId: string; policyName: string; policyVersion: string },
  o: Partial<Omit<NewTask, 'itemId' | 'decisionId' | 'policyName' | 'policyVersion'>> = {},
): Promise<string> {
  const id = o.id ?? uuidv7();
  await insertTasks(db, [{ reason: 'audit', priority: 0, categories: ['x'], requiredReviews: 1, leaseSeconds: 300, ...o, ...on, id }]);
  return id;
}

/**
 * Settled labels of a task, one per category of `labels` (null: a dropped tie), each from one vote; the
 * model's label is `modelLabels`' (false where not given).
 */
export async function createLabels(
  db: Executor,
  task: { taskId: string; itemId: string; decisionId: string; split?: Split },
  labels: Record<string, boolean | null>,
  modelLabels: Record<string, boolean> = {},
): Promise<void> {
  await insertLabels(
    db,
    { ...task, split: task.split ?? 'train' },
    Object.entries(labels).map(([category, label]) => ({
      category,
      label,
      modelLabel: modelLabels[category] ?? false,
      votesYes: label ? 1 : 0,
      votesTotal: 1,
      conflict: false,
    })),
  );
}

// ---- Leases a test takes away (no service code does this to a task) ----

/** The task's lease now belongs to `keyId` (as if its lease ran out and another moderator claimed it). */
export async function leaseTo(db: Executor, taskId: string, keyId: string): Promise<void> {
  await db.updateTable('review_tasks').set({ leased_to: keyId }).where('id', '=', taskId).execute();
}

/** The task's lease ran out a second ago. */
export async function expireLease(db: Executor, taskId: string): Promise<void> {
  await db.updateTable('review_tasks').set({ lease_expires_at: sql<Date>`now() - interval '1 second'` }).where('id', '=', taskId).execute();
}

// ---- Readers ----

/** How many rows `table` holds (where each column of `where` equals its value). */
export async function countRows(db: Executor, table: keyof DatabaseSchema, where: Record<string, unknown> = {}): Promise<number> {
  const conditions = Object.entries(where).map(([column, value]) => sql`${sql.ref(column)} = ${value}`);
  const filter = conditions.length ? sql` where ${sql.join(conditions, sql` and `)}` : sql``;
  const r = await sql<{ n: string | number }>`select count(*) as n from ${sql.table(table)}${filter}`.execute(db);
  return Number(r.rows[0].n);
}

/** The task's row. */
export async function taskRow(db: Executor, taskId: string): Promise<Selectable<ReviewTasksTable>> {
  return db.selectFrom('review_tasks').selectAll().where('id', '=', taskId).executeTakeFirstOrThrow();
}

/** The task's reviews, oldest first. */
export async function taskReviews(db: Executor, taskId: string): Promise<Selectable<ReviewsTable>[]> {
  return db.selectFrom('reviews').selectAll().where('task_id', '=', taskId).orderBy('created_at').orderBy('id').execute();
}

/** The task's settled labels (dropped ties too), in settlement order. */
export async function taskLabels(db: Executor, taskId: string): Promise<Selectable<ReviewLabelsTable>[]> {
  return db.selectFrom('review_labels').selectAll().where('task_id', '=', taskId).orderBy('id').execute();
}

/** The open task `keyId` holds (its newest lease), if any. */
export async function heldTaskId(db: Executor, keyId: string): Promise<string | undefined> {
  const r = await db.selectFrom('review_tasks').select('id').where('leased_to', '=', keyId).where('status', '=', 'open').orderBy('leased_at', 'desc').executeTakeFirst();
  return r?.id;
}

/** Audit events with this action and/or subject, oldest first. */
export async function auditEvents(db: Executor, f: { action?: string; subjectId?: string }): Promise<Selectable<AuditEventsTable>[]> {
  return db
    .selectFrom('audit_events')
    .selectAll()
    .$if(f.action !== undefined, (qb) => qb.where('action', '=', f.action!))
    .$if(f.subjectId !== undefined, (qb) => qb.where('subject_id', '=', f.subjectId!))
    .orderBy('id')
    .execute();
}
