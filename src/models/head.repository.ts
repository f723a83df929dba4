/**
 * Backbones (ONNX feature extractors) and head versions (the classifiers the database holds).
 * The only code that touches those tables.
 */
import { sql, type Selectable } from 'kysely';
import type { Executor } from '../db/database.js';
import type { BackbonesTable } from '../db/schema/backbones.js';
import type { HeadStatus, HeadVersionsTable } from '../db/schema/head-versions.js';
import { bytesToFloat32, bytesToInt32, checkHeadShape, float32ToBytes, int32ToBytes, type Head, type HeadWeights } from '../inference/head.js';
import { labelMapOf } from '../inference/model-dir.js';
import type { NgramConfig } from '../inference/ngrams.js';
import type { LabelSpace } from '../policy/label-mapping.js';

export interface BackboneRow {
  id: string;
  name: string;
  sha256: string;
  path: string;
  featureDim: number;
  labels: string[];
  problemType: string;
  /** The model's own label map (config.json modtune.label_map). */
  labelMap: Record<string, string[]>;
  /** Where it was pulled from (config.json modtune.import.hub: repo, revision, commit, file sha256s), if pulled. */
  hub: Record<string, unknown> | null;
  createdAt: Date;
}

/** What policies map onto: a backbone's labels. */
export function labelSpace(b: BackboneRow): LabelSpace {
  return { labels: b.labels, problemType: b.problemType === 'single_label' ? 'single_label' : 'multi_label', labelMap: b.labelMap };
}

export interface HeadRow extends Head {
  id: string;
  backboneId: string;
  version: number;
  parentId: string | null;
  status: HeadStatus;
  source: string;
  hyperparameters: Record<string, unknown>;
  metrics: Record<string, unknown>;
  dataSnapshot: Record<string, unknown> | null;
  trainingRunId: string | null;
  createdAt: Date;
  promotedAt: Date | null;
  retiredAt: Date | null;
}

export async function findBackboneBySha(db: Executor, sha256: string): Promise<BackboneRow | undefined> {
  const r = await db.selectFrom('backbones').selectAll().where('sha256', '=', sha256).executeTakeFirst();
  return r && toBackbone(r);
}

export async function getBackbone(db: Executor, id: string): Promise<BackboneRow | undefined> {
  const r = await db.selectFrom('backbones').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toBackbone(r);
}

export async function insertBackbone(
  db: Executor,
  b: Omit<BackboneRow, 'createdAt' | 'labelMap'> & { config: Record<string, unknown> },
): Promise<void> {
  await db
    .insertInto('backbones')
    .values({
      id: b.id,
      name: b.name,
      sha256: b.sha256,
      path: b.path,
      feature_dim: b.featureDim,
      labels: JSON.stringify(b.labels),
      problem_type: b.problemType,
      config: JSON.stringify(b.config),
    })
    .execute();
}

export async function insertHead(
  db: Executor,
  h: {
    id: string;
    backboneId: string;
    parentId: string | null;
    status: HeadStatus;
    source: string;
    head: HeadWeights & { lexical?: Head['lexical']; ngrams?: Head['ngrams'] };
    hyperparameters?: Record<string, unknown>;
    metrics?: Record<string, unknown>;
    dataSnapshot?: Record<string, unknown> | null;
    trainingRunId?: string | null;
  },
): Promise<number> {
  // Nothing malformed is stored: every scorer trusts a stored head's shape.
  checkHeadShape(h.head);
  const next = await db
    .selectFrom('head_versions')
    .select(sql<number>`coalesce(max(version), 0) + 1`.as('v'))
    .where('backbone_id', '=', h.backboneId)
    .executeTakeFirstOrThrow();
  await db
    .insertInto('head_versions')
    .values({
      id: h.id,
      backbone_id: h.backboneId,
      version: next.v,
      parent_id: h.parentId,
      status: h.status,
      source: h.source,
      num_labels: h.head.numLabels,
      feature_dim: h.head.dim,
      weight: float32ToBytes(h.head.weight),
      bias: float32ToBytes(h.head.bias),
      lexical_tokens: h.head.lexical ? int32ToBytes(h.head.lexical.tokens) : null,
      lexical_weight: h.head.lexical ? float32ToBytes(h.head.lexical.weight) : null,
      ngram_config: h.head.ngrams ? JSON.stringify(h.head.ngrams.config) : null,
      ngram_rows: h.head.ngrams ? int32ToBytes(h.head.ngrams.rows) : null,
      ngram_buckets: h.head.ngrams ? int32ToBytes(h.head.ngrams.buckets) : null,
      ngram_weights: h.head.ngrams ? float32ToBytes(h.head.ngrams.weight) : null,
      hyperparameters: JSON.stringify(h.hyperparameters ?? {}),
      metrics: JSON.stringify(h.metrics ?? {}),
      data_snapshot: h.dataSnapshot ? JSON.stringify(h.dataSnapshot) : null,
      training_run_id: h.trainingRunId ?? null,
    })
    .execute();
  return next.v;
}

