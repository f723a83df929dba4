/**
 * Which model serves: the active head from the database and the backbone it belongs to, running in a
 * ModelRuntime. On the very first start there is no active head, so the bootstrap model directory
 * (MODEL_DIR; the starter model, built on first use) is registered and its own classifier becomes
 * head version 1.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { sql } from 'kysely';
import type { DB, Executor } from '../db/database.js';
import type { Database } from '../db/connect.js';
import { conflict, notFound, unavailable } from '../errors.js';
import type { Logger } from '../logger.js';
import { checkHeadShape } from '../inference/head.js';
import { loadModelDir, ModelError, type ModelDir } from '../inference/model-dir.js';
import { ModelRuntime, type RuntimeOptions } from '../inference/runtime.js';
import { recordAudit } from '../audit/audit.repository.js';
import { activateInTransaction, type ActivationActor } from './activation.js';
import * as repo from './head.repository.js';
import { buildStarterModel } from './starter/build.js';

export interface ActiveModel {
  backbone: repo.BackboneRow;
  head: repo.HeadRow;
  runtime: ModelRuntime;
  /** How responses name the model: backbone and head version. */
  id: string;
}

export interface ModelServiceOptions {
  bootstrapDir: string;
  autoBuild: boolean;
  runtime: RuntimeOptions;
}


export class ModelService {
  private current: ActiveModel | null = null;
  private readonly changeListeners: ((m: ActiveModel) => void)[] = [];
  private stopWatching: (() => Promise<void>) | null = null;
  private warnedForeignHead: string | null = null;

  constructor(
    private readonly db: DB,
    private readonly opts: ModelServiceOptions,
    private readonly log: Logger,
  ) {}

  get active(): ActiveModel {
    if (!this.current) throw unavailable('model_not_loaded', 'the model is not loaded yet');
    return this.current;
  }

  get loaded(): boolean {
    return this.current !== null;
  }

  async start(): Promise<ActiveModel> {
    const activeHead = await repo.getActiveHead(this.db);
    let model: ModelDir;
    let backbone: repo.BackboneRow;
    let head: repo.HeadRow;
    if (activeHead) {
      backbone = (await repo.getBackbone(this.db, activeHead.backboneId))!;
      model = await this.loadRegistered(backbone);
      head = activeHead;
      await this.noticeBootstrapDir(backbone);
    } else {
      model = await this.loadBootstrapDir();
      ({ backbone, head } = await this.registerAndActivate(model));
    }
    checkHeadFits(head, model);
    const runtime = await ModelRuntime.start(model, this.opts.runtime, this.log);
    this.current = { backbone, head, runtime, id: modelId(backbone, head) };
    this.log.info(
      { backbone: backbone.name, backboneId: backbone.id, head: head.id, headVersion: head.version, labels: model.labels.length, dim: model.baseHead.dim },
      'model ready',
    );
    return this.current;
  }

  private async loadBootstrapDir(): Promise<ModelDir> {
    const dir = this.opts.bootstrapDir;
    const present = await fs.access(path.join(dir, 'config.json')).then(
      () => true,
      () => false,
    );
    if (!present) {
      if (!this.opts.autoBuild) {
        throw new ModelError(dir, 'no model here and MODEL_AUTO_BUILD=false; run `npm run model:build` or point MODEL_DIR at a model');
      }
      this.log.info({ dir }, 'no model found: building the starter model (first start only)');
      await buildStarterModel({ outDir: dir, onProgress: (msg) => this.log.info({ dir }, `model build: ${msg}`) });
    }
    return loadModelDir(dir);
  }

  private async loadRegistered(backbone: repo.BackboneRow): Promise<ModelDir> {
    let model: ModelDir;
    try {
      model = await loadModelDir(backbone.path);
    } catch (err) {
      // The starter model can be rebuilt byte for byte; anything else must be put back by the operator.
      if (path.resolve(backbone.path) === path.resolve(this.opts.bootstrapDir) && this.opts.autoBuild) {
        model = await this.loadBootstrapDir();
      } else {
        throw new ModelError(backbone.path, `the active backbone '${backbone.name}' cannot be loaded: ${(err as Error).message}`);
      }
    }
    if (model.sha256 !== backbone.sha256) {
      throw new ModelError(
        backbone.path,
        `model.onnx has changed since backbone '${backbone.name}' was registered (sha256 ${model.sha256.slice(0, 12)}…, ` +
          `registered ${backbone.sha256.slice(0, 12)}…); heads trained on the old features would be wrong. ` +
          'Restore the original files, or register the new model and activate one of its heads.',
      );
    }
    return model;
  }

  /** A bootstrap dir that holds a model the registry has not seen is registered (not activated) and reported. */
  private async noticeBootstrapDir(active: repo.BackboneRow): Promise<void> {
    const dir = this.opts.bootstrapDir;
    if (path.resolve(dir) === path.resolve(active.path)) return;
    let model: ModelDir;
    try {
      model = await loadModelDir(dir);
    } catch {
      return;
    }
    if (await repo.findBackboneBySha(this.db, model.sha256)) return;
    const { backbone, head } = await this.register(model);
    this.log.warn(
      { backboneId: backbone.id, headId: head.id, dir },
      'MODEL_DIR holds a model that is not the active one; registered it, activate one of its heads to switch',
    );
  }

  private register(model: ModelDir): Promise<{ backbone: repo.BackboneRow; head: repo.HeadRow }> {
    return this.db.transaction().execute((trx) => registerBackbone(trx, model));
  }

