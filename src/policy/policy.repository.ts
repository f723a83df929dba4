/** Recorded policy versions: the only code that touches policy_versions. */
import type { Executor } from '../db/database.js';

/**
 * Stores a policy's exact source and categories under its version; a version already recorded is left as
 * it is (its categories are its decisions' score order, migration 0018).
 */
export async function recordPolicyVersion(db: Executor, p: { name: string; version: string; source: string; categories: readonly string[] }): Promise<void> {
  await db
    .insertInto('policy_versions')
    .values({ name: p.name, version: p.version, source: p.source, categories: [...p.categories] })
    .onConflict((oc) => oc.columns(['name', 'version']).doNothing())
    .execute();
}

/** The recorded categories (their decisions' score order) of each given policy version, keyed `name\0version`. */
export async function policyCategories(db: Executor, versions: readonly { name: string; version: string }[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (versions.length === 0) return out;
  const rows = await db
    .selectFrom('policy_versions')
    .select(['name', 'version', 'categories'])
    .where((eb) => eb.or(versions.map((v) => eb.and([eb('name', '=', v.name), eb('version', '=', v.version)]))))
    .execute();
  for (const r of rows) out.set(policyKey(r.name, r.version), r.categories);
  return out;
}

export const policyKey = (name: string, version: string): string => `${name}\0${version}`;
