import type { Executor } from '../db/database.js';
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
