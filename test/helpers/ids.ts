/**
 * Item ids for tests: UUIDv7s made from a seed and a counter instead of the clock and random bytes.
 * The train/eval split hashes the item id, so with random ids which items land in eval changed every
 * run and a gate decision on ~60 eval items could flip; with these, each test file sees the same ids,
 * in the same order, every run. The counter is per process (one test file), so apps that share a
 * database within a file never repeat an id.
 */
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** 2026-01-01T00:00:00Z: ids keep UUIDv7's time order (one millisecond apart). */
const BASE_MS = Date.UTC(2026, 0, 1);
let issued = 0;

export function seededItemIds(seed = 1): () => string {
  return () => {
    const n = issued++;
    const random = createHash('sha256').update(`modtune-test-item:${seed}:${n}`).digest().subarray(0, 16);
    return uuidv7({ msecs: BASE_MS + n, seq: 0, random: new Uint8Array(random) });
  };
}
