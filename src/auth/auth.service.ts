/**
 * API keys: authentication of bearer keys, the role check, key management and the first admin key.
 */
import { v7 as uuidv7 } from 'uuid';
import type { DB } from '../db/database.js';
import type { Role } from '../db/schema/api-keys.js';
import { epochMs, systemClock, type Clock } from '../clock.js';
import { badRequest, forbidden, notFound, unauthorized } from '../errors.js';
import type { Logger } from '../logger.js';
import { recordAudit } from '../audit/audit.repository.js';
import * as keys from './api-key.repository.js';
import { displayPrefix, generateKey, hashKey } from './keys.js';
import { RateLimiter } from './rate-limit.js';

export interface Principal {
  keyId: string;
  name: string;
  role: Role;
}

/** Who may do what: admin may do everything; the others only what their routes list. */
export function allows(role: Role, allowed: readonly Role[]): boolean {
  return role === 'admin' || allowed.includes(role);
}

const TOUCH_INTERVAL_MS = 60_000;
/**
 * Known keys are cached briefly so scoring does not pay a query per request. A revocation clears the
 * entry here at once and, through NOTIFY, on every replica; the TTL bounds the delay if a notification
 * is lost. Unknown keys are never cached.
 */
const CACHE_TTL_MS = 5_000;
/** Where a revocation is announced (context.ts listens on it). */
export { API_KEYS_CHANNEL } from './api-key.repository.js';

/** The key an `Authorization: Bearer <key>` header carries, or a 401 saying what is wrong with the header. */
export function bearerKey(header: string | undefined): string {
  if (!header) throw unauthorized('missing Authorization header; send "Authorization: Bearer <api key>"');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) throw unauthorized('Authorization header must be "Bearer <api key>"');
  return m[1];
}

export class AuthService {
  private readonly touched = new Map<string, number>();
  private readonly cache = new Map<string, { key: keys.ApiKeyRow; at: number }>();

  constructor(
    private readonly db: DB,
    private readonly log: Logger,
    readonly limiter: RateLimiter = new RateLimiter(0, 0),
    private readonly clock: Clock = systemClock,
  ) {}

  /** Drops cached keys (all, or the one with this id); called on NOTIFY from any replica. */
  forget(keyId?: string): void {
    if (!keyId) {
      this.cache.clear();
      return;
    }
    for (const [hash, entry] of this.cache) if (entry.key.id === keyId) this.cache.delete(hash);
  }

  private async lookup(hash: string): Promise<keys.ApiKeyRow | undefined> {
    const hit = this.cache.get(hash);
    if (hit && this.clock.now() - hit.at < CACHE_TTL_MS) return hit.key;
    const key = await keys.findKeyByHash(this.db, hash);
    if (key) this.cache.set(hash, { key, at: this.clock.now() });
    else this.cache.delete(hash);
    return key;
  }

  /** Resolves an Authorization header to a principal, or throws 401 saying what is wrong. */
  async authenticate(header: string | undefined): Promise<Principal> {
    const key = await this.lookup(hashKey(bearerKey(header)));
    if (!key) throw unauthorized('API key not recognised');
    if (key.revokedAt) throw unauthorized('API key has been revoked');
    if (key.expiresAt && key.expiresAt.getTime() <= epochMs(this.clock)) throw unauthorized('API key has expired');
    this.touch(key.id);
    return { keyId: key.id, name: key.name, role: key.role };
  }

  authorize(p: Principal, allowed: readonly Role[]): void {
    if (!allows(p.role, allowed)) {
      throw forbidden(`this endpoint needs the ${[...allowed, 'admin'].filter((r, i, a) => a.indexOf(r) === i).join(' or ')} role; this key has the ${p.role} role`);
    }
  }

  /** last_used_at at most once a minute per key and process: not a write per request. */
  private touch(id: string): void {
    const now = this.clock.now();
    if (this.touched.has(id) && now - this.touched.get(id)! < TOUCH_INTERVAL_MS) return;
    this.touched.set(id, now);
    keys.touchKey(this.db, id).catch((err: Error) => this.log.warn({ err: err.message }, 'could not record key use'));
  }