export async function getHead(db: Executor, id: string): Promise<HeadRow | undefined> {
  const r = await db.selectFrom('head_versions').selectAll().where('id', '=', id).executeTakeFirst();
  return r && toHead(r);
}

export async function headIdOfVersion(db: Executor, backboneId: string, version: number): Promise<string | undefined> {
  const r = await db.selectFrom('head_versions').select('id').where('backbone_id', '=', backboneId).where('version', '=', version).executeTakeFirst();
  return r?.id;
}

export async function getActiveHead(db: Executor): Promise<HeadRow | undefined> {
  const r = await db.selectFrom('head_versions').selectAll().where('status', '=', 'active').executeTakeFirst();
  return r && toHead(r);
}

export async function findBaseHead(db: Executor, backboneId: string): Promise<HeadRow | undefined> {
  const r = await db
    .selectFrom('head_versions')
    .selectAll()
    .where('backbone_id', '=', backboneId)
    .where('parent_id', 'is', null)
    .orderBy('version')
    .executeTakeFirst();
  return r && toHead(r);
}

/**
 * Makes `headId` the one active head. Runs inside the caller's transaction; the partial unique index
 * on status = 'active' makes a concurrent second activation fail instead of leaving two.
 */
export async function activateHead(
  db: Executor,
  headId: string,
  opts: { reason: string; actor: string; rollback?: boolean },
): Promise<{ previousId: string | null }> {
  const current = await lockActiveHead(db);
  if (current?.id === headId) return { previousId: headId };
  if (current) {
    // A head its gate rejected (activated by hand, say for a what-if) stays marked rejected when it leaves.
    await db
      .updateTable('head_versions')
      .set({ status: sql`case when metrics ->> 'gate_passed' = 'false' then 'rejected' else 'retired' end`, retired_at: sql`now()` })
      .where('id', '=', current.id)
      .execute();
  }
  await db
    .updateTable('head_versions')
    .set({ status: 'active', promoted_at: sql`now()`, retired_at: null })
    .where('id', '=', headId)
    .execute();
  await db
    .insertInto('head_activations')
    .values({ head_id: headId, previous_head_id: current?.id ?? null, reason: opts.reason, actor: opts.actor, rollback: opts.rollback ?? false })
    .execute();
  return { previousId: current?.id ?? null };
}

/**
 * The newest head trained after `active`, of the same backbone, that is not active (the one shadow
 * scoring compares with it).
 */
export async function newestShadowHeadId(db: Executor, active: { backboneId: string; createdAt: Date }): Promise<string | undefined> {
  const r = await db
    .selectFrom('head_versions')
    .select('id')
    .where('backbone_id', '=', active.backboneId)
    .where('status', 'in', ['candidate', 'rejected'])
    .where('created_at', '>', active.createdAt)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r?.id;
}

/** Merges `metrics` into the head's metrics (top-level keys replaced). */
export async function mergeHeadMetrics(db: Executor, headId: string, metrics: Record<string, unknown>): Promise<void> {
  await db
    .updateTable('head_versions')
    .set({ metrics: sql`metrics || ${JSON.stringify(metrics)}::jsonb` })
    .where('id', '=', headId)
    .execute();
}

/** Arbitrary constant key for the bootstrap advisory lock. */
const BOOTSTRAP_LOCK = 0x6d6f6474;

/** Serialises replicas registering the bootstrap model: held until the transaction ends. */
export async function lockBootstrap(db: Executor): Promise<void> {
  await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(db);
}

/** The active head's id, its row locked until the transaction ends (promotion and activation serialise on it). */
export async function lockActiveHead(db: Executor): Promise<{ id: string } | undefined> {
  return db.selectFrom('head_versions').select('id').where('status', '=', 'active').forUpdate().executeTakeFirst();
}

