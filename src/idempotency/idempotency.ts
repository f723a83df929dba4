/**
 * Idempotency-Key support: the first request with a key does the work and stores its response in the
 * same transaction; a retry with the same key and body gets that response back (and nothing is stored
 * twice); the same key with a different body is refused.
 */
import { createHash } from 'node:crypto';
import type { Executor } from '../db/database.js';
import { AppError, badRequest } from '../errors.js';
import { findIdempotencyRecord, insertIdempotencyRecord } from './idempotency.repository.js';

export interface IdempotencyRef {
  apiKeyId: string;
  endpoint: string;
  key: string;
  requestHash: string;
}

export interface StoredResponse {
  statusCode: number;
  body: unknown;
}

const KEY = /^[\x21-\x7e]{1,255}$/;

/** The header's value, checked; undefined when the request has none. */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (!KEY.test(header)) {
    throw badRequest('invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
  }
  return header;
}

/**
 * The identity of a request: its endpoint and the exact bytes of its body (not a re-serialisation, which
 * would have to walk arbitrarily deep JSON). A retry sends the same bytes.
 */
export function requestHash(endpoint: string, body: Uint8Array): string {
  return createHash('sha256').update(endpoint).update('\0').update(body).digest('hex');
}

/** The raw body the JSON parser kept (see `verify` in http/app.ts). */
export function rawBody(req: object): Uint8Array {
  return (req as { rawBody?: Uint8Array }).rawBody ?? new Uint8Array();
}

export async function findStored(db: Executor, ref: IdempotencyRef): Promise<StoredResponse | undefined> {
  const row = await findIdempotencyRecord(db, ref);
  if (!row) return undefined;
  if (row.requestHash !== ref.requestHash) {
    throw new AppError(422, 'idempotency_key_reused', 'this Idempotency-Key was already used with a different request; use a new key for a new request');
  }
  return { statusCode: row.statusCode, body: row.response };
}

export async function store(db: Executor, ref: IdempotencyRef, response: StoredResponse): Promise<void> {
  await insertIdempotencyRecord(db, { ...ref, statusCode: response.statusCode, response: response.body });
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === '23505';
}
