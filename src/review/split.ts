import { createHash } from 'node:crypto';
import type { Split } from '../db/schema/review.js';

/**
 * Train or eval, from a hash of `key`: stable across replicas, restarts and reruns, independent of
 * scores and labels.
 */
export function splitFor(key: string, evalFraction: number): Split {
  const h = createHash('sha256').update(key).digest();
  const u = h.readUInt32BE(0) / 2 ** 32;
  return u < evalFraction ? 'eval' : 'train';
}

/** The sha256 of an item's text, as the 32 bytes items store (migration 0019). */
export function textSha256Bytes(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** The sha256 of an item's text in hex, as readers get it (the grouped split's key once the text is purged). */
export function textSha256(text: string): string {
  return textSha256Bytes(text).toString('hex');
}

/** Characters that render as nothing: a repost padded with them is the same text. */
const INVISIBLE = /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0]/gu;

/**
 * A text as the split sees it: Unicode compatibility forms folded (NFKC: full-width letters, ligatures),
 * invisible characters removed, lower case, every run of whitespace one space, trimmed. Two posts that
 * differ only in these ways are one text to the split: a repost cannot be trained on and evaluated on.
 */
export function normalizeForGrouping(text: string): string {
  return text.normalize('NFKC').replace(INVISIBLE, '').toLowerCase().replace(/\s+/gu, ' ').trim();
}

/** What the split groups an item by. */
export interface GroupKeys {
  /** The normalised text's hash (`n:`), or the raw text's stored hash (`r:`) where the text is gone. */
  text: string;
  /** The item's group: its author where given, else its thread, else its text. */
  group: string;
}

export function groupKeys(i: { text: string | null; textSha256: string; authorId: string | null; threadId: string | null }): GroupKeys {
  const text = i.text !== null ? `n:${textSha256(normalizeForGrouping(i.text))}` : `r:${i.textSha256}`;
  const group = i.authorId !== null ? `author:${i.authorId}` : i.threadId !== null ? `thread:${i.threadId}` : text;
  return { text, group };
}

/**
 * An item's split. Items are split by group, not one by one: the same text (up to case, whitespace and
 * invisible characters), and one author's or one thread's items, land on one side. The first assignment
 * wins: an item whose text was already assigned takes that side (a repost follows its original, whoever
 * posts it), else one whose group was (an author's later items follow the first), else its group's key
 * is hashed with the deployment's secret salt. The salt keeps the split unpredictable from outside: a
 * moderator who could tell which items are evaluated could flip only the others' labels and pass the gate.
 * Stored the first time an item is reviewed and never changed afterwards.
 */
export function assignSplit(salt: string, keys: GroupKeys, evalFraction: number, known: { byText: Split | null; byGroup: Split | null }): Split {
  return known.byText ?? known.byGroup ?? splitFor(`${salt}:${keys.group}`, evalFraction);
}

/** The split a text with no author or thread gets when no earlier item shares its text. */
export function splitForText(salt: string, text: string, evalFraction: number): Split {
  const keys = groupKeys({ text, textSha256: textSha256(text), authorId: null, threadId: null });
  return assignSplit(salt, keys, evalFraction, { byText: null, byGroup: null });
}