/**
 * Where a rollback from `headId` goes: the head that was active before `headId` was last activated other
 * than by a rollback. So rollbacks walk back the history (C → B → A) and never return to a head they
 * left; null when there is nothing earlier.
 */
export async function rollbackTarget(db: Executor, headId: string): Promise<string | null> {
  const r = await db
    .selectFrom('head_activations')
    .select('previous_head_id')
    .where('head_id', '=', headId)
    .where('rollback', '=', false)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r?.previous_head_id ?? null;
}

type BackboneDb = Selectable<BackbonesTable>;

function toBackbone(r: BackboneDb): BackboneRow {
  return {
    id: r.id,
    name: r.name,
    sha256: r.sha256,
    path: r.path,
    featureDim: r.feature_dim,
    labels: r.labels,
    problemType: r.problem_type,
    labelMap: labelMapOf((r.config as { modtune?: { label_map?: Record<string, string | string[] | null> } }).modtune?.label_map),
    hub: (r.config as { modtune?: { import?: { hub?: Record<string, unknown> } } }).modtune?.import?.hub ?? null,
    createdAt: r.created_at,
  };
}

type HeadDb = Selectable<HeadVersionsTable>;

function toHead(r: HeadDb): HeadRow {
  return {
    id: r.id,
    backboneId: r.backbone_id,
    version: r.version,
    parentId: r.parent_id,
    status: r.status,
    source: r.source,
    numLabels: r.num_labels,
    dim: r.feature_dim,
    weight: bytesToFloat32(r.weight),
    bias: bytesToFloat32(r.bias),
    lexical: r.lexical_tokens && r.lexical_weight ? { tokens: bytesToInt32(r.lexical_tokens), weight: bytesToFloat32(r.lexical_weight) } : null,
    ngrams:
      r.ngram_config && r.ngram_rows && r.ngram_buckets && r.ngram_weights
        ? {
            config: r.ngram_config as unknown as NgramConfig,
            rows: bytesToInt32(r.ngram_rows),
            buckets: bytesToInt32(r.ngram_buckets),
            weight: bytesToFloat32(r.ngram_weights),
          }
        : null,
    hyperparameters: r.hyperparameters,
    metrics: r.metrics,
    dataSnapshot: r.data_snapshot,
    trainingRunId: r.training_run_id,
    createdAt: r.created_at,
    promotedAt: r.promoted_at,
    retiredAt: r.retired_at,
  };
}

export const ACTIVE_HEAD_CHANNEL = 'modtune_active_head';

/** Tells every replica (LISTEN on ACTIVE_HEAD_CHANNEL) that the active head changed; sent on commit. */
export async function notifyActiveHead(db: Executor, headId: string): Promise<void> {
  await sql`select pg_notify(${ACTIVE_HEAD_CHANNEL}, ${headId})`.execute(db);
}

export async function listHeads(db: Executor) {
  return db
    .selectFrom('head_versions as h')
    .innerJoin('backbones as b', 'b.id', 'h.backbone_id')
    .select([
      'h.id',
      'h.backbone_id',
      'b.name as backbone',
      'h.version',
      'h.parent_id',
      'h.status',
      'h.source',
      'h.metrics',
      'h.training_run_id',
      'h.created_at',
      'h.promoted_at',
      'h.retired_at',
    ])
    .orderBy('h.created_at', 'desc')
    .execute();
}

/** The activation history, newest first: which head replaced which (with both version numbers), why, by whom. */
export async function listActivations(db: Executor, limit: number) {
  return db
    .selectFrom('head_activations as a')
    .innerJoin('head_versions as h', 'h.id', 'a.head_id')
    .leftJoin('head_versions as p', 'p.id', 'a.previous_head_id')
    .select([
      'a.id',
      'a.at',
      'a.head_id',
      'h.version as head_version',
      'a.previous_head_id',
      'p.version as previous_version',
      'a.rollback',
      'a.reason',
      'a.actor',
    ])
    .orderBy('a.id', 'desc')
    .limit(limit)
    .execute();
}

export async function headActivations(db: Executor, headId: string) {
  return db
    .selectFrom('head_activations')
    .selectAll()
    .where((eb) => eb.or([eb('head_id', '=', headId), eb('previous_head_id', '=', headId)]))
    .orderBy('id')
    .execute();
}
