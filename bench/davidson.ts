/**
 * Reading the Davidson et al. (2017) tweets for experiments, and mapping their classes onto a
 * hate/harassment policy. The file is not in the repository (DAVIDSON_CSV, or datasets/ in the clone, which git ignores) and contains slurs:
 * nothing here prints or logs a tweet.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { mulberry32 } from '../src/random.js';

export const DAVIDSON_PATH = path.resolve('datasets/davidson-2017/labeled_data.csv');

/** Davidson's majority classes. */
export const HATE = 0;
export const OFFENSIVE = 1;
export const NEITHER = 2;
export type DavidsonClass = typeof HATE | typeof OFFENSIVE | typeof NEITHER;

export interface Tweet {
  /** Position in the file (0-based data row). */
  row: number;
  /** Annotator votes for hate speech, offensive language, neither. */
  votes: [number, number, number];
  /** Majority class. */
  cls: DavidsonClass;
  text: string;
}

export interface PolicyLabels {
  hate: boolean;
  harassment: boolean;
}

/** hate speech → hate and harassment; offensive language → harassment; neither → nothing. */
export function labelsFor(cls: DavidsonClass): PolicyLabels {
  return { hate: cls === HATE, harassment: cls === HATE || cls === OFFENSIVE };
}

/**
 * One simulated moderator: draws a class with the annotators' proportions. `u` is a uniform draw in
 * [0, 1) from a seeded PRNG, so the whole queue is reproducible.
 */
export function moderatorClass(votes: [number, number, number], u: number): DavidsonClass {
  const total = votes[0] + votes[1] + votes[2];
  const x = u * total;
  if (x < votes[0]) return HATE;
  if (x < votes[0] + votes[1]) return OFFENSIVE;
  return NEITHER;
}

/**
 * RFC 4180: fields separated by commas, records by CRLF or LF; a quoted field may hold commas, line
 * breaks and doubled quotes (""). Returns every record, header included.
 */
export function parseCsv(src: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  const n = src.length;
  const endField = () => {
    record.push(field);
    field = '';
  };
  const endRecord = () => {
    endField();
    records.push(record);
    record = [];
  };
  while (i < n) {
    const ch = src[i];
    if (quoted) {
      if (ch === '"') {
        if (src[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field.length === 0) {
      quoted = true;
      i++;
    } else if (ch === ',') {
      endField();
      i++;
    } else if (ch === '\r' && src[i + 1] === '\n') {
      endRecord();
      i += 2;
    } else if (ch === '\n' || ch === '\r') {
      endRecord();
      i++;
    } else {
      field += ch;
      i++;
    }
  }
  if (quoted) throw new Error('CSV: the file ends inside a quoted field');
  if (field.length > 0 || record.length > 0) endRecord();
  return records;
}

const COLUMNS = ['', 'count', 'hate_speech', 'offensive_language', 'neither', 'class', 'tweet'];

/** Parses and validates the file; errors name the data row, never its text. */
export function parseDavidson(src: string): Tweet[] {
  const records = parseCsv(src.charCodeAt(0) === 0xfeff ? src.slice(1) : src);
  const header = records[0] ?? [];
  if (header.length !== COLUMNS.length || header.some((h, i) => h.trim() !== COLUMNS[i])) {
    throw new Error(`unexpected CSV header: expected columns ${COLUMNS.map((c) => c || '(index)').join(', ')}`);
  }
  const out: Tweet[] = [];
  for (let r = 1; r < records.length; r++) {
    const rec = records[r];
    if (rec.length === 1 && rec[0] === '') continue; // blank line
    if (rec.length !== COLUMNS.length) throw new Error(`CSV data row ${r}: ${rec.length} fields, expected ${COLUMNS.length}`);
    const num = (k: number) => {
      const v = Number(rec[k]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`CSV data row ${r}: column ${COLUMNS[k]} is not a non-negative integer`);
      return v;
    };
    const votes: [number, number, number] = [num(2), num(3), num(4)];
    const cls = num(5);
    if (cls > 2) throw new Error(`CSV data row ${r}: class must be 0, 1 or 2`);
    if (votes[0] + votes[1] + votes[2] === 0) throw new Error(`CSV data row ${r}: no annotator votes`);
    out.push({ row: r - 1, votes, cls: cls as DavidsonClass, text: rec[6] });
  }
  return out;
}

/** The dataset, or null when the file is absent (the caller says so and exits). */
export async function loadDavidson(file = DAVIDSON_PATH): Promise<Tweet[] | null> {
  let src: string;
  try {
    src = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseDavidson(src);
}

/**
 * `n` texts for the speed and size benches, seeded: tweets sampled from the Davidson file (DAVIDSON_CSV, else
 * DAVIDSON_PATH) when it is there, otherwise generated sentences of tweet length; `source` says which.
 */
export async function benchTexts(n: number, seed: number): Promise<{ texts: string[]; source: string }> {
  const rng = mulberry32(seed);
  const rows = await loadDavidson(process.env.DAVIDSON_CSV ? path.resolve(process.env.DAVIDSON_CSV) : DAVIDSON_PATH);
  if (rows) return { texts: Array.from({ length: n }, () => rows[Math.floor(rng() * rows.length)].text), source: `${n} tweets sampled from davidson-2017` };
  const words = 'the a you we they people weather today tomorrow help thanks great terrible stupid idea movie game team city night morning news'.split(' ');
  return {
    texts: Array.from({ length: n }, () => Array.from({ length: 6 + Math.floor(rng() * 20) }, () => words[Math.floor(rng() * words.length)]).join(' ')),
    source: `${n} generated sentences (davidson-2017 not found)`,
  };
}
