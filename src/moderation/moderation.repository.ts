import type { Executor } from '../db/database.js';
import { categoryFlagsOf, categoryScoresOf, packScores } from '../db/stored-columns.js';
import type { Action } from '../db/schema/decisions.js';
import { policyCategories, policyKey } from '../policy/policy.repository.js';

export interface NewItem {
  id: string;
  externalId: string | null;
  authorId: string | null;
  threadId: string | null;
  text: string;
  context: string | null;
  /** SHA-256 of the text, its 32 bytes (migration 0019). */
  textSha256: Uint8Array;
  clientKeyId: string | null;
}

export interface NewDecision {
  id: string;
  itemId: string;
  requestId: string;
  policyName: string;
  policyVersion: string;
  backboneId: string;
  headId: string;
  action: Action;
  flagged: boolean;
  categoryScores: Record<string, number>;
  categories: Record<string, boolean>;
  /** Only for an item that goes to review (what training, the guard and the advisor read); else null. */
  features: Uint8Array | null;
  /** Int32 LE token ids the text was scored with (a lexical part reads them; retention purges them); null with the features. */
  tokenIds: Uint8Array | null;
  tokenCount: number;
  truncated: boolean;
}

/**
 * Stores items and their decisions. `orders` caches the policy versions' category orders read for this
 * database (a recorded version's never change), so a caller that keeps it reads each version once.
 */
export async function insertItemsAndDecisions(db: Executor, items: NewItem[], decisions: NewDecision[], orders: Map<string, string[]> = new Map()): Promise<void> {
  if (items.length === 0) return;
  const keys = decisions.map((d) => policyKey(d.policyName, d.policyVersion));
  const missing = new Map<string, { name: string; version: string }>();
  decisions.forEach((d, i) => {
    if (!orders.has(keys[i])) missing.set(keys[i], { name: d.policyName, version: d.policyVersion });
  });
  if (missing.size > 0) for (const [k, v] of await policyCategories(db, [...missing.values()])) orders.set(k, v);
  const packed = decisions.map((d, i) => {
    const order = orders.get(keys[i]);
    if (!order) throw new Error(`decision ${d.id}: policy ${d.policyName}@${d.policyVersion} is not recorded`);
    return packScores(order, d.categoryScores, d.categories, `decision ${d.id}`);
  });
  await db
    .insertInto('content_items')
    .values(
      items.map((i) => ({
        id: i.id,
        external_id: i.externalId,
        author_id: i.authorId,
        thread_id: i.threadId,
        text: i.text,
        context: i.context,
        text_sha256: i.textSha256,
        text_length: i.text.length,
        client_key_id: i.clientKeyId,
        text_purged_at: null,
      })),
    )
    .execute();
  await db
    .insertInto('decisions')
    .values(
      decisions.map((d, i) => ({
        id: d.id,
        item_id: d.itemId,
        request_id: d.requestId,
        policy_name: d.policyName,
        policy_version: d.policyVersion,
        backbone_id: d.backboneId,
        head_id: d.headId,
        action: d.action,
        flagged: d.flagged,
        scores: packed[i].scores,
        flags: packed[i].flags,
        features: d.features,
        token_ids: d.tokenIds,
        token_count: d.tokenCount,
        truncated: d.truncated,
      })),
    )
    .execute();
}

export async function getDecision(db: Executor, id: string) {
  return db
    .selectFrom('decisions as d')
    .innerJoin('content_items as i', 'i.id', 'd.item_id')
    .innerJoin('head_versions as h', 'h.id', 'd.head_id')
    .innerJoin('backbones as b', 'b.id', 'd.backbone_id')
    .select([
      'd.id',
      'd.item_id',
      'i.external_id',
      'd.request_id',
      'd.policy_name',
      'd.policy_version',
      'd.backbone_id',
      'b.name as backbone_name',
      'd.head_id',
      'h.version as head_version',
      'd.action',
      'd.flagged',
      categoryFlagsOf('d').as('categories'),
      categoryScoresOf('d').as('category_scores'),
      'd.token_count',
      'd.truncated',
      'd.created_at',
      'i.client_key_id',
    ])
    .where('d.id', '=', id)
    .executeTakeFirst();
}

/** The decisions under a policy since `since`, oldest first (the threshold advisor's what-if), at most `limit`. */
export async function decisionsSince(db: Executor, policyName: string, since: Date, limit: number) {
  return db
    .selectFrom('decisions as d')
    .select(['d.id', 'd.item_id', 'd.action', categoryScoresOf('d').as('category_scores'), 'd.created_at'])
    .where('d.policy_name', '=', policyName)
    .where('d.created_at', '>=', since)
    .orderBy('d.created_at')
    .orderBy('d.id')
    .limit(limit)
    .execute();
}
