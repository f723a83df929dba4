/** Request ids, access logs, metrics and the per-request deadline. */
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { errorBody } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';

const CLIENT_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestId: RequestHandler = (req, res, next) => {
  const given = req.get('x-request-id');
  res.locals.requestId = given && CLIENT_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', res.locals.requestId);
  next();
};

export function accessLog(log: Logger): RequestHandler {
  return pinoHttp({
    logger: log,
    genReqId: (_req, res) => (res as unknown as { locals: { requestId: string } }).locals.requestId,
    // Method, path and status only: no headers (keys) and never bodies (moderated text).
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
    customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/readyz' || req.url === '/metrics' },
  });
}

/** The pages are static files, which match no route pattern: label them by page (and the rest unmatched). */
function pageRoute(url: string): string | null {
  const m = /^\/(review|dashboard)(\/|$|\?)/.exec(url);
  return m ? `/${m[1]}` : null;
}

export function httpMetrics(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    const end = metrics.httpDuration.startTimer();
    res.on('finish', () => {
      // The matched route pattern, not the URL, so ids do not explode the label set.
      const route = (req.route?.path as string | undefined) ?? pageRoute(req.originalUrl) ?? 'unmatched';
      end({ method: req.method, route });
      metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };
}

/** Answers 503 if a handler has not answered within `ms`; the handler's late answer is dropped. */
export function deadline(ms: number): RequestHandler {
  return (_req, res, next) => {
    const timer = setTimeout(() => {
      if (!res.headersSent) {
        res.status(503).setHeader('Retry-After', '1');
        res.json(errorBody('timeout', `the request did not finish within ${ms} ms (REQUEST_TIMEOUT_MS)`));
      }
    }, ms);
    timer.unref();
    res.on('close', () => clearTimeout(timer));
    next();
  };
}
