/**
 * The head registry as the API shows it: versions, lineage, data snapshot, metrics, activations, shadow
 * stats, a head's weights; and registering an imported model directory (what `model:import` does through
 * the API when a server holds the embedded database).
 */
import path from 'node:path';
import type { DB } from '../db/database.js';
import { badRequest, notFound } from '../errors.js';
import { loadModelDir, type ModelDir } from '../inference/model-dir.js';
import { getShadowStats } from '../moderation/shadow.repository.js';
import type { PolicyRegistry } from '../policy/registry.js';
import { runSummary } from '../tuning/training.repository.js';
import type { ActivationActor } from '../models/activation.js';
import * as repo from '../models/head.repository.js';
import { registerBackbone } from '../models/model.service.js';

const base64 = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

export class RegistryService {
  constructor(private readonly db: DB) {}

  async list() {
    return (await repo.listHeads(this.db)).map((h) => ({ ...h, active: h.status === 'active' }));
  }

  /** The activation history across heads, newest first (`id` as a number: it is a bigint sequence). */
  async activations(limit: number) {
    return (await repo.listActivations(this.db, limit)).map((a) => ({ ...a, id: Number(a.id) }));
  }

  /**
   * Registers the model directory `dir` (inside `modelsRoot`, the server's models directory) as a
   * backbone with its own classifier as the base head, or finds it registered already (same sha256).
   * Activation stays a separate step; `activation_warning` says why it would be refused, if it would.
   */
  async register(dir: string, name: string, modelsRoot: string, policies: PolicyRegistry, actor: ActivationActor) {
    const root = path.resolve(modelsRoot);
    const abs = path.resolve(dir);
    if (!path.isAbsolute(dir) || (abs !== root && !abs.startsWith(root + path.sep))) {
      throw badRequest(
        'invalid_request',
        `path must be an absolute path inside ${root} (the server's models directory), not '${dir}': import into it (model:import's default, or --out under it)`,
      );
    }
    let model: ModelDir;
    try {
      model = await loadModelDir(abs);
    } catch (err) {
      throw badRequest('invalid_model', `${abs} is not a model directory this server can load: ${(err as Error).message}`);
    }
    return this.registerLoaded(model, name, policies, actor);
  }

  /** Registers a loaded model directory, or finds it registered (what `register` and model:import share). */
  async registerLoaded(model: ModelDir, name: string, policies: PolicyRegistry, actor: ActivationActor) {
    const existing = await repo.findBackboneBySha(this.db, model.sha256);
    const { backbone, head } = existing
      ? { backbone: existing, head: (await repo.findBaseHead(this.db, existing.id))! }
      : await this.db.transaction().execute((trx) => registerBackbone(trx, model, 'import', name, actor));
    let warning: string | null = null;
    try {
      policies.bind(repo.labelSpace(backbone));
    } catch (err) {
      warning = (err as Error).message;
    }
    return {
      registered: !existing,
      backbone: { id: backbone.id, name: backbone.name, path: backbone.path, sha256: backbone.sha256 },
      base_head: { id: head.id, version: head.version },
      activation_warning: warning,
    };
  }

  /** A head's weights (little-endian float32 / int32, base64) and where its backbone lives, for model:export. */
  async weights(id: string) {
    const head = await repo.getHead(this.db, id);
    if (!head) throw notFound('head version', id);
    const backbone = (await repo.getBackbone(this.db, head.backboneId))!;
    return {
      id: head.id,
      version: head.version,
      status: head.status,
      backbone: { id: backbone.id, name: backbone.name, path: backbone.path, sha256: backbone.sha256 },
      num_labels: head.numLabels,
      dim: head.dim,
      weight: base64(head.weight),
      bias: base64(head.bias),
      lexical: head.lexical ? { tokens: base64(head.lexical.tokens), weight: base64(head.lexical.weight) } : null,
      ngrams: head.ngrams
        ? { config: head.ngrams.config, rows: base64(head.ngrams.rows), buckets: base64(head.ngrams.buckets), weight: base64(head.ngrams.weight) }
        : null,
    };
  }

  /** The id of head version `version` of the active head's backbone (404 if there is none). */
  async idOfVersion(version: number): Promise<string> {
    const active = await repo.getActiveHead(this.db);
    const id = active ? await repo.headIdOfVersion(this.db, active.backboneId, version) : undefined;
    if (!id) throw notFound('head version', String(version));
    return id;
  }

  async get(id: string) {
    const head = await repo.getHead(this.db, id);
    if (!head) throw notFound('head version', id);
    const backbone = await repo.getBackbone(this.db, head.backboneId);
    const lineage: { id: string; version: number; status: string; source: string }[] = [];
    for (let p = head.parentId; p; ) {
      const parent = await repo.getHead(this.db, p);
      if (!parent) break;
      lineage.push({ id: parent.id, version: parent.version, status: parent.status, source: parent.source });
      p = parent.parentId;
    }
    const run = head.trainingRunId ? await runSummary(this.db, head.trainingRunId) : null;
    const shadow = await getShadowStats(this.db, id);
    return {
      id: head.id,
      version: head.version,
      status: head.status,
      source: head.source,
      backbone: backbone && { id: backbone.id, name: backbone.name, sha256: backbone.sha256, labels: backbone.labels, feature_dim: backbone.featureDim, problem_type: backbone.problemType, hub: backbone.hub },
      parent_id: head.parentId,
      lineage,
      hyperparameters: head.hyperparameters,
      /** How many tokens the head's token-level lexical part has weights for (0: none). */
      lexical_tokens: head.lexical?.tokens.length ?? 0,
      /** The n-gram part: its config, the labels it feeds and how many buckets have weights (null: none). */
      ngrams: head.ngrams
        ? { config: head.ngrams.config, labels: [...head.ngrams.rows].map((r) => backbone?.labels[r] ?? String(r)), buckets: head.ngrams.buckets.length }
        : null,
      data_snapshot: head.dataSnapshot,
      metrics: head.metrics,
      training_run: run ?? null,
      activations: await repo.headActivations(this.db, id),
      shadow: shadow
        ? {
            against_head_id: shadow.againstHeadId,
            decisions: shadow.decisions,
            action_differs: shadow.actionDiffers,
            action_difference_rate: shadow.decisions ? shadow.actionDiffers / shadow.decisions : null,
            category_flips: shadow.categoryFlips,
            updated_at: shadow.updatedAt,
          }
        : null,
      created_at: head.createdAt,
      promoted_at: head.promotedAt,
      retired_at: head.retiredAt,
    };
  }
}
