/** Recorded policy versions: the only code that touches policy_versions. */
import type { Executor } from '../db/database.js';

/** Stores a policy's exact source under its version; a version already recorded is left as it is. */
export async function recordPolicyVersion(db: Executor, p: { name: string; version: string; source: string }): Promise<void> {
  await db
    .insertInto('policy_versions')
    .values({ name: p.name, version: p.version, source: p.source })
    .onConflict((oc) => oc.columns(['name', 'version']).doNothing())
    .execute();
}
