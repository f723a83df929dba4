/** The express application: middleware order, routes, and the one error handler. */
import express, { type RequestHandler } from 'express';
import helmet from 'helmet';
import type { AppContext } from '../context.js';
import './locals.js';
import { errorHandler, notFoundHandler } from './middleware/errors.js';
import { accessLog, deadline, httpMetrics, requestId } from './middleware/request.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { decisionRoutes } from './routes/decisions.js';
import { healthRoutes } from './routes/health.js';
import { moderateRoutes } from './routes/moderate.js';
import { moderationsRoutes } from './routes/moderations.js';
import { requireJson } from './validation.js';

export function createApp(ctx: AppContext): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(requestId);
  app.use(accessLog(ctx.logger.child({ subsystem: 'http' })));
  app.use(httpMetrics(ctx.metrics));
  app.use(helmet());
  app.use(deadline(ctx.config.requestTimeoutMs));

  // Bodies are parsed after authentication, per route: an anonymous caller cannot make us read 1 MB.
  const json: RequestHandler[] = [
    (req, _res, next) => {
      requireJson(req.get('content-type'));
      next();
    },
    express.json({ limit: ctx.config.limits.maxBodyBytes, strict: true }),
  ];

  app.use(healthRoutes(ctx));
  app.use(moderateRoutes(ctx, json));
  app.use(moderationsRoutes(ctx, json));
  app.use(decisionRoutes(ctx));
  app.use(apiKeyRoutes(ctx, json));
  app.use(notFoundHandler);
  app.use(errorHandler(ctx.logger.child({ subsystem: 'http' })));
  return app;
}
