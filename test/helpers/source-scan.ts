/**
 * Reading `src/` as text for the boundary tests (no SQL outside repositories, no time read outside the
 * clock): the files, and each file with its comments (and string literals) blanked, lines kept.
 */
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from './repo.js';

export const ROOT = REPO;

/**
 * The source with comments blanked out, and (with `strings`) the text of string and template literals
 * too (a template's `${…}` stays: it is code). Every newline stays where it was, so offsets keep their line.
 */
export function strip(src: string, opts: { strings: boolean }): string {
  const out = src.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // Open `${` (brace depth when it opened) of the templates we are inside.
  const templates: number[] = [];
  let depth = 0;
  let i = 0;
  // The last significant code character: tells a regex literal from a division.
  let prev = '';
  const regexCanStart = () => prev === '' || /[(,=:[!&|?{};+\-*%<>~^]/.test(prev) || /\b(return|typeof|case|do|else|in|of|void|yield|await)$/.test(src.slice(Math.max(0, i - 6), i).trimEnd());
  const template = () => {
    // i is just past a backtick or a closing `}` of `${`: read literal text up to `${` or the closing backtick.
    const start = i;
    while (i < src.length && src[i] !== '`' && !(src[i] === '$' && src[i + 1] === '{')) i += src[i] === '\\' ? 2 : 1;
    if (opts.strings) blank(start, i);
    if (src[i] === '`') {
      i++;
      prev = '`';
    } else if (i < src.length) {
      templates.push(depth);
      depth++;
      i += 2;
      prev = '{';
    }
  };
  while (i < src.length) {
    const c = src[i];
    const n = src[i + 1];
    if (c === '/' && n === '/') {
      const end = src.indexOf('\n', i);
      blank(i, end === -1 ? src.length : end);
      i = end === -1 ? src.length : end;
    } else if (c === '/' && n === '*') {
      const end = src.indexOf('*/', i + 2);
      blank(i, end === -1 ? src.length : end + 2);
      i = end === -1 ? src.length : end + 2;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== c && src[j] !== '\n') j += src[j] === '\\' ? 2 : 1;
      if (opts.strings) blank(i + 1, j);
      i = j + 1;
      prev = c;
    } else if (c === '`') {
      i++;
      template();
    } else if (c === '/' && regexCanStart()) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && src[j] !== '\n' && (inClass || src[j] !== '/')) {
        if (src[j] === '[') inClass = true;
        else if (src[j] === ']') inClass = false;
        j += src[j] === '\\' ? 2 : 1;
      }
      if (opts.strings) blank(i + 1, j);
      i = j + 1;
      prev = '/';
    } else {
      if (c === '{') depth++;
      else if (c === '}') {
        depth--;
        if (templates.length && templates[templates.length - 1] === depth) {
          templates.pop();
          i++;
          template();
          continue;
        }
      }
      if (!/\s/.test(c)) prev = c;
      i++;
    }
  }
  return out.join('');
}

/** Every .ts file under `dir`. */
export function tsFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? tsFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/**
 * The modules a file loads at run time (type-only imports left out), as written. Statements are found in
 * the code with comments and string contents blanked (an import written inside a string, as the
 * boundary tests' self-checks do, loads nothing); each specifier is read back from the source.
 */
export function valueImports(src: string): string[] {
  const code = strip(src, { strings: true });
  const specifier = (m: RegExpExecArray | RegExpMatchArray, group: number) => src.slice(m.indices![group][0], m.indices![group][1]);
  const out: string[] = [];
  for (const m of code.matchAll(/\b(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]/dg)) {
    if (m[2]) continue;
    const braces = /^\{([^}]*)\}$/.exec(m[3].trim());
    if (braces && braces[1].split(',').map((s) => s.trim()).filter(Boolean).every((s) => s.startsWith('type '))) continue;
    out.push(specifier(m, 4));
  }
  for (const m of code.matchAll(/\bimport\s*(?:\(\s*)?['"]([^'"]+)['"]/dg)) out.push(specifier(m, 1));
  return out;
}
