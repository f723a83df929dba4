/**
 * Shadow scoring: the newest trained head that is not active scores the same traffic on the same
 * features (one small matrix product per request) and we count how often it would have acted
 * differently. Counts accumulate in memory and are added to shadow_stats every few seconds.
 */
import type { DB } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { HeadRow } from '../models/head.repository.js';
import * as heads from '../models/head.repository.js';
import type { Decision } from '../policy/policy.js';
import * as stats from './shadow.repository.js';

interface Pending {
  against: string;
  decisions: number;
  actionDiffers: number;
  flips: Record<string, number>;
}

export class ShadowScorer {
  head: HeadRow | null = null;
  private pending = new Map<string, Pending>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: DB,
    private readonly log: Logger,
  ) {}

  /** The newest head trained after the active one, of the same backbone, that is not active. */
  async refresh(active: HeadRow): Promise<void> {
    const newest = await heads.newestShadowHeadId(this.db, active);
    this.head = newest ? ((await heads.getHead(this.db, newest)) ?? null) : null;
  }

  record(activeHeadId: string, served: Decision, shadow: Decision): void {
    const id = this.head!.id;
    const p = this.pending.get(id) ?? { against: activeHeadId, decisions: 0, actionDiffers: 0, flips: {} };
    p.decisions++;
    if (served.action !== shadow.action) p.actionDiffers++;
    for (const [cat, flagged] of Object.entries(served.categories)) {
      if (shadow.categories[cat] !== flagged) p.flips[cat] = (p.flips[cat] ?? 0) + 1;
    }
    this.pending.set(id, p);
  }

  start(intervalMs = 5_000): void {
    this.timer = setInterval(() => void this.flush().catch((err: Error) => this.log.warn({ err: err.message }, 'shadow stats flush failed')), intervalMs);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [headId, p] of batch) {
      await this.db.transaction().execute(async (trx) => {
        const row = await stats.lockShadowStats(trx, headId);
        const flips = { ...(row?.categoryFlips ?? {}) };
        for (const [cat, n] of Object.entries(p.flips)) flips[cat] = (flips[cat] ?? 0) + n;
        await stats.addShadowStats(trx, { headId, againstHeadId: p.against, decisions: p.decisions, actionDiffers: p.actionDiffers, categoryFlips: flips });
      });
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
