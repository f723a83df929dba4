/**
 * The post-promotion guard. After a training run promotes a head, the next `window_verdicts` completed
 * blind reviews (moderators not shown the decision) of decisions that head made are compared with what
 * its predecessor would have said on the same stored features. If the new head agrees with moderators less, by more than the policy allows, the
 * predecessor is reactivated automatically.
 */
import { systemClock, type Clock } from '../clock.js';
import type { DB } from '../db/database.js';
import { bytesToFloat32, bytesToInt32, tokenRows } from '../inference/head.js';
import { ngramSource } from '../inference/ngrams.js';
import type { Logger } from '../logger.js';
import * as heads from '../models/head.repository.js';
import type { ModelService } from '../models/model.service.js';
import { probabilityKind, Scorer } from '../models/scorer.js';
import { mapLabels } from '../policy/label-mapping.js';
import type { PolicyRegistry } from '../policy/registry.js';
import { blindLabelsOfHead } from './training.repository.js';

export interface GuardState {
  status: 'watching' | 'passed' | 'rolled_back';
  predecessor_id: string;
  window_verdicts: number;
  max_agreement_drop: number;
  verdicts?: number;
  agreement?: number;
  predecessor_agreement?: number;
  decided_at?: string;
}

export class PromotionGuard {
  private checking = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: DB,
    private readonly models: ModelService,
    private readonly policies: PolicyRegistry,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.poke(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Fire-and-forget check (after each completed review, and on a timer); never overlaps itself. */
  poke(): void {
    if (this.checking || !this.models.loaded) return;
    this.checking = true;
    this.check()
      .catch((err: Error) => this.log.warn({ err: err.message }, 'promotion guard check failed'))
      .finally(() => {
        this.checking = false;
      });
  }

  async check(): Promise<GuardState | null> {
    const { head, backbone } = this.models.active;
    const state = head.metrics.guard as GuardState | undefined;
    if (!state || state.status !== 'watching') return null;
    // Blind labels only: a moderator shown the new head's decision leans toward it.
    const rows = await blindLabelsOfHead(this.db, head.id);
    const verdicts = new Set(rows.map((r) => r.taskId)).size;
    if (verdicts < state.window_verdicts) return state;

    const predecessor = await heads.getHead(this.db, state.predecessor_id);
    if (!predecessor) return state;
    const policy = this.policies.get();
    // What the predecessor would have said, through the scorer that served it (token ids and text may be
    // purged: those rows count only if the predecessor has no part that reads them; an appealed item that
    // was not routed when decided has no stored features and is left out).
    const usable = rows.filter(
      (r): r is typeof r & { features: Uint8Array } =>
        r.features !== null && !!policy.rules[r.category] && (predecessor.lexical === null || r.tokenIds !== null) && (!predecessor.ngrams || r.text !== null),
    );
    const scorer = new Scorer(predecessor, probabilityKind(backbone.problemType), mapLabels(policy, heads.labelSpace(backbone)));
    const D = predecessor.dim;
    const features = new Float32Array(usable.length * D);
    usable.forEach((r, i) => features.set(bytesToFloat32(r.features), i * D));
    const tokens = tokenRows(usable.map((r) => (r.tokenIds ? bytesToInt32(r.tokenIds) : new Int32Array(0))));
    const scores = scorer.score({ features, tokens, ngrams: ngramSource(usable.map((r) => r.text)), n: usable.length });
    let agreeNew = 0;
    let agreeOld = 0;
    let cells = 0;
    usable.forEach((r, i) => {
      cells++;
      if (r.modelLabel === r.label) agreeNew++;
      if ((scores[i][r.category] >= policy.rules[r.category].flag) === r.label) agreeOld++;
    });
    if (cells === 0) return state;
    const agreement = agreeNew / cells;
    const predecessorAgreement = agreeOld / cells;
    const rollback = predecessorAgreement - agreement > state.max_agreement_drop;
    const next: GuardState = {
      ...state,
      status: rollback ? 'rolled_back' : 'passed',
      verdicts,
      agreement,
      predecessor_agreement: predecessorAgreement,
      decided_at: this.clock.date().toISOString(),
    };
    await heads.mergeHeadMetrics(this.db, head.id, { guard: next });
    if (rollback) {
      this.log.warn({ headId: head.id, agreement, predecessorAgreement }, 'promotion guard: live agreement fell; rolling back');
      await this.models.activate(
        predecessor.id,
        `promotion guard: live agreement ${(100 * agreement).toFixed(1)}% vs predecessor ${(100 * predecessorAgreement).toFixed(1)}% over ${verdicts} verdicts`,
        { name: 'promotion guard' },
        { rollback: true, expectedActiveId: head.id },
      );
    } else {
      this.log.info({ headId: head.id, agreement, predecessorAgreement }, 'promotion guard passed');
      await this.models.refresh();
    }
    return next;
  }
}
