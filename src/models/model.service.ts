/**
 * Which model serves: the active head from the database and the backbone it belongs to, running in a
 * ModelRuntime, with the policies bound to that backbone's labels. On the very first start there is no
 * active head, so the bootstrap model directory (MODEL_DIR; the starter model, built on first use) is
 * registered and its own classifier becomes head version 1 — or, with MODEL=<Hub repo id>, the model pulled
 * from the Hub, with the starter as the fallback when the pull, the import or the policies' binding fails.
 *
 * Activating a head of another backbone loads and verifies that backbone first, then swaps runtime,
 * head and policy binding together; replicas do the same when they hear of it.
 */
import { systemClock, type Clock } from '../clock.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { recordAudit } from '../audit/audit.repository.js';
import type { Database } from '../db/connect.js';
import type { DB, Executor } from '../db/database.js';
import { conflict, notFound, unavailable } from '../errors.js';
import { checkHeadShape } from '../inference/head.js';
import { loadModelDir, ModelError, type ModelDir } from '../inference/model-dir.js';
import { ModelRuntime, type RuntimeOptions } from '../inference/runtime.js';
import type { Logger } from '../logger.js';
import type { PolicyBinding, PolicyRegistry } from '../policy/registry.js';
import { activateInTransaction, type ActivationActor } from './activation.js';
import * as repo from './head.repository.js';
import { defaultName, holdsPull, provenanceOf, pullModel, shippedLabelMap } from './hub/pull.js';
import { importModel } from './import/importer.js';
import { buildStarterModel } from '../starter/build.js';

export interface ActiveModel {
  backbone: repo.BackboneRow;
  head: repo.HeadRow;
  runtime: ModelRuntime;
  /** The policies bound to this backbone's labels. */
  policies: PolicyBinding;
  /** How responses name the model: backbone and head version. */
  id: string;
}

export interface ModelServiceOptions {
  bootstrapDir: string;
  autoBuild: boolean;
  /** MODEL: what the first start pulls from the Hub instead of the starter. */
  hub?: { repo: string; revision?: string; dtype: 'fp32' | 'int8' };
  /** Where shipped label maps live (policies/label-maps). */
  labelMapsDir?: string;
  runtime: RuntimeOptions;
}

/** How long a replaced runtime keeps serving requests that already hold it. */
const RETIRE_AFTER_MS = 3_000;

export class ModelService {
  private current: ActiveModel | null = null;
  private readonly changeListeners: ((m: ActiveModel) => void)[] = [];
  private stopWatching: (() => Promise<void>) | null = null;
  private warnedForeignHead: string | null = null;
  private readonly retiring = new Set<Promise<void>>();
  /** Serialises swaps: an activation and a refresh never load backbones at the same time. */
  private swapping: Promise<unknown> = Promise.resolve();

  private get clock(): Clock {
    return this.opts.runtime.clock ?? systemClock;
  }

