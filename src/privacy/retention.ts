/**
 * Privacy: the retention job (purge raw text after a policy's `retention.text_days`, keeping labels,
 * features and pairs, so training and audit still work; drop expired Idempotency-Key records) and the
 * data-subject operations (look up everything held about an item; delete it).
 */
import type { DB } from '../db/database.js';
import { recordAudit } from '../audit/audit.repository.js';
import { notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { deleteExpiredIdempotencyRecords } from '../idempotency/idempotency.repository.js';
import type { PolicyRegistry } from '../policy/registry.js';
import * as repo from './retention.repository.js';

export class RetentionService {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly db: DB,
    private readonly policies: PolicyRegistry,
    private readonly opts: { idempotencyTtlHours: number },
    private readonly log: Logger,
  ) {}

  start(intervalMs: number): void {
    const tick = () => {
      if (this.running) return;
      this.running = this.run()
        .catch((err: Error) => this.log.warn({ err: err.message }, 'retention run failed'))
        .finally(() => {
          this.running = null;
        });
    };
    tick();
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass: purge text past each policy's retention, drop old idempotency records. */
  async run(): Promise<{ purged: Record<string, number>; idempotencyDeleted: number }> {
    const purged: Record<string, number> = {};
    for (const p of this.policies.all) {
      const days = p.settings.retention.text_days;
      if (days === null) continue;
      purged[p.name] = await repo.purgeExpiredText(this.db, p.name, days);
      // Token ids are the text in another form: they go with it. (Features, a mean of vectors, stay.)
      await repo.purgeTokenIdsOfPurgedItems(this.db);
      if (purged[p.name] > 0) {
        this.log.info({ policy: p.name, days, items: purged[p.name] }, 'retention purged raw text');
        await recordAudit(this.db, { actor: 'retention', action: 'retention.purged', subjectType: 'policy', subjectId: p.name, details: { days, items: purged[p.name] } });
      }
    }
    const idempotencyDeleted = await deleteExpiredIdempotencyRecords(this.db, this.opts.idempotencyTtlHours);
    return { purged, idempotencyDeleted };
  }

  /** Everything stored about one item (a data-subject access request). */
  /**
   * The items stored under a platform's own id (a data-subject request names the post or comment, not our
   * item id), newest first; each can then be read or deleted by its id. One external id may have several
   * items (re-moderated after an edit, or sent by two integrations).
   */
  async itemsByExternalId(externalId: string, limit = 100) {
    return repo.itemsByExternalId(this.db, externalId, limit);
  }

  async itemsByAuthor(authorId: string, limit = 100) {
    return repo.itemsByAuthor(this.db, authorId, limit);
  }

  /** A data-subject request for a person: every item of the author and everything derived from it, in one transaction. Audited with the counts. */
  async deleteAuthor(authorId: string, actor: { name: string; keyId: string }, requestId: string) {
    return this.db.transaction().execute(async (trx) => {
      const out = await repo.deleteAuthor(trx, authorId);
      await recordAudit(trx, {
        actor: actor.name,
        actorKeyId: actor.keyId,
        action: 'author.deleted',
        subjectType: 'author',
        subjectId: authorId,
        requestId,
        details: { items: out.items, decisions: out.decisions, preference_pairs: out.pairs, comments: out.comments },
      });
      return out;
    });
  }

  async item(id: string) {
    const item = await repo.getItem(this.db, id);
    if (!item) throw notFound('item', id);
    const decisions = await repo.itemDecisions(this.db, id);
    const tasks = await repo.itemTasks(this.db, id);
    const reviews = await repo.itemReviews(this.db, id);
    const labels = await repo.itemLabels(this.db, id);
    // Training pairs are the settled labels (the latest per category), not a separate copy.
    const latest = new Map(labels.map((l) => [l.category, l]));
    const pairs = [...latest.values()]
      .filter((l) => l.label !== null)
      .map((l) => ({ id: Number(l.id), category: l.category, chosen: l.label!, rejected: !l.label, split: l.split }));
    const comments = await repo.itemComments(this.db, id);
    return {
      id: item.id,
      external_id: item.external_id,
      author_id: item.author_id,
      thread_id: item.thread_id,
      text: item.text,
      context: item.context,
      text_sha256: item.text_sha256,
      text_purged_at: item.text_purged_at,
      created_at: item.created_at,
      decisions,
      review_tasks: tasks,
      reviews,
      labels,
      preference_pairs: pairs,
      /** Moderators' comments made on this item's tasks (they go with it on deletion). */
      comments,
    };
  }

  /** Deletes an item and everything derived from it; the audit event keeps only the ids. */
  async deleteItem(id: string, actor: { name: string; keyId: string }, requestId: string): Promise<{ decisions: number; pairs: number }> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await repo.lockItem(trx, id))) throw notFound('item', id);
      const decisions = await repo.countOfItem(trx, 'decisions', id);
      const pairs = await repo.countOfItem(trx, 'review_labels', id);
      // Decisions, tasks, reviews, labels (the training pairs), splits and comments go with it (ON DELETE CASCADE).
      await repo.deleteItem(trx, id);
      await recordAudit(trx, {
        actor: actor.name,
        actorKeyId: actor.keyId,
        action: 'item.deleted',
        subjectType: 'item',
        subjectId: id,
        requestId,
        details: { decisions, preference_pairs: pairs },
      });
      return { decisions, pairs };
    });
  }
}
