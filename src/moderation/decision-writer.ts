/**
 * Group commit for decisions. Concurrent requests hand their rows to the writer; whatever arrives while
 * one transaction commits goes into the next one, as multi-row inserts. A request is answered only after
 * the transaction holding its rows committed. No artificial wait: an idle writer commits at once.
 * If a batch fails, its requests are retried one by one, so a bad row fails only its own request.
 */
import type { DB, Executor } from '../db/database.js';
import { store, type IdempotencyRef, type StoredResponse } from '../idempotency/idempotency.js';
import type { NewTask } from '../review/review.repository.js';
import { insertTasks } from '../review/review.repository.js';
import { insertItemsAndDecisions, type NewDecision, type NewItem } from './moderation.repository.js';

export interface DecisionRows {
  items: NewItem[];
  decisions: NewDecision[];
  tasks: NewTask[];
  /** An Idempotency-Key's stored response, committed with the decisions. */
  idempotency?: { ref: IdempotencyRef; response: StoredResponse };
}

interface Pending {
  rows: DecisionRows;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface WriterStats {
  requests: number;
  rows: number;
  ms: number;
}

export class DecisionWriter {
  private queue: Pending[] = [];
  private running: Promise<void> | null = null;
  /** The category order of each policy version written so far (read once from this database). */
  private readonly orders = new Map<string, string[]>();

  constructor(
    private readonly db: DB,
    private readonly opts: { maxRowsPerCommit?: number; onCommit?: (s: WriterStats) => void } = {},
  ) {}

  write(rows: DecisionRows): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ rows, resolve, reject });
      this.running ??= this.drain().finally(() => {
        this.running = null;
      });
    });
  }

  /** Resolves when everything handed in so far is committed (or failed). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    const max = this.opts.maxRowsPerCommit ?? 1_000;
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let rows = 0;
      while (this.queue.length > 0 && (batch.length === 0 || rows + this.queue[0].rows.decisions.length <= max)) {
        const p = this.queue.shift()!;
        rows += p.rows.decisions.length;
        batch.push(p);
      }
      const started = performance.now();
      try {
        await this.db.transaction().execute((trx) => insert(trx, batch.map((p) => p.rows), this.orders));
        this.opts.onCommit?.({ requests: batch.length, rows, ms: performance.now() - started });
        for (const p of batch) p.resolve();
      } catch (err) {
        if (batch.length === 1) {
          batch[0].reject(err as Error);
          continue;
        }
        // Isolate the failure: each request on its own.
        for (const p of batch) {
          try {
            await this.db.transaction().execute((trx) => insert(trx, [p.rows], this.orders));
            p.resolve();
          } catch (e) {
            p.reject(e as Error);
          }
        }
      }
    }
  }
}

async function insert(trx: Executor, all: DecisionRows[], orders: Map<string, string[]>): Promise<void> {
  for (const r of all) if (r.idempotency) await store(trx, r.idempotency.ref, r.idempotency.response);
  await insertItemsAndDecisions(
    trx,
    all.flatMap((r) => r.items),
    all.flatMap((r) => r.decisions),
    orders,
  );
  await insertTasks(
    trx,
    all.flatMap((r) => r.tasks),
  );
}
