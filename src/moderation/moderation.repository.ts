import type { Executor } from '../db/database.js';
import type { Action } from '../db/schema/decisions.js';

export interface NewItem {
  id: string;
  externalId: string | null;
  authorId: string | null;
  threadId: string | null;
  text: string;
  context: string | null;
  textSha256: string;
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
  clientKeyId: string | null;
}

export async function insertItemsAndDecisions(db: Executor, items: NewItem[], decisions: NewDecision[]): Promise<void> {
  if (items.length === 0) return;
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
      decisions.map((d) => ({
        id: d.id,
        item_id: d.itemId,
        request_id: d.requestId,
        policy_name: d.policyName,
        policy_version: d.policyVersion,
        backbone_id: d.backboneId,
        head_id: d.headId,
        action: d.action,
        flagged: d.flagged,
        category_scores: JSON.stringify(d.categoryScores),
        categories: JSON.stringify(d.categories),
        features: d.features,
        token_ids: d.tokenIds,
        token_count: d.tokenCount,
        truncated: d.truncated,
        client_key_id: d.clientKeyId,
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
      'd.categories',
      'd.category_scores',
      'd.token_count',
      'd.truncated',
      'd.created_at',
      'd.client_key_id',
    ])
    .where('d.id', '=', id)
    .executeTakeFirst();
}

/** The decisions under a policy since `since`, oldest first (the threshold advisor's what-if), at most `limit`. */
export async function decisionsSince(db: Executor, policyName: string, since: Date, limit: number) {
  return db
    .selectFrom('decisions')
    .select(['id', 'item_id', 'action', 'category_scores', 'created_at'])
    .where('policy_name', '=', policyName)
    .where('created_at', '>=', since)
    .orderBy('created_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}
