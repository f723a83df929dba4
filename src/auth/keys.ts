/** API key material. Keys are 32 random bytes; only their SHA-256 is stored (they are not passwords, so no slow hash is needed). */
import { createHash, randomBytes } from 'node:crypto';

export const KEY_PREFIX = 'mt_';

export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** What listings show so a person can tell keys apart without the key itself. */
export function displayPrefix(key: string): string {
  return key.slice(0, KEY_PREFIX.length + 6);
}
