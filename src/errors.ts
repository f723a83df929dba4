/**
 * The one error hierarchy: an HTTP status, a stable machine-readable code, and a message a person can
 * act on. The HTTP error handler turns these into {"error":{"code","message"}}; anything else is a 500.
 */
/**
 * Every code the API answers with: clients branch on these, so they are a closed list (adding one is an
 * API change; the compiler refuses a code that is not here, and test/http/errors.medium.test.ts checks the
 * OpenAPI description lists them all).
 */
export const ERROR_CODES = [
  // 400
  'invalid_request',
  'invalid_json',
  'request_aborted',
  'invalid_text',
  'text_too_long',
  'too_many_inputs',
  'unsupported_input',
  'invalid_idempotency_key',
  'invalid_verdict',
  'invalid_model',
  'unknown_policy',
  // 401, 403, 404
  'unauthorized',
  'forbidden',
  'not_found',
  // 409: the state changed or does not allow it
  'task_closed',
  'not_leaseholder',
  'nothing_to_undo',
  'nothing_to_roll_back',
  'active_head_changed',
  'superseded',
  'run_not_queued',
  'run_in_progress',
  'hold_decided',
  'appeal_open',
  'already_trained',
  'backbone_unusable',
  // 413, 415, 422, 429
  'payload_too_large',
  'unsupported_media_type',
  'idempotency_key_reused',
  'rate_limited',
  // 500, 503, 504
  'internal_error',
  'model_not_loaded',
  'inference_unavailable',
  'database_unavailable',
  'timeout',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The body of every error answer. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; [detail: string]: unknown };
}

export const errorBody = (code: ErrorCode, message: string, details?: Record<string, unknown>): ErrorBody => ({ error: { code, message, ...details } });

export class AppError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: ErrorCode,
    message: string,
    public readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const badRequest = (code: ErrorCode, message: string, details?: Record<string, unknown>) =>
  new AppError(400, code, message, details);
export const unauthorized = (message: string) => new AppError(401, 'unauthorized', message);
export const forbidden = (message: string) => new AppError(403, 'forbidden', message);
export const notFound = (what: string, id: string) => new AppError(404, 'not_found', `${what} ${JSON.stringify(id)} was not found`);
export const conflict = (code: ErrorCode, message: string) => new AppError(409, code, message);
export const payloadTooLarge = (message: string) => new AppError(413, 'payload_too_large', message);
export const unavailable = (code: ErrorCode, message: string) => new AppError(503, code, message);
