/** The express application: middleware order, routes, and the one error handler. */
import { fileURLToPath } from 'node:url';
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import type { AppContext } from '../context.js';
import type { PageBundles } from './pages/bundle.js';
import './locals.js';
import { errorHandler, notFoundHandler } from './middleware/errors.js';
import { accessLog, deadline, httpMetrics, requestId } from './middleware/request.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { decisionRoutes } from './routes/decisions.js';
import { healthRoutes } from './routes/health.js';
import { itemRoutes } from './routes/items.js';
import { thresholdRoutes } from './routes/thresholds.js';
import { moderateRoutes } from './routes/moderate.js';
import { moderationsRoutes } from './routes/moderations.js';
import { preferencePairRoutes } from './routes/preference-pairs.js';
import { reviewRoutes } from './routes/review.js';
import { trainingRoutes } from './routes/training.js';
import { requireJson } from './validation.js';

const PAGES_DIR = fileURLToPath(new URL('./pages', import.meta.url));

/** Keeps the request's bytes for Idempotency-Key hashing. */
const keepRawBody = (req: unknown, _res: unknown, buf: Buffer) => {
  (req as { rawBody?: Uint8Array }).rawBody = buf;
};

export function createApp(ctx: AppContext, pages: PageBundles): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestId);
  // While shutting down, no response invites the client to reuse its connection: decided when the
  // headers are written, so a request that arrived before the drain and answers during it says so too.
  app.use((_req, res, next) => {
    const writeHead = res.writeHead;
    res.writeHead = function (this: express.Response, ...args: Parameters<typeof writeHead>) {
      if (ctx.draining) this.setHeader('Connection', 'close');
      return writeHead.apply(this, args);
    } as typeof writeHead;
    next();
  });
  app.use(accessLog(ctx.logger.child({ subsystem: 'http' })));
  app.use(httpMetrics(ctx.metrics));
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          connectSrc: ["'self'"],
          fontSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
    }),
  );
  app.use(deadline(ctx.config.requestTimeoutMs));

  // Bodies are parsed after authentication, per route: an anonymous caller cannot make us read 1 MB.
  const json: RequestHandler[] = [
    (req, _res, next) => {
      requireJson(req.get('content-type'));
      next();
    },
    express.json({ limit: ctx.config.limits.maxBodyBytes, strict: true, verify: keepRawBody }),
  ];

  // The pages: their HTML and CSS as static files, their scripts bundled from TypeScript at start
  // (pages/bundle.ts); everything they show comes from the API as JSON.
  // Mounted on the pages' paths only, so the API's requests never pass through it. Their TypeScript
  // sources are not served: only the bundles, the HTML and the CSS.
  app.use(['/review', '/dashboard'], (req, res, next) => {
    if (/\.ts$/i.test(req.path)) return next('router');
    const js = req.method === 'GET' || req.method === 'HEAD' ? pages.get(req.baseUrl + req.path) : undefined;
    if (js === undefined) return next();
    res.type('text/javascript').setHeader('Cache-Control', 'public, max-age=300');
    res.send(js);
  });
  const staticPages = { index: 'index.html', maxAge: '5m', extensions: false as const };
  app.use('/review', express.static(PAGES_DIR + '/review', staticPages));
  app.use('/dashboard', express.static(PAGES_DIR + '/dashboard', staticPages));
  // Action endpoints whose body is optional: an empty POST counts as {}.
  const optionalJson: RequestHandler[] = [
    (req, _res, next) => {
      const empty = req.get('content-length') === '0' || (!req.get('content-type') && !req.get('transfer-encoding'));
      if (empty) req.body = {};
      else requireJson(req.get('content-type'));
      next();
    },
    express.json({ limit: ctx.config.limits.maxBodyBytes, strict: true, verify: keepRawBody }),
  ];

  // Each route file declares its endpoints once (method, path, roles, body, query: endpoint.ts); the
  // declarations mount them here and make the OpenAPI document.
  const parsers = { json, optionalJson };
  for (const routes of [healthRoutes, moderateRoutes, moderationsRoutes, decisionRoutes, apiKeyRoutes, reviewRoutes, preferencePairRoutes, trainingRoutes, itemRoutes, thresholdRoutes]) {
    app.use(routes(ctx, parsers));
  }
  app.use(notFoundHandler);
  app.use(errorHandler(ctx.logger.child({ subsystem: 'http' })));
  return app;
}
