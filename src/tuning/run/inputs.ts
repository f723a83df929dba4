/**
 * Part of stage 2 (the snapshot): the inputs of every labelled item on the backbone being trained.
 */
import { bytesToFloat32, bytesToInt32, float32ToBytes, int32ToBytes } from '../../inference/head.js';
import type { ItemInputs, SettledCell } from '../math/dataset.js';
import * as repo from '../training.repository.js';
import type { RunContext } from './context.js';

/**
 * Each labelled item's inputs on the backbone being trained: the stored features and token ids of its
 * decision. Items scored by another backbone get both recomputed from their stored text once, and kept
 * (item_features): later runs read them (`features_cached`) instead of running the model again; so do
 * items lacking the token ids a lexical part needs (decisions from before token ids were stored).
 * Where retention purged the text: another backbone's item trains from its kept features if it has
 * them, else it is left out (its decision's features mean nothing here); this backbone's item still
 * trains the linear part, without tokens (retention purges them with the text). All counted in the
 * data snapshot.
 */
export async function itemInputs(
ctx: RunContext,
backboneId: string,
  dim: number,
  cells: SettledCell[],
  needTokens: boolean,
): Promise<{ items: Map<string, ItemInputs>; recomputed: number; cached: number; withoutTokens: number; withoutText: number; leftOut: { text_purged: number } }> {
  const decisionOf = new Map<string, string>();
  for (const c of cells) if (!decisionOf.has(c.itemId)) decisionOf.set(c.itemId, c.decisionId);
  const rows = await repo.decisionInputs(ctx.database.db, [...new Set(decisionOf.values())]);
  const items = new Map<string, ItemInputs>();
  // Features to look up or recompute: another backbone's, none stored (an item not routed when it was
  // decided, appealed since), or token ids missing where a lexical part needs them.
  const stored = (r: (typeof rows)[number]): r is typeof r & { features: Uint8Array } => r.backbone_id === backboneId && r.features !== null;
  const elsewhere = rows.filter((r) => !stored(r) || (needTokens && r.token_ids === null && r.text !== null));
  const kept = new Map((await repo.cachedItemFeatures(ctx.database.db, backboneId, elsewhere.map((r) => r.item_id))).map((k) => [k.item_id, k]));
  const redo: typeof rows = [];
  let purged = 0;
  let withoutTokens = 0;
  let cached = 0;
  for (const r of rows) {
    const k = kept.get(r.item_id);
    if (stored(r) && (!needTokens || r.token_ids !== null || r.text === null)) {
      if (needTokens && r.token_ids === null) withoutTokens++;
      items.set(r.item_id, { features: bytesToFloat32(r.features), tokens: r.token_ids ? bytesToInt32(r.token_ids) : null, text: r.text, key: r.group_key ?? r.text_sha256 });
    } else if (k && (!needTokens || k.token_ids !== null || r.text === null)) {
      cached++;
      if (needTokens && k.token_ids === null) withoutTokens++;
      items.set(r.item_id, { features: bytesToFloat32(k.features), tokens: k.token_ids ? bytesToInt32(k.token_ids) : null, text: r.text, key: r.group_key ?? r.text_sha256 });
    } else if (r.text !== null) redo.push(r);
    else purged++;
  }
  if (redo.length > 0 && !ctx.embed) {
    throw new Error(`${redo.length} reviewed items need features or token ids recomputed on this backbone, and this process cannot compute them`);
  }
  for (let i = 0; i < redo.length; i += 64) {
    const chunk = redo.slice(i, i + 64);
    const e = await ctx.embed!(backboneId, chunk.map((r) => ({ text: r.text!, context: r.context })));
    if (e.dim !== dim) throw new Error(`recomputed features have ${e.dim} values, the head expects ${dim}`);
    const fresh = chunk.map((r, k) => ({
      r,
      features: e.features.slice(k * e.dim, (k + 1) * e.dim),
      tokens: e.tokens.ids.slice(e.tokens.offsets[k], e.tokens.offsets[k + 1]),
    }));
    for (const f of fresh) items.set(f.r.item_id, { features: f.features, tokens: f.tokens, text: f.r.text, key: f.r.group_key ?? f.r.text_sha256 });
    await repo.saveItemFeatures(
      ctx.database.db,
      backboneId,
      fresh.map((f) => ({ itemId: f.r.item_id, features: float32ToBytes(f.features), tokenIds: int32ToBytes(f.tokens) })),
    );
  }
  const withoutText = [...items.values()].filter((x) => x.text === null).length;
  return { items, recomputed: redo.length, cached, withoutTokens, withoutText, leftOut: { text_purged: purged } };
}
