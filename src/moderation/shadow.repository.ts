/** Shadow scoring's counts (shadow_stats): the only code that touches that table. */
import { sql, type Selectable } from 'kysely';
import type { Executor } from '../db/database.js';
import type { ShadowStatsTable } from '../db/schema/training.js';

/** How often a shadow head would have acted differently from the head it shadowed. */
export interface ShadowStats {
  headId: string;
  againstHeadId: string;
  decisions: number;
  actionDiffers: number;
  categoryFlips: Record<string, number>;
  updatedAt: Date;
}

function toStats(r: Selectable<ShadowStatsTable>): ShadowStats {
  return {
    headId: r.head_id,
    againstHeadId: r.against_head_id,
    decisions: Number(r.decisions),
    actionDiffers: Number(r.action_differs),
    categoryFlips: r.category_flips,
    updatedAt: r.updated_at,
  };
}

export async function getShadowStats(db: Executor, headId: string): Promise<ShadowStats | undefined> {
  const r = await db.selectFrom('shadow_stats').selectAll().where('head_id', '=', headId).executeTakeFirst();
  return r && toStats(r);
}

/** The head's counts, its row locked until the transaction ends (flushes add to it one at a time). */
export async function lockShadowStats(db: Executor, headId: string): Promise<ShadowStats | undefined> {
  const r = await db.selectFrom('shadow_stats').selectAll().where('head_id', '=', headId).forUpdate().executeTakeFirst();
  return r && toStats(r);
}

/** Adds counts to the head's row (creating it): decisions and differences add up; the flips given replace the stored ones. */
export async function addShadowStats(
  db: Executor,
  s: { headId: string; againstHeadId: string; decisions: number; actionDiffers: number; categoryFlips: Record<string, number> },
): Promise<void> {
  await db
    .insertInto('shadow_stats')
    .values({ head_id: s.headId, against_head_id: s.againstHeadId, decisions: s.decisions, action_differs: s.actionDiffers, category_flips: JSON.stringify(s.categoryFlips) })
    .onConflict((oc) =>
      oc.column('head_id').doUpdateSet({
        against_head_id: s.againstHeadId,
        decisions: sql`shadow_stats.decisions + ${s.decisions}`,
        action_differs: sql`shadow_stats.action_differs + ${s.actionDiffers}`,
        category_flips: JSON.stringify(s.categoryFlips),
        updated_at: sql`now()`,
      }),
    )
    .execute();
}
