import { sql } from 'kysely';
import { notify, type Executor } from '../db/database.js';
import type { Role } from '../db/schema/api-keys.js';

export interface ApiKeyRow {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  createdAt: Date;
  createdBy: string | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  trusted: boolean;
}

const columns = ['id', 'name', 'role', 'prefix', 'created_at', 'created_by', 'expires_at', 'revoked_at', 'last_used_at', 'trusted'] as const;

type Row = {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  created_at: Date;
  created_by: string | null;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
  trusted: boolean;
};

const toKey = (r: Row): ApiKeyRow => ({
  id: r.id,
  name: r.name,
  role: r.role,
  prefix: r.prefix,
  createdAt: r.created_at,
  createdBy: r.created_by,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
  trusted: r.trusted,
});

export const API_KEYS_CHANNEL = 'modtune_api_keys';

/** Tells every replica (LISTEN on API_KEYS_CHANNEL) to forget key `id` from its cache; sent on commit. */
export async function notifyKeyChanged(db: Executor, id: string): Promise<void> {
  await notify(db, API_KEYS_CHANNEL, id);
}

export async function findKeyByHash(db: Executor, keyHash: string): Promise<ApiKeyRow | undefined> {
  const r = await db.selectFrom('api_keys').select(columns).where('key_hash', '=', keyHash).executeTakeFirst();
  return r && toKey(r);
}

export async function insertKey(
  db: Executor,
  k: { id: string; name: string; role: Role; prefix: string; keyHash: string; createdBy: string | null; expiresAt: Date | null },
): Promise<ApiKeyRow> {
  const r = await db
    .insertInto('api_keys')
    .values({
      id: k.id,
      name: k.name,
      role: k.role,
      prefix: k.prefix,
      key_hash: k.keyHash,
      created_by: k.createdBy,
      expires_at: k.expiresAt,
      revoked_at: null,
    })
    .returning(columns)
    .executeTakeFirstOrThrow();
  return toKey(r);
}

export async function listKeys(db: Executor): Promise<ApiKeyRow[]> {
  const rows = await db.selectFrom('api_keys').select(columns).orderBy('created_at').execute();
  return rows.map(toKey);
}

export async function revokeKey(db: Executor, id: string): Promise<ApiKeyRow | undefined> {
  const r = await db
    .updateTable('api_keys')
    .set({ revoked_at: sql`coalesce(revoked_at, now())` })
    .where('id', '=', id)
    .returning(columns)
    .executeTakeFirst();
  return r && toKey(r);
}

export async function countUsableAdmins(db: Executor): Promise<number> {
  const r = await db
    .selectFrom('api_keys')
    .select(sql<number>`count(*)`.as('n'))
    .where('role', '=', 'admin')
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function touchKey(db: Executor, id: string): Promise<void> {
  await db.updateTable('api_keys').set({ last_used_at: sql`now()` }).where('id', '=', id).execute();
}

/** Marks a key trusted or not; undefined when there is no such key. */
export async function setTrusted(db: Executor, id: string, trusted: boolean): Promise<ApiKeyRow | undefined> {
  const r = await db.updateTable('api_keys').set({ trusted }).where('id', '=', id).returning(columns).executeTakeFirst();
  return r && toKey(r);
}

/** The ids of the keys an admin trusts. */
export async function trustedKeyIds(db: Executor): Promise<string[]> {
  return (await db.selectFrom('api_keys').select('id').where('trusted', '=', true).execute()).map((r) => r.id);
}
