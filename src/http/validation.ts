/** Turning untrusted request bodies into typed values, with 400s that name the offending field. */
import { z, type ZodType } from 'zod';
import { AppError, badRequest, notFound } from '../errors.js';

export function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('') || 'body';
}

/** An id as the service makes them (UUIDv7, any UUID accepted). */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A route's id parameter: a string that cannot be an id is answered like an id that does not exist
 * (404 naming it), without a query.
 */
export function idParam(raw: unknown, what: string): string {
  const id = String(raw);
  if (!UUID.test(id)) throw notFound(what, id);
  return id;
}

export function parseBody<T>(schema: ZodType<T>, body: unknown): T {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('invalid_request', 'request body must be a JSON object');
  }
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const more = r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problem${r.error.issues.length > 2 ? 's' : ''})` : '';
  throw badRequest('invalid_request', `${fieldPath(issue.path)}: ${issue.message}${more}`);
}

/**
 * Strings that will be stored and tokenized: no NUL (PostgreSQL text cannot hold it) and no lone
 * surrogates (replaced, so the stored, hashed and scored text are the same string).
 */
export function cleanText(value: string, field: string): string {
  if (value.includes('\u0000')) {
    throw badRequest('invalid_text', `${field} contains a NUL character (U+0000), which cannot be stored; remove it`);
  }
  return value.isWellFormed() ? value : value.toWellFormed();
}

/**
 * A free-text string field for zod schemas, held to the same rules as cleanText: a NUL is refused
 * (PostgreSQL text and jsonb cannot store it) and lone surrogates become U+FFFD.
 */
export function safeText(max: number) {
  return z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), 'must not contain a NUL character (U+0000)')
    .transform((s) => (s.isWellFormed() ? s : s.toWellFormed()));
}

export function requireJson(contentType: string | undefined): void {
  if (!contentType || !/^application\/(.+\+)?json\b/i.test(contentType)) {
    throw new AppError(415, 'unsupported_media_type', 'send the request body as JSON with Content-Type: application/json');
  }
}
