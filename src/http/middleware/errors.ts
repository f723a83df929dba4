/**
 * The one error handler: AppErrors become {"error":{"code","message"}} with their status; body-parser
 * failures become the 4xx they are; database outages become 503; anything else is a 500 that carries
 * the request id and never a stack trace.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, errorBody } from '../../errors.js';
import { InferenceError, InferenceTimeout } from '../../inference/errors.js';
import type { Logger } from '../../logger.js';

const DB_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

/**
 * The database is down, or cannot take this request now: its connection refused or cut, or (SQLSTATE
 * class 53, insufficient resources) the server at its connection limit ("sorry, too many clients
 * already", a role's or a database's CONNECTION LIMIT), out of memory or out of disk. The request did
 * nothing; the client may retry. A 500 would say the service has a bug.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  if (!e) return false;
  if (e.code && (DB_DOWN_CODES.has(e.code) || /^53[0-9A-Z]{3}$/.test(e.code))) return true;
  return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|read ECONNRESET|is not queryable|the database system is (starting up|shutting down|not yet accepting connections|in recovery mode)/i.test(
    e.message ?? '',
  );
}

function fromBodyParser(err: { type?: string; status?: number; message?: string; limit?: number }): AppError | null {
  switch (err.type) {
    case 'entity.too.large':
      return new AppError(413, 'payload_too_large', `request body is larger than the ${err.limit} byte limit (MAX_BODY_SIZE)`);
    case 'entity.parse.failed':
      return new AppError(400, 'invalid_json', `request body is not valid JSON: ${err.message}`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new AppError(415, 'unsupported_media_type', err.message ?? 'unsupported body encoding');
    case 'request.aborted':
      return new AppError(400, 'request_aborted', 'the client closed the request before its body arrived');
    case 'request.size.invalid':
      return new AppError(400, 'invalid_request', 'request body size does not match Content-Length');
    default:
      return typeof err.status === 'number' && err.status >= 400 && err.status < 500
        ? new AppError(err.status, 'invalid_request', err.message ?? 'bad request')
        : null;
  }
}

/**
 * A hung inference worker (replaced by the pool) or one that exited is the service's temporary trouble,
 * not the request's: 503 with a code the client can retry on, instead of a bare 500.
 */
function fromInference(err: unknown): AppError | null {
  if (err instanceof InferenceTimeout) return new AppError(503, 'timeout', `${err.message} (INFERENCE_TIMEOUT_MS); the worker was replaced: retry`);
  if (err instanceof InferenceError) return new AppError(503, 'inference_unavailable', `${err.message}; retry shortly`);
  return null;
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      // A handler that finished after its request's deadline had answered 503 (deadline in request.ts):
      // its answer has nowhere to go. Said once in the log, not thrown as a stack to stderr.
      if ((err as NodeJS.ErrnoException)?.code === 'ERR_HTTP_HEADERS_SENT') {
        log.warn({ requestId: res.locals.requestId, method: req.method, path: req.path }, 'the request finished after it had been answered (its deadline answered 503 first)');
        return;
      }
      // A failure mid-answer (a stream that broke): express closes the connection, so the client sees it cut.
      next(err);
      return;
    }
    let e: AppError | null = err instanceof AppError ? err : fromBodyParser(err);
    if (!e) {
      e = fromInference(err);
      if (e) res.setHeader('Retry-After', '1');
    }
    if (!e && isDatabaseUnavailable(err)) {
      log.warn({ requestId: res.locals.requestId, err: (err as Error).message }, 'database unavailable');
      e = new AppError(503, 'database_unavailable', 'the database is unavailable; retry shortly');
      res.setHeader('Retry-After', '1');
    }
    if (!e) {
      log.error({ requestId: res.locals.requestId, err }, 'unhandled error');
      res.status(500).json(errorBody('internal_error', `internal error (request id ${res.locals.requestId})`));
      return;
    }
    if (e.status >= 500) log.warn({ requestId: res.locals.requestId, code: e.code, msg: e.message }, 'request failed');
    res.status(e.status).json(errorBody(e.code, e.message));
  };
}

export const notFoundHandler: RequestHandler = (req, res) => {
  res.status(404).json(errorBody('not_found', `no route for ${req.method} ${req.path}`));
};
