/**
 * An endpoint is declared once, beside its handler in its route file: method, path, the roles that may call
 * it, what it does, its body and query. {@link mount} puts it on the router with the authentication its
 * roles need and the body parser its body needs; openapi.ts builds the document from the same
 * declarations; the role-matrix and OpenAPI tests check the routes against them.
 */
import type { RequestHandler, Router } from 'express';
import { z, type ZodType } from 'zod';
import type { AuthService } from '../auth/auth.service.js';
import type { Role } from '../db/schema/api-keys.js';
import { requireRole } from './middleware/auth.js';

export type JsonSchema = Record<string, unknown>;

export interface Param {
  name: string;
  description: string;
  schema: JsonSchema;
  required?: boolean;
}

export interface Operation {
  method: 'get' | 'post' | 'delete';
  /** The express pattern (`:id`). */
  path: string;
  /** The roles that may call it besides admin (who may call everything); `public`: no key needed. */
  roles: readonly (Exclude<Role, 'admin'> | 'public')[];
  summary: string;
  /** The JSON body it reads (a zod schema, or a JSON schema written by hand); absent: the body is never read. */
  body?: ZodType | JsonSchema;
  /** An empty body counts as {} (every field optional). */
  bodyOptional?: boolean;
  /** Body fields whose schema is written here rather than taken from zod. */
  bodyOverrides?: Record<string, JsonSchema>;
  query?: Param[];
  /** The success status (200 unless said). */
  status?: number;
  /** Other success statuses that answer the same body (a registration found already: 200 beside 201). */
  alsoStatus?: readonly number[];
  /** What a success answers: a zod schema of the JSON body (output side), beside the declaration; absent only for a non-JSON answer. */
  response?: ZodType;
  /** The success response in words (the document's `description`; 'Success' unless said). */
  responseDescription?: string;
  /** A non-JSON success answer's content type (`text/plain`, `application/x-ndjson`, ...): described, with no JSON schema. */
  responseContentType?: string;
}

/** Declares an operation (the identity, typed: the declarations stay literal objects). */
export const endpoint = <const O extends Operation>(o: O): O => o;

/** The body parsers the app builds once (size limit, strict JSON, raw body kept for idempotency). */
export interface BodyParsers {
  json: RequestHandler[];
  optionalJson: RequestHandler[];
}

/** Mounts declared operations on `router`: each with its roles' authentication, its body parser, then its handler. */
export function mounter(router: Router, auth: AuthService, parsers: BodyParsers) {
  return (op: Operation, handler: RequestHandler): void => {
    const chain: RequestHandler[] = [];
    if (!op.roles.includes('public')) chain.push(op.roles.length ? requireRole(auth, ...(op.roles as Exclude<Role, 'admin'>[])) : requireRole(auth, 'admin'));
    if (op.body) chain.push(...(op.bodyOptional ? parsers.optionalJson : parsers.json));
    router[op.method](op.path, ...chain, handler);
  };
}

/** A time as JSON writes a Date (ISO 8601, UTC). */
export const isoTime = z.iso.datetime();
/** A JSON object whose fields are open-ended (reports, snapshots, settings): any keys. */
export const jsonObject = z.record(z.string(), z.unknown());

/** Query parameters from a zod object schema (input side). */
export function queryParams(schema: ZodType): Param[] {
  const js = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, JsonSchema> };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, description: String(s.description ?? name), schema: s }));
}
