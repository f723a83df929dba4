import type { DB, Executor } from '../db/database.js';
import { recordAudit } from '../audit/audit.repository.js';
import * as repo from './head.repository.js';

export interface ActivationActor {
  name: string;
  keyId?: string | null;
  requestId?: string | null;
}

/**
 * Activates a head inside the caller's transaction: retire the current one, record the activation and
 * an audit event, and NOTIFY the replicas (delivered when the transaction commits).
 */
export async function activateInTransaction(
  trx: Executor,
  headId: string,
  reason: string,
  actor: ActivationActor,
  details: Record<string, unknown> = {},
  opts: { rollback?: boolean } = {},
) {
  const r = await repo.activateHead(trx, headId, { reason, actor: actor.name, rollback: opts.rollback });
  await recordAudit(trx, {
    actor: actor.name,
    actorKeyId: actor.keyId,
    action: 'head.activated',
    subjectType: 'head',
    subjectId: headId,
    requestId: actor.requestId,
    details: { reason, previous_head_id: r.previousId, ...(opts.rollback ? { rollback: true } : {}), ...details },
  });
  await repo.notifyActiveHead(trx, headId);
  return r;
}

/**
 * Back to the newest head in `active`'s lineage (its parent, the parent's parent, …) trained only on
 * labels up to `labelId`, when `active` trained on later ones (labels now held as poisoned, say): the
 * base head at the end of the chain trained on none. Audited as a rollback. Nothing when `active` is
 * clean, or is no longer the active head (compare-and-swap).
 */
export async function rollBackPast(
  db: DB,
  active: repo.HeadRow,
  labelId: number,
  actor: ActivationActor,
  details: Record<string, unknown> = {},
): Promise<{ id: string; version: number } | null> {
  const sawUpTo = (h: repo.HeadRow) => (typeof h.dataSnapshot?.max_label_id === 'number' ? h.dataSnapshot.max_label_id : 0);
  let target = active;
  while (sawUpTo(target) > labelId && target.parentId) target = (await repo.getHead(db, target.parentId))!;
  if (target.id === active.id || sawUpTo(target) > labelId) return null;
  const done = await db.transaction().execute(async (trx) => {
    if ((await repo.lockActiveHead(trx))?.id !== active.id) return false;
    await activateInTransaction(trx, target.id, `labels after id ${labelId} are held, and the active head trained on them`, actor, { ...details, held_after_label_id: labelId }, { rollback: true });
    return true;
  });
  return done ? { id: target.id, version: target.version } : null;
}