  /** How many admin keys can sign in now (not revoked, not expired). */
  usableAdmins(): Promise<number> {
    return keys.countUsableAdmins(this.db);
  }

  async createKey(
    input: { name: string; role: Role; expiresAt: Date | null },
    actor: Principal | null,
    requestId: string | null,
    action: 'api_key.created' | 'api_key.recovered' = 'api_key.created',
    actorName?: string,
  ): Promise<{ key: string; row: keys.ApiKeyRow }> {
    if (input.expiresAt && input.expiresAt.getTime() <= epochMs(this.clock)) throw badRequest('invalid_request', 'expires_at must be in the future');
    const key = generateKey();
    const row = await this.db.transaction().execute(async (trx) => {
      const row = await keys.insertKey(trx, {
        id: uuidv7(),
        name: input.name,
        role: input.role,
        prefix: displayPrefix(key),
        keyHash: hashKey(key),
        createdBy: actor?.keyId ?? null,
        expiresAt: input.expiresAt,
      });
      await recordAudit(trx, {
        actor: actorName ?? actor?.name ?? 'system',
        actorKeyId: actor?.keyId,
        action,
        subjectType: 'api_key',
        subjectId: row.id,
        requestId,
        details: { name: row.name, role: row.role, expires_at: row.expiresAt },
      });
      return row;
    });
    return { key, row };
  }

  /** Trusts a key's blind audit labels for the trusted eval set (or stops). Audited. */
  async setTrusted(id: string, trusted: boolean, actor: Principal, requestId: string | null): Promise<keys.ApiKeyRow> {
    return this.db.transaction().execute(async (trx) => {
      const row = await keys.setTrusted(trx, id, trusted);
      if (!row) throw notFound('API key', id);
      await recordAudit(trx, {
        actor: actor.name,
        actorKeyId: actor.keyId,
        action: trusted ? 'api_key.trusted' : 'api_key.untrusted',
        subjectType: 'api_key',
        subjectId: id,
        requestId,
      });
      return row;
    });
  }

  listKeys(): Promise<keys.ApiKeyRow[]> {
    return keys.listKeys(this.db);
  }

  async revokeKey(id: string, actor: Principal, requestId: string | null): Promise<keys.ApiKeyRow> {
    return this.db.transaction().execute(async (trx) => {
      const row = await keys.revokeKey(trx, id);
      if (!row) throw notFound('API key', id);
      await keys.notifyKeyChanged(trx, id);
      await recordAudit(trx, {
        actor: actor.name,
        actorKeyId: actor.keyId,
        action: 'api_key.revoked',
        subjectType: 'api_key',
        subjectId: id,
        requestId,
      });
      return row;
    }).finally(() => this.forget(id));
  }

  /**
   * The first admin key: MODTUNE_ADMIN_KEY if given (registered once, by hash), otherwise one is
   * generated when no usable admin key exists and returned so the caller can print it exactly once.
   */
  async bootstrapAdmin(envKey: string | undefined): Promise<{ generated?: string }> {
    if (envKey) {
      const existing = await keys.findKeyByHash(this.db, hashKey(envKey));
      if (existing?.revokedAt) {
        this.log.warn({ keyId: existing.id }, 'MODTUNE_ADMIN_KEY belongs to a revoked key; it stays revoked');
      } else if (!existing) {
        await this.db.transaction().execute(async (trx) => {
          const row = await keys.insertKey(trx, {
            id: uuidv7(),
            name: 'bootstrap admin (MODTUNE_ADMIN_KEY)',
            role: 'admin',
            prefix: displayPrefix(envKey),
            keyHash: hashKey(envKey),
            createdBy: null,
            expiresAt: null,
          });
          await recordAudit(trx, { actor: 'system', action: 'api_key.bootstrapped', subjectType: 'api_key', subjectId: row.id });
        });
        this.log.info('registered MODTUNE_ADMIN_KEY as an admin key');
      }
      return {};
    }
    if ((await keys.countUsableAdmins(this.db)) > 0) return {};
    const { key } = await this.createKey({ name: 'first admin (generated)', role: 'admin', expiresAt: null }, null, null);
    return { generated: key };
  }
}