  constructor(
    private readonly db: DB,
    private readonly policies: PolicyRegistry,
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
      model = (await this.pullFirstModel()) ?? (await this.loadBootstrapDir());
      ({ backbone, head } = await this.registerAndActivate(model));
    }
    this.current = await this.prepare(backbone, head, model);
    return this.current;
  }

  /** Loads, verifies and binds a backbone with one of its heads, without serving it yet. */
  private async prepare(backbone: repo.BackboneRow, head: repo.HeadRow, model?: ModelDir): Promise<ActiveModel> {
    const dir = model ?? (await this.loadRegistered(backbone));
    checkHeadFits(head, dir);
    const policies = this.policies.bind(repo.labelSpace(backbone));
    const runtime = await ModelRuntime.start(dir, this.opts.runtime, this.log);
    this.log.info(
      { backbone: backbone.name, backboneId: backbone.id, head: head.id, headVersion: head.version, labels: dir.labels.length, dim: dir.baseHead.dim },
      'model ready',
    );
    return { backbone, head, runtime, policies, id: modelId(backbone, head) };
  }

  private serve(next: ActiveModel): void {
    const previous = this.current;
    this.current = next;
    if (previous && previous.runtime !== next.runtime) {
      // Requests that took the old snapshot finish on it; then it stops.
      const retire = new Promise<void>((resolve) => setTimeout(resolve, RETIRE_AFTER_MS))
        .then(() => previous.runtime.stop())
        .catch((err: Error) => this.log.warn({ err: err.message }, 'stopping the previous runtime failed'));
      this.retiring.add(retire);
      void retire.finally(() => this.retiring.delete(retire));
    }
    this.log.info({ from: previous?.id, to: next.id, headId: next.head.id }, 'now serving a new active head');
    for (const fn of this.changeListeners) fn(next);
  }

  /**
   * MODEL=<repo id> on a first start: pulled (or found pulled) and imported next to MODEL_DIR with the
   * shipped label map for that repo, if there is one, and used if the policies can bind to its labels.
   * Any failure is one warning and the starter model (null here); success is one info line.
   */
  private async pullFirstModel(): Promise<ModelDir | null> {
    const hub = this.opts.hub;
    if (!hub) return null;
    const what = `${hub.repo}${hub.revision ? `@${hub.revision}` : ''}${hub.dtype === 'int8' ? ' (int8)' : ''}`;
    try {
      const pulled = await pullModel({ repo: hub.repo, revision: hub.revision, dtype: hub.dtype });
      const outDir = path.join(path.dirname(this.opts.bootstrapDir), defaultName(hub.repo, hub.dtype));
      const existing = await loadModelDir(outDir).catch(() => null);
      const model =
        existing && holdsPull(existing, pulled)
          ? existing
          : (
              await importModel({
                sourceDir: pulled.dir,
                outDir,
                onnxFile: pulled.onnxFile,
                labelMap: this.opts.labelMapsDir ? ((await shippedLabelMap(this.opts.labelMapsDir, hub.repo)) ?? undefined) : undefined,
                knownCategories: [...new Set(this.policies.all.flatMap((p) => p.categories))],
                logger: this.log,
                provenance: provenanceOf(pulled),
              })
            ).model;
      this.policies.bind({ labels: model.labels, problemType: model.problemType, labelMap: model.labelMap });
      this.log.info(
        { repo: hub.repo, commit: pulled.commit, dir: model.dir, offline: pulled.offline },
        `first start: serving ${what} at commit ${pulled.commit.slice(0, 12)}, pulled from ${pulled.endpoint} (MODEL)${pulled.offline ? ' — from the cache, the Hub was unreachable' : ''}`,
      );
      return model;
    } catch (err) {
      this.log.warn({ repo: hub.repo, err: (err as Error).message }, `first start: MODEL=${what} could not be used, so the starter model serves instead: ${(err as Error).message}`);
      return null;
    }
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
        throw new ModelError(backbone.path, `backbone '${backbone.name}' cannot be loaded: ${(err as Error).message}`);
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
    const { backbone, head } = await this.db.transaction().execute((trx) => registerBackbone(trx, model, 'model-dir', undefined, undefined, this.clock));
    this.log.warn(
      { backboneId: backbone.id, headId: head.id, dir },
      'MODEL_DIR holds a model that is not the active one; registered it, activate one of its heads to switch',
    );
  }

  /**
   * First start: register the bootstrap model and activate its base head. Replicas starting together
   * serialise on an advisory lock, and the loser finds the winner's active head.
   */
  private async registerAndActivate(model: ModelDir): Promise<{ backbone: repo.BackboneRow; head: repo.HeadRow }> {
    return this.db.transaction().execute(async (trx) => {
      await repo.lockBootstrap(trx);
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
        : await registerBackbone(trx, model, 'model-dir', undefined, undefined, this.clock);
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

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.swapping.then(fn, fn);
    this.swapping = run.catch(() => undefined);
    return run;
  }

  /** Serves the database's active head if it is not the one being served (loading its backbone if needed). */
  refresh(): Promise<void> {
    return this.exclusive(async () => {
      const c = this.current;
      if (!c) return;
      const head = await repo.getActiveHead(this.db);
      if (!head || head.id === c.head.id) return;
      if (head.backboneId === c.backbone.id) {
        checkHeadShape(head);
        this.serve({ ...c, head, id: modelId(c.backbone, head) });
        return;
      }
      try {
        const backbone = (await repo.getBackbone(this.db, head.backboneId))!;
        this.serve(await this.prepare(backbone, head));
        this.warnedForeignHead = null;
      } catch (err) {
        if (this.warnedForeignHead !== head.id) {
          this.warnedForeignHead = head.id;
          this.log.error(
            { headId: head.id, backboneId: head.backboneId, err: (err as Error).message },
            "the active head's backbone cannot be loaded on this replica; still serving the previous head",
          );
        }
      }
    });
  }

  /**
   * Makes a head the active one, atomically and audited, and tells every replica. A head of another
   * backbone is loaded, verified and bound to the policies before anything changes.
   */
  activate(
    headId: string,
    reason: string,
    actor: ActivationActor,
    opts: { rollback?: boolean; expectedActiveId?: string } = {},
  ): Promise<{ previousId: string | null }> {
    return this.exclusive(async () => {
      const c = this.active;
      const head = await repo.getHead(this.db, headId);
      if (!head) throw notFound('head version', headId);
      checkHeadShape(head);
      let next: ActiveModel;
      if (head.backboneId === c.backbone.id) {
        next = { ...c, head, id: modelId(c.backbone, head) };
      } else {
        const backbone = (await repo.getBackbone(this.db, head.backboneId))!;
        try {
          next = await this.prepare(backbone, head);
        } catch (err) {
          throw conflict('backbone_unusable', `head ${headId} cannot be served: ${(err as Error).message}`);
        }
      }
      let out: { previousId: string | null };
      try {
        out = await this.db.transaction().execute(async (trx) => {
          // Compare and swap: the head the caller saw active must still be (another replica, the guard or a
          // finishing run may have changed it meanwhile).
          if (opts.expectedActiveId) {
            const current = await repo.lockActiveHead(trx);
            if (current?.id !== opts.expectedActiveId) {
              throw conflict('active_head_changed', `the active head is ${current?.id ?? 'none'}, not ${opts.expectedActiveId}; nothing was changed`);
            }
          }
          return activateInTransaction(trx, headId, reason, actor, {}, { rollback: opts.rollback });
        });
      } catch (err) {
        if (next.runtime !== c.runtime) await next.runtime.stop(0);
        throw err;
      }
      if (this.current?.head.id !== headId) this.serve(next);
      return out;
    });
  }

  /**
   * Back one step in the activation history: to the head that was active before the current one was
   * activated (not by a rollback), so repeated rollbacks walk back C → B → A and never return to a head
   * they left. With `expectedHeadId` (the head the caller means to roll back from) a retried request
   * finds another head active and is refused instead of stepping back twice.
   */
  async rollback(reason: string, actor: ActivationActor, expectedHeadId?: string): Promise<{ headId: string; previousId: string }> {
    const current = await repo.getActiveHead(this.db);
    if (!current) throw conflict('nothing_to_roll_back', 'there is no active head');
    if (expectedHeadId && current.id !== expectedHeadId) {
      throw conflict('active_head_changed', `the active head is ${current.id}, not ${expectedHeadId}; nothing was rolled back`);
    }
    const target = await repo.rollbackTarget(this.db, current.id);
    if (!target) throw conflict('nothing_to_roll_back', `there is no head before ${current.id} in the activation history to roll back to`);
    await this.activate(target, reason, actor, { rollback: true, expectedActiveId: current.id });
    return { headId: target, previousId: current.id };
  }

  async stop(graceMs?: number): Promise<void> {
    await this.stopWatching?.();
    this.stopWatching = null;
    await this.swapping;
    const c = this.current;
    this.current = null;
    await c?.runtime.stop(graceMs);
    await Promise.allSettled([...this.retiring]);
  }
}

/** Registers a model directory as a backbone with its own classifier as the base head (version 1). */
export async function registerBackbone(
  trx: Executor,
  model: ModelDir,
  source: string,
  name = model.name,
  actor: ActivationActor = { name: 'system' },
  clock: Clock = systemClock,
): Promise<{ backbone: repo.BackboneRow; head: repo.HeadRow }> {
  const backbone: repo.BackboneRow = {
    id: uuidv7(),
    name,
    sha256: model.sha256,
    path: model.dir,
    featureDim: model.baseHead.dim,
    labels: model.labels,
    problemType: model.problemType,
    labelMap: model.labelMap,
    hub: (model.config.modtune as { import?: { hub?: Record<string, unknown> } } | undefined)?.import?.hub ?? null,
    createdAt: clock.date(),
  };
  await repo.insertBackbone(trx, { ...backbone, config: model.config });
  const headId = uuidv7();
  await repo.insertHead(trx, {
    id: headId,
    backboneId: backbone.id,
    parentId: null,
    status: 'base',
    source,
    head: model.baseHead,
  });
  await recordAudit(trx, {
    actor: actor.name,
    actorKeyId: actor.keyId,
    requestId: actor.requestId,
    action: 'backbone.registered',
    subjectType: 'backbone',
    subjectId: backbone.id,
    details: { name: backbone.name, sha256: backbone.sha256, path: backbone.path, base_head: headId, source },
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
      `head ${head.id} is [${head.numLabels} × ${head.dim}] but the model has ${model.labels.length} labels × ${model.baseHead.dim} features`,
    );
  }
}
