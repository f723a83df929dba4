import type { RequestHandler } from 'express';
import type { AuthService } from '../../auth/auth.service.js';
import type { Role } from '../../db/schema/api-keys.js';

/** Authenticates the bearer key and checks its role (admin passes every check). */
export function requireRole(auth: AuthService, ...roles: Role[]): RequestHandler {
  return async (req, res, next) => {
    const principal = await auth.authenticate(req.get('authorization'));
    auth.authorize(principal, roles);
    res.locals.principal = principal;
    next();
  };
}
