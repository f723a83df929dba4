import type { RequestHandler } from 'express';
import type { AuthService } from '../../auth/auth.service.js';
import type { Role } from '../../db/schema/api-keys.js';
import { AppError } from '../../errors.js';

/** Authenticates the bearer key, checks its role (admin passes every check) and its rate limit. */
export function requireRole(auth: AuthService, ...roles: Role[]): RequestHandler {
  return async (req, res, next) => {
    const principal = await auth.authenticate(req.get('authorization'));
    auth.authorize(principal, roles);
    const wait = auth.limiter.take(principal.keyId);
    if (wait > 0) {
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(wait))));
      throw new AppError(429, 'rate_limited', `this API key is over its limit of ${auth.limiter.ratePerSecond} requests per second (burst ${auth.limiter.burst}); retry after the Retry-After seconds`);
    }
    res.locals.principal = principal;
    next();
  };
}
