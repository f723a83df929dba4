/**
 * Batches of labels the drift check held (run/drift-check.ts): listed for admins, and decided once —
 * `accepted` lets their labels train and evaluate again (they were legitimate after all), `discarded`
 * keeps them out for good. Audited.
 */
import { recordAudit } from '../audit/audit.repository.js';
import type { DB } from '../db/database.js';
import { conflict, notFound } from '../errors.js';
import * as repo from './training.repository.js';

export class HoldService {
  constructor(private readonly db: DB) {}

  /** Held batches, newest first; `status` filters. */
  async listHolds(status?: 'held' | 'accepted' | 'discarded') {
    return repo.listHolds(this.db, status);
  }

  /** An admin's decision on a held batch; a decided hold cannot be changed. */
  async decideHold(id: string, decision: 'accepted' | 'discarded', actor: { name: string; keyId: string; requestId: string }, note: string | null) {
    await this.db.transaction().execute(async (trx) => {
      if (!(await repo.decideHold(trx, id, decision, actor.keyId, note))) {
        const exists = (await repo.listHolds(trx)).find((h) => h.id === id);
        if (!exists) throw notFound('label hold', id);
        throw conflict('hold_decided', `label hold ${id} is already ${exists.status}`);
      }
      await recordAudit(trx, {
        actor: actor.name,
        actorKeyId: actor.keyId,
        action: `label_hold.${decision}`,
        subjectType: 'label_hold',
        subjectId: id,
        requestId: actor.requestId,
        details: note ? { note } : {},
      });
    });
    return (await repo.listHolds(this.db)).find((h) => h.id === id)!;
  }
}
