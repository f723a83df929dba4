/** The head registry as the API shows it: versions, lineage, data snapshot, metrics, activations, shadow stats. */
import type { DB } from '../db/database.js';
import { notFound } from '../errors.js';
import * as repo from './head.repository.js';

export class RegistryService {
  constructor(private readonly db: DB) {}

  async list() {
    return (await repo.listHeads(this.db)).map((h) => ({ ...h, active: h.status === 'active' }));
  }

  /** The activation history across heads, newest first (`id` as a number: it is a bigint sequence). */
  async activations(limit: number) {
    return (await repo.listActivations(this.db, limit)).map((a) => ({ ...a, id: Number(a.id) }));
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
    const run = head.trainingRunId
      ? await this.db
          .selectFrom('training_runs')
          .select(['id', 'trigger', 'status', 'created_at', 'finished_at', 'gate'])
          .where('id', '=', head.trainingRunId)
          .executeTakeFirst()
      : null;
    const shadow = await this.db.selectFrom('shadow_stats').selectAll().where('head_id', '=', id).executeTakeFirst();
    return {
      id: head.id,
      version: head.version,
      status: head.status,
      source: head.source,
      backbone: backbone && { id: backbone.id, name: backbone.name, sha256: backbone.sha256, labels: backbone.labels, feature_dim: backbone.featureDim },
      parent_id: head.parentId,
      lineage,
      hyperparameters: head.hyperparameters,
      /** How many tokens the head's lexical part has weights for (0: none). */
      lexical_tokens: head.lexical?.tokens.length ?? 0,
      data_snapshot: head.dataSnapshot,
      metrics: head.metrics,
      training_run: run ?? null,
      activations: await repo.headActivations(this.db, id),
      shadow: shadow
        ? {
            against_head_id: shadow.against_head_id,
            decisions: Number(shadow.decisions),
            action_differs: Number(shadow.action_differs),
            action_difference_rate: Number(shadow.decisions) ? Number(shadow.action_differs) / Number(shadow.decisions) : null,
            category_flips: shadow.category_flips,
            updated_at: shadow.updated_at,
          }
        : null,
      created_at: head.createdAt,
      promoted_at: head.promotedAt,
      retired_at: head.retiredAt,
    };
  }
}
