/**
 * Reading the ETHOS comments (Mollas et al. 2022) for experiments. The files live outside the
 * repository (ETHOS_DIR, or datasets/ in the clone, which git ignores; GPLv3: read at run time, never copied) and contain hate speech:
 * nothing here prints or logs a comment.
 *
 * `Ethos_Dataset_Binary.csv`: `comment;isHate`, isHate the fraction of annotators who judged it hate.
 * `Ethos_Dataset_Multi_Label.csv`: the hateful comments again, with `violence` and seven more fractions.
 */
import fs from 'node:fs/promises';
import path from 'node:path';

export const ETHOS_DIR = path.resolve('datasets/ethos-2021');

export interface EthosComment {
  /** Position in the binary file (0-based data row). */
  row: number;
  text: string;
  /** Fraction of annotators who judged it hate speech. */
  hate: number;
  /** Fraction who judged it to incite violence (0 for comments not in the multi-label file). */
  violence: number;
}

/** `text;n1;n2;…`: the last `numbers` fields are numbers in [0, 1], the rest (which may hold ';') the text. */
function parseLine(line: string, numbers: number, where: string): { text: string; values: number[] } {
  const parts = line.split(';');
  if (parts.length < numbers + 1) throw new Error(`${where}: expected a comment and ${numbers} numbers`);
  const values = parts.slice(parts.length - numbers).map(Number);
  if (values.some((v) => !Number.isFinite(v) || v < 0 || v > 1)) throw new Error(`${where}: the label columns must be numbers from 0 to 1`);
  return { text: parts.slice(0, parts.length - numbers).join(';'), values };
}

function dataLines(src: string, header: string, file: string): string[] {
  const lines = (src.charCodeAt(0) === 0xfeff ? src.slice(1) : src).split(/\r?\n/);
  if (lines[0].trim() !== header) throw new Error(`${file}: unexpected header (expected '${header}')`);
  return lines.slice(1).filter((l) => l.length > 0);
}

export function parseEthos(binary: string, multi: string): EthosComment[] {
  const comments = dataLines(binary, 'comment;isHate', 'Ethos_Dataset_Binary.csv').map((l, row) => {
    const { text, values } = parseLine(l, 1, `Ethos_Dataset_Binary.csv data row ${row}`);
    return { row, text, hate: values[0], violence: 0 };
  });
  const byText = new Map(comments.map((c) => [c.text, c]));
  const header = 'comment;violence;directed_vs_generalized;gender;race;national_origin;disability;religion;sexual_orientation';
  dataLines(multi, header, 'Ethos_Dataset_Multi_Label.csv').forEach((l, row) => {
    const { text, values } = parseLine(l, 8, `Ethos_Dataset_Multi_Label.csv data row ${row}`);
    const c = byText.get(text);
    if (c) c.violence = values[0];
  });
  return comments;
}

/** The dataset, or null when the files are absent (the caller says so and exits). */
export async function loadEthos(dir = ETHOS_DIR): Promise<EthosComment[] | null> {
  let binary: string;
  let multi: string;
  try {
    binary = await fs.readFile(path.join(dir, 'Ethos_Dataset_Binary.csv'), 'utf8');
    multi = await fs.readFile(path.join(dir, 'Ethos_Dataset_Multi_Label.csv'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseEthos(binary, multi);
}
