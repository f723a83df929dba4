/**
 * Stage 4 of a run: the gate's decision, the candidate head and the run's outcome, in one transaction;
 * then promotion (compare and swap on the head the run started from) and the announcements.
 */
import { v7 as uuidv7 } from 'uuid';
import { activateInTransaction } from '../../models/activation.js';
import * as heads from '../../models/head.repository.js';
import type { NearRow } from '../math/drift.js';
import { gate, type GateDecision } from '../math/evaluate.js';
import type { TrainMessage } from '../train-worker.js';
import * as repo from '../training.repository.js';
import type { Hyperparameters, RunContext, RunOutcome, RunSetting, Say } from './context.js';

export async function recordOutcome(
  ctx: RunContext,
  runId: string,
  setting: RunSetting,
  dataSnapshot: Record<string, unknown>,
  hp: Hyperparameters,
  result: Extract<TrainMessage, { type: 'done' }>,
  near: NearRow[],
  say: Say,
): Promise<RunOutcome> {
  const { policy, active, backbone } = setting;
  const metrics = {
    steps: result.steps,
    seconds: result.seconds,
    iterations: result.iterations,
    stopped: result.stopped,
    /** Per category: the settings the search chose, its measure, the calibration. */
    categories: result.choices,
    ngram_weights: result.head.ngrams ? result.head.ngrams.buckets.length * result.head.ngrams.rows.length : 0,
    lexical_tokens: result.head.lexical?.tokens.length ?? 0,
  };
  const decision: GateDecision = gate(result.report, policy.settings.gate);
  const candidateId = uuidv7();
  let outcome = (decision.passed ? 'promoted' : 'rejected') as RunOutcome;
  const guard = policy.settings.guard;
  const summary = {
    eval_accuracy: result.report.candidate.accuracy,
    reference_eval_accuracy: result.report.active.accuracy,
    // The gate's measure (on the evidence it read): what the dashboard plots per head version.
    eval_auprc: result.report.measure.candidate.auprc,
    reference_eval_auprc: result.report.measure.active.auprc,
    evidence: decision.evidence.verdict,
    eval_items: result.report.items,
    mcnemar_p: result.report.mcnemar.p_value,
    gate_passed: decision.passed,
    ...(decision.passed && guard.enabled
      ? { guard: { status: 'watching', predecessor_id: active.id, window_verdicts: guard.window_verdicts, max_agreement_drop: guard.max_agreement_drop } }
      : {}),
  };
  let activeNow: string | undefined;
  await ctx.database.db.transaction().execute(async (trx) => {
    // Compare and swap: the candidate replaces the head the run started from, or nothing. If an admin,
    // the guard or another replica changed the active head meanwhile, the run is superseded.
    activeNow = (await heads.lockActiveHead(trx))?.id;
    if (decision.passed && activeNow !== active.id) outcome = 'superseded';
    await heads.insertHead(trx, {
      id: candidateId,
      backboneId: backbone.id,
      parentId: active.id,
      status: decision.passed ? 'candidate' : 'rejected',
      source: 'dpo',
      head: result.head,
      hyperparameters: { ...hp, chosen: Object.fromEntries(result.choices.map((c) => [c.category, { beta: c.beta, experts: c.experts.map((e) => ({ expert: e.expert, l2: e.l2, scale: e.scale })), reference_weight: c.reference_weight, offset: c.offset }])) },
      metrics: summary,
      dataSnapshot,
      trainingRunId: runId,
    });
    await repo.updateRun(trx, runId, {
      candidateHeadId: candidateId,
      metrics,
      evalReport: result.report as unknown as Record<string, unknown>,
      // The drift check's nearest rows beside the gate's decision: where to look when a batch found nothing
      // to hold and the candidate still did not convince the gate (or did).
      gate: { ...decision, drift_near: near } as unknown as Record<string, unknown>,
      status: outcome,
      error: outcome === 'superseded' ? `the gate passed, but the active head changed during the run (from ${active.id} to ${activeNow ?? 'none'}); nothing was promoted` : null,
      finished: true,
    });
    if (outcome === 'promoted') {
      await activateInTransaction(trx, candidateId, 'training run passed the gate', { name: `training run ${runId}` }, { training_run_id: runId });
    }
  });
  if (near.length) say('drift', `label drift: nothing held; nearest a finding (not held): ${near.map((r) => r.reason).join(' | ')}`);
  say(
    outcome,
    outcome === 'promoted'
      ? `promoted head ${candidateId}`
      : outcome === 'superseded'
        ? `superseded: the active head changed during the run (now ${activeNow ?? 'none'}); head ${candidateId} passed the gate but was not promoted`
        : `rejected: ${decision.reasons.join('; ')}`,
  );
  if (outcome === 'promoted') await ctx.events?.emit('head.promoted', { headId: candidateId, runId });
  await ctx.events?.emit('head.candidate', { headId: candidateId, runId });
  return outcome;
}
