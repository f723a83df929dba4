import { createHash } from 'node:crypto';
import type { Split } from '../db/schema/review.js';

/**
 * Train or eval, from a hash of the item id: stable across replicas and restarts, independent of
 * content and scores. Stored the first time an item is reviewed and never changed afterwards.
 */
export function splitFor(itemId: string, evalFraction: number): Split {
  const h = createHash('sha256').update(itemId).digest();
  const u = h.readUInt32BE(0) / 2 ** 32;
  return u < evalFraction ? 'eval' : 'train';
}
