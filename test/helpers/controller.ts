/**
 * The HTTP layer on fake services: the real express app (middleware, the declared routes with their
 * roles and body parsers, validation, the error handler) over a context whose services are what the
 * test gives, with no database and no inference runtime. A service method the test did not fake throws,
 * and every service call is recorded in `calls`, so a test can say that a refused request reached
 * nothing. A key names its role (`KEYS`, or `keyFor(role, name)` for another key of the role); an
 * unknown key is refused as the real service does. Rate limiting is off unless `env` sets it.
 */
import type express from 'express';
import supertest from 'supertest';
import { AuthService, bearerKey, type Principal } from '../../src/auth/auth.service.js';
import { RateLimiter } from '../../src/auth/rate-limit.js';
import { loadConfig } from '../../src/config.js';
import type { AppContext } from '../../src/context.js';
import type { Role } from '../../src/db/schema/api-keys.js';
import { unauthorized } from '../../src/errors.js';
import { createApp } from '../../src/http/app.js';
import type { PageBundles } from '../../src/http/pages/bundle.js';
import type { Logger } from '../../src/logger.js';
import { Metrics } from '../../src/metrics.js';
import { quietLogger } from './logger.js';

/** Another key of `role` (its own rate-limit bucket): `mt_controller_<role>_<name>`. */
export const keyFor = (role: Role, name?: string): string => `mt_controller_${role}${name ? `_${name}` : ''}`;
export const KEYS: Record<Role, string> = { admin: keyFor('admin'), client: keyFor('client'), moderator: keyFor('moderator') };

/** The services a route calls, by their names on the context. */
const SERVICES = ['auth', 'moderation', 'review', 'training', 'registry', 'retention', 'thresholds', 'holds', 'models', 'policies', 'database'] as const;
type ServiceName = (typeof SERVICES)[number];
export type FakeServices = Partial<Record<ServiceName, Record<string, unknown>>>;

export interface ControllerApp {
  request: ReturnType<typeof supertest>;
  /** The express app (its routes, for the OpenAPI test). */
  app: express.Express;
  /** Every service method called, as `service.method`, in order. */
  calls: string[];
}

/**
 * Authentication with fixed keys: the real header rules (`bearerKey`) and role check (AuthService's own
 * `authorize`), the key table in memory instead of the database.
 */
function fakeAuth(limiter: RateLimiter): Pick<AuthService, 'authenticate' | 'authorize' | 'limiter'> {
  return {
    limiter,
    async authenticate(header: string | undefined): Promise<Principal> {
      const key = bearerKey(header);
      const role = /^mt_controller_(admin|client|moderator)(?:_\w+)?$/.exec(key)?.[1] as Role | undefined;
      if (!role) throw unauthorized('API key not recognised');
      return { keyId: key, name: role, role };
    },
    authorize: AuthService.prototype.authorize,
  };
}

/** `impl` behind a proxy that records each method called and throws for one the test did not give. */
function recorded(name: string, impl: Record<string, unknown>, calls: string[]): Record<string, unknown> {
  return new Proxy(impl, {
    get(target, prop) {
      if (typeof prop !== 'string' || prop === 'then') return undefined;
      const value = target[prop];
      if (value !== undefined && typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(`${name}.${prop}`);
        if (typeof value !== 'function') throw new Error(`ctx.${name}.${prop} was called, but this controller test did not fake it`);
        return value.apply(target, args);
      };
    },
  });
}

/** The app over fake services; `env` as the service's environment (limits and the like). */
export function controllerApp(
  opts: { services?: FakeServices; env?: Record<string, string>; rateLimitClock?: () => number; logger?: Logger; /** The pages' scripts (none unless given: bundlePages()). */ pages?: PageBundles } = {},
): ControllerApp {
  const calls: string[] = [];
  const config = loadConfig({ MODEL_DIR: '/nonexistent/model', PORT: '0', RATE_LIMIT_PER_SECOND: '0', ...opts.env });
  const services = Object.fromEntries(SERVICES.map((name) => [name, recorded(name, opts.services?.[name] ?? {}, calls)]));
  // Authentication is the fake key table (not recorded); the key routes' own calls (createKey, …) are.
  const auth = fakeAuth(new RateLimiter(config.rateLimit.perSecond, config.rateLimit.burst, opts.rateLimitClock));
  const ctx = {
    config,
    logger: opts.logger ?? quietLogger(),
    metrics: new Metrics(),
    draining: false,
    scheduler: null,
    ...services,
    auth: new Proxy(services.auth, { get: (target, prop) => (prop in auth ? auth[prop as keyof typeof auth] : Reflect.get(target, prop)) }),
  } as unknown as AppContext;
  const app = createApp(ctx, opts.pages ?? new Map());
  return { request: supertest(app), app, calls };
}

/** `Authorization` for a role's key. */
export const as = (role: Role): Record<string, string> => ({ Authorization: `Bearer ${KEYS[role]}` });
