import { createHash } from 'node:crypto';
import type { Split } from '../db/schema/review.js';

/**
 * Train or eval, from a hash of `key`: stable across replicas, restarts and reruns, independent of
 * scores and labels. Stored the first time an item is reviewed and never changed afterwards.
 */
export function splitFor(key: string, evalFraction: number): Split {
  const h = createHash('sha256').update(key).digest();
  const u = h.readUInt32BE(0) / 2 ** 32;
  return u < evalFraction ? 'eval' : 'train';
}

/**
 * An item's split is drawn from its text (the sha256 every item keeps, even after retention purges the
 * text) and the deployment's secret salt, not from its random id: the same text always lands on the
 * same side, so a repost cannot be trained on and evaluated on, and a rerun of the same traffic with the
 * same salt splits it the same way. The salt keeps the split unpredictable from outside: a moderator who
 * could tell which items are evaluated could flip only the others' labels and pass the gate.
 */
export function splitForText(salt: string, textSha256: string, evalFraction: number): Split {
  return splitFor(`${salt}:${textSha256}`, evalFraction);
}

/** The sha256 (hex) items store for their text. */
export function textSha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