  /**
   * First start: register the bootstrap model and activate its base head. Replicas starting together
   * serialise on an advisory lock, and the loser finds the winner's active head.
   */
  private async registerAndActivate(model: ModelDir): Promise<{ backbone: repo.BackboneRow; head: repo.HeadRow }> {
    return this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`.execute(trx);
      const already = await repo.getActiveHead(trx);
      if (already) {
        const backbone = (await repo.getBackbone(trx, already.backboneId))!;
        if (backbone.sha256 !== model.sha256) {
          throw new ModelError(model.dir, `another replica activated backbone '${backbone.name}' while this one was starting; restart to load it`);
        }
        return { backbone, head: already };
      }
      const existing = await repo.findBackboneBySha(trx, model.sha256);
      const { backbone, head } = existing
        ? { backbone: existing, head: (await repo.findBaseHead(trx, existing.id))! }
        : await registerBackbone(trx, model);
      await activateInTransaction(trx, head.id, 'bootstrap', { name: 'system' });
      return { backbone, head: (await repo.getHead(trx, head.id))! };
    });
  }

  onChange(fn: (m: ActiveModel) => void): void {
    this.changeListeners.push(fn);
  }

  /**
   * Follows activations made by any replica: LISTEN/NOTIFY for speed, polling as the fallback for lost
   * notifications and dropped connections.
   */
  async watch(database: Database, pollMs: number): Promise<void> {
    const refresh = () => void this.refresh().catch((err: Error) => this.log.warn({ err: err.message }, 'could not refresh the active head'));
    const unlisten = await database.listen(repo.ACTIVE_HEAD_CHANNEL, refresh);
    const timer = setInterval(refresh, pollMs);
    timer.unref();
    this.stopWatching = async () => {
      clearInterval(timer);
      await unlisten();
    };
  }

  /** Loads the active head from the database if it is not the one being served. */
  async refresh(): Promise<void> {
    const c = this.current;
    if (!c) return;
    const head = await repo.getActiveHead(this.db);
    if (!head || head.id === c.head.id || this.current !== c) return;
    if (head.backboneId !== c.backbone.id) {
      if (this.warnedForeignHead !== head.id) {
        this.warnedForeignHead = head.id;
        this.log.error(
          { headId: head.id, backboneId: head.backboneId, serving: c.backbone.id },
          'the active head belongs to another backbone; restart this replica to load it (still serving the previous head)',
        );
      }
      return;
    }
    checkHeadShape(head);
    const previous = c.head;
    this.current = { ...c, head, id: modelId(c.backbone, head) };
    this.log.info({ from: previous.version, to: head.version, headId: head.id }, 'now serving a new active head');
    for (const fn of this.changeListeners) fn(this.current);
  }

  /** Makes a head of the loaded backbone the active one, atomically and audited, and tells every replica. */
  async activate(headId: string, reason: string, actor: ActivationActor): Promise<{ previousId: string | null }> {
    const c = this.active;
    const out = await this.db.transaction().execute(async (trx) => {
      const head = await repo.getHead(trx, headId);
      if (!head) throw notFound('head version', headId);
      if (head.backboneId !== c.backbone.id) {
        throw conflict(
          'other_backbone',
          `head ${headId} belongs to backbone ${head.backboneId}, but this service runs backbone ${c.backbone.id}; switching backbones needs the model loaded first`,
        );
      }
      checkHeadShape(head);
      return activateInTransaction(trx, headId, reason, actor);
    });
    await this.refresh();
    return out;
  }

  /** Back to the head that was active before the current one. */
  async rollback(reason: string, actor: ActivationActor): Promise<{ headId: string; previousId: string | null }> {
    const last = await repo.latestActivation(this.db);
    if (!last?.previous_head_id) throw conflict('nothing_to_roll_back', 'there is no earlier active head to roll back to');
    await this.activate(last.previous_head_id, reason, actor);
    return { headId: last.previous_head_id, previousId: last.head_id };
  }

  async stop(graceMs?: number): Promise<void> {
    await this.stopWatching?.();
    this.stopWatching = null;
    const c = this.current;
    this.current = null;
    await c?.runtime.stop(graceMs);
  }
}

/** Arbitrary constant key for the bootstrap advisory lock. */
const BOOTSTRAP_LOCK = 0x6d6f6474;

async function registerBackbone(trx: Executor, model: ModelDir): Promise<{ backbone: repo.BackboneRow; head: repo.HeadRow }> {
  const backbone: repo.BackboneRow = {
    id: uuidv7(),
    name: model.name,
    sha256: model.sha256,
    path: model.dir,
    featureDim: model.baseHead.dim,
    labels: model.labels,
    problemType: model.problemType,
    createdAt: new Date(),
  };
  await repo.insertBackbone(trx, { ...backbone, config: model.config });
  const headId = uuidv7();
  await repo.insertHead(trx, {
    id: headId,
    backboneId: backbone.id,
    parentId: null,
    status: 'base',
    source: 'model-dir',
    head: model.baseHead,
  });
  await recordAudit(trx, {
    actor: 'system',
    action: 'backbone.registered',
    subjectType: 'backbone',
    subjectId: backbone.id,
    details: { name: backbone.name, sha256: backbone.sha256, path: backbone.path, base_head: headId },
  });
  return { backbone, head: (await repo.getHead(trx, headId))! };
}

export function modelId(backbone: repo.BackboneRow, head: repo.HeadRow): string {
  return `modtune/${backbone.name}/head-v${head.version}`;
}

function checkHeadFits(head: repo.HeadRow, model: ModelDir): void {
  checkHeadShape(head);
  if (head.dim !== model.baseHead.dim || head.numLabels !== model.labels.length) {
    throw new ModelError(
      model.dir,
      `active head ${head.id} is [${head.numLabels} × ${head.dim}] but the model has ${model.labels.length} labels × ${model.baseHead.dim} features`,
    );
  }
}
