/**
 * Privacy: the retention job (purge raw text after a policy's `retention.text_days`, keeping labels,
 * features and pairs, so training and audit still work; drop expired Idempotency-Key records) and the
 * data-subject operations (look up everything held about an item; delete it).
 */
import { sql } from 'kysely';
import type { DB } from '../db/database.js';
import { recordAudit } from '../audit/audit.repository.js';
import { notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import type { PolicyRegistry } from '../policy/registry.js';

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
      const r = await this.db
        .updateTable('content_items')
        .set({ text: null, context: null, text_purged_at: sql`now()` })
        .where('text', 'is not', null)
        .where('created_at', '<', sql<Date>`now() - ${days} * interval '1 day'`)
        .where((eb) => eb.exists(eb.selectFrom('decisions as d').select(sql`1`.as('one')).whereRef('d.item_id', '=', 'content_items.id').where('d.policy_name', '=', p.name)))
        .executeTakeFirst();
      purged[p.name] = Number(r.numUpdatedRows);
      // Token ids are the text in another form: they go with it. (Features, a mean of vectors, stay.)
      await this.db
        .updateTable('decisions')
        .set({ token_ids: null })
        .where('token_ids', 'is not', null)
        .where((eb) => eb.exists(eb.selectFrom('content_items as i').select(sql`1`.as('one')).whereRef('i.id', '=', 'decisions.item_id').where('i.text_purged_at', 'is not', null)))
        .execute();
      if (purged[p.name] > 0) {
        this.log.info({ policy: p.name, days, items: purged[p.name] }, 'retention purged raw text');
        await recordAudit(this.db, { actor: 'retention', action: 'retention.purged', subjectType: 'policy', subjectId: p.name, details: { days, items: purged[p.name] } });
      }
    }
    const del = await this.db
      .deleteFrom('idempotency_keys')
      .where('created_at', '<', sql<Date>`now() - ${this.opts.idempotencyTtlHours} * interval '1 hour'`)
      .executeTakeFirst();
    return { purged, idempotencyDeleted: Number(del.numDeletedRows) };
  }

  /** Everything stored about one item (a data-subject access request). */
  /**
   * The items stored under a platform's own id (a data-subject request names the post or comment, not our
   * item id), newest first; each can then be read or deleted by its id. One external id may have several
   * items (re-moderated after an edit, or sent by two integrations).
   */
  async itemsByExternalId(externalId: string, limit = 100) {
    const rows = await this.db
      .selectFrom('content_items as c')
      .leftJoin('decisions as d', 'd.item_id', 'c.id')
      .select((eb) => ['c.id', 'c.external_id', 'c.client_key_id', 'c.text_length', 'c.created_at', 'c.text_purged_at', eb.fn.count<number>('d.id').as('decisions')])
      .where('c.external_id', '=', externalId)
      .groupBy('c.id')
      .orderBy('c.created_at', 'desc')
      .orderBy('c.id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ ...r, decisions: Number(r.decisions) }));
  }

  async item(id: string) {
    const item = await this.db.selectFrom('content_items').selectAll().where('id', '=', id).executeTakeFirst();
    if (!item) throw notFound('item', id);
    const decisions = await this.db
      .selectFrom('decisions')
      .select(['id', 'request_id', 'policy_name', 'policy_version', 'head_id', 'action', 'flagged', 'categories', 'category_scores', 'created_at'])
      .where('item_id', '=', id)
      .orderBy('created_at')
      .execute();
    const tasks = await this.db
      .selectFrom('review_tasks')
      .select(['id', 'reason', 'status', 'appeal_reason', 'created_at', 'completed_at'])
      .where('item_id', '=', id)
      .orderBy('created_at')
      .execute();
    const reviews = await this.db
      .selectFrom('reviews')
      .select(['id', 'task_id', 'moderator_key_id', 'labels', 'notes', 'created_at'])
      .where('item_id', '=', id)
      .orderBy('created_at')
      .execute();
    const labels = await this.db
      .selectFrom('review_labels')
      .select(['id', 'task_id', 'category', 'label', 'model_label', 'split', 'created_at'])
      .where('item_id', '=', id)
      .orderBy('id')
      .execute();
    // Training pairs are the settled labels (the latest per category), not a separate copy.
    const latest = new Map(labels.map((l) => [l.category, l]));
    const pairs = [...latest.values()]
      .filter((l) => l.label !== null)
      .map((l) => ({ id: Number(l.id), category: l.category, chosen: l.label!, rejected: !l.label, split: l.split }));
    const comments = await this.db
      .selectFrom('subject_comments')
      .select(['id', 'moderator_key_id', 'text', 'created_at'])
      .where('item_id', '=', id)
      .orderBy('created_at')
      .execute();
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
      const item = await trx.selectFrom('content_items').select('id').where('id', '=', id).forUpdate().executeTakeFirst();
      if (!item) throw notFound('item', id);
      const count = async (table: 'decisions' | 'review_labels') =>
        Number((await trx.selectFrom(table).select(sql<number>`count(*)`.as('n')).where('item_id', '=', id).executeTakeFirstOrThrow()).n);
      const decisions = await count('decisions');
      const pairs = await count('review_labels');
      // Decisions, tasks, reviews, labels (the training pairs), splits and comments go with it (ON DELETE CASCADE).
      await trx.deleteFrom('content_items').where('id', '=', id).execute();
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
