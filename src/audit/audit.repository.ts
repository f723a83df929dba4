import type { Executor } from '../db/database.js';

export interface AuditEvent {
  actor: string;
  actorKeyId?: string | null;
  action: string;
  subjectType: string;
  subjectId?: string | null;
  requestId?: string | null;
  details?: Record<string, unknown>;
}

/** Audit events are written in the same transaction as the change they describe. */
export async function recordAudit(db: Executor, e: AuditEvent): Promise<void> {
  await recordAudits(db, [e]);
}

/** Several events in one statement (a claim of many tasks), in the order given. */
export async function recordAudits(db: Executor, events: AuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insertInto('audit_events')
    .values(
      events.map((e) => ({
        actor: e.actor,
        actor_key_id: e.actorKeyId ?? null,
        action: e.action,
        subject_type: e.subjectType,
        subject_id: e.subjectId ?? null,
        request_id: e.requestId ?? null,
        details: JSON.stringify(e.details ?? {}),
      })),
    )
    .execute();
}
