/**
 * Stage 1 of a run: what it trains. The active head (the candidate must beat it), its backbone, the
 * backbone's base head (the DPO reference, for every run: each run refits from it on all the labels so far,
 * so DPO's bound on how far the head moves holds over the head's life, not per run) and the policy's
 * binding of categories to the backbone's labels. Recorded on the run at once.
 */
import * as heads from '../../models/head.repository.js';
import { mapLabels } from '../../policy/label-mapping.js';
import type { Policy } from '../../policy/policy.js';
import { trainingBinding } from '../math/dataset.js';
import * as repo from '../training.repository.js';
import { SkipRun, type RunContext, type RunSetting } from './context.js';

export async function runSetting(ctx: RunContext, runId: string, policy: Policy): Promise<RunSetting> {
  const db = ctx.database.db;
  const active = await heads.getActiveHead(db);
  if (!active) throw new Error('there is no active head to tune');
  const backbone = (await heads.getBackbone(db, active.backboneId))!;
  await repo.updateRun(db, runId, { activeHeadId: active.id });
  const reference = (await heads.findBaseHead(db, backbone.id))!;
  await repo.updateRun(db, runId, { referenceHeadId: reference.id });
  const mapping = mapLabels(policy, heads.labelSpace(backbone));
  const binding = trainingBinding(mapping, backbone.labels);
  if (binding.rows.size === 0) {
    throw new SkipRun(`no category of policy '${policy.name}' can be trained: ${Object.entries(binding.skipped).map(([c, why]) => `'${c}' ${why}`).join('; ')}`);
  }
  return { policy, active, backbone, reference, mapping, binding };
}
