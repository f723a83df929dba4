/** Stored Idempotency-Key responses: the only code that touches idempotency_keys. */
import { sql } from 'kysely';
import type { Executor } from '../db/database.js';

/** A stored request: what its body hashed to and the response it got. */
export interface IdempotencyRecord {
  requestHash: string;
  statusCode: number;
  response: unknown;
}

export async function findIdempotencyRecord(db: Executor, k: { apiKeyId: string; endpoint: string; key: string }): Promise<IdempotencyRecord | undefined> {
  const r = await db
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status_code', 'response'])
    .where('api_key_id', '=', k.apiKeyId)
    .where('endpoint', '=', k.endpoint)
    .where('key', '=', k.key)
    .executeTakeFirst();
  return r && { requestHash: r.request_hash, statusCode: r.status_code, response: r.response };
}

export async function insertIdempotencyRecord(db: Executor, k: { apiKeyId: string; endpoint: string; key: string } & IdempotencyRecord): Promise<void> {
  await db
    .insertInto('idempotency_keys')
    .values({
      api_key_id: k.apiKeyId,
      endpoint: k.endpoint,
      key: k.key,
      request_hash: k.requestHash,
      status_code: k.statusCode,
      response: JSON.stringify(k.response),
    })
    .execute();
}

/** Drops records older than `hours`; how many went. */
export async function deleteExpiredIdempotencyRecords(db: Executor, hours: number): Promise<number> {
  const r = await db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', sql<Date>`now() - ${hours} * interval '1 hour'`)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
