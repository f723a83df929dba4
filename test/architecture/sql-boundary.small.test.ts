/**
 * All SQL lives in `*.repository.ts` (and in src/db/, the database layer itself: dialects, migrator,
 * connect): a kysely query-builder call, a `sql` template or an `import { sql } from 'kysely'` anywhere
 * else in src/ fails this test, naming file:line. Services open transactions and pass them down; they
 * do not build queries.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, strip, tsFiles } from '../helpers/source-scan.js';

/** Files allowed to build SQL: repositories, and the database layer. `file` is relative to the repository root. */
export function mayBuildSql(file: string): boolean {
  const f = file.split(path.sep).join('/');
  return f.endsWith('.repository.ts') || f.startsWith('src/db/');
}

const RULES: { what: string; re: RegExp }[] = [
  { what: 'query builder call', re: /(?<![\w$])(selectFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto|withRecursive)\s*(<[^>]*>)?\s*\(/g },
  { what: 'CTE on a database handle', re: /(?<![\w$])(?:this\s*\.\s*)?(?:db|trx|tx|kysely|executor)\s*\.\s*with\s*\(/g },
  { what: 'executeQuery', re: /\.\s*executeQuery\s*(<[^>]*>)?\s*\(/g },
  { what: 'sql helper', re: /(?<![\w$])sql\s*\.\s*(raw|ref|lit|literal|id|table|join|val|value)\s*(<[^>]*>)?\s*\(/g },
];

/** `sql`, its type arguments if any (nested angle brackets too), then a backtick: the `sql` template tag. */
function sqlTags(code: string): number[] {
  const at: number[] = [];
  for (const m of code.matchAll(/(?<![\w$.])sql\b/g)) {
    let j = m.index + 3;
    while (/\s/.test(code[j] ?? '')) j++;
    if (code[j] === '<') {
      let d = 0;
      for (; j < code.length; j++) {
        if (code[j] === '<') d++;
        else if (code[j] === '>' && --d === 0) break;
      }
      j++;
      while (/\s/.test(code[j] ?? '')) j++;
    }
    if (code[j] === '`') at.push(m.index);
  }
  return at;
}

/** Every place in `src` (a file's text) that builds SQL, as `file:line: what`. */
export function scan(file: string, src: string): string[] {
  const lineOf = (offset: number) => src.slice(0, offset).split('\n').length;
  const found: { offset: number; what: string }[] = [];
  const code = strip(src, { strings: true });
  for (const { what, re } of RULES) for (const m of code.matchAll(re)) found.push({ offset: m.index, what: `${what} '${m[0].replace(/\s+/g, '')}'` });
  for (const offset of sqlTags(code)) found.push({ offset, what: 'sql template' });
  // Module specifiers are strings: look for the import with only the comments blanked.
  const withStrings = strip(src, { strings: false });
  for (const m of withStrings.matchAll(/\bimport\s+(type\s+)?([^;]*?)\s+from\s*['"]kysely['"]/g)) {
    const braces = /\{([^}]*)\}/.exec(m[2]);
    if (m[1] || !braces) continue;
    if (braces[1].split(',').some((s) => /^sql\b/.test(s.trim()))) found.push({ offset: m.index, what: "import { sql } from 'kysely'" });
  }
  return found.sort((a, b) => a.offset - b.offset).map((f) => `${file}:${lineOf(f.offset)}: ${f.what}`);
}

test('no SQL outside *.repository.ts and src/db/', () => {
  const files = tsFiles(path.join(ROOT, 'src')).map((f) => path.relative(ROOT, f));
  assert.ok(files.length > 20, 'found the sources');
  const problems = files.filter((f) => !mayBuildSql(f)).flatMap((f) => scan(f.split(path.sep).join('/'), fs.readFileSync(path.join(ROOT, f), 'utf8')));
  assert.deepEqual(problems, [], `SQL belongs in a repository (*.repository.ts):\n${problems.join('\n')}`);
});

test('the scanner reports each kind of query building, with its line', () => {
  const src = [
    "import { sql, type Kysely } from 'kysely';",
    'export async function f(db: Kysely<any>, trx: Kysely<any>) {',
    "  await db.selectFrom('a').selectAll().execute();",
    '  await trx',
    "    .updateTable('a')",
    '    .set({ at: sql<Date>`now()` })',
    '    .execute();',
    "  await db.with('x', (q) => q.selectFrom('a').select('id')).selectFrom('x').execute();",
    '  await sql`select 1`.execute(db);',
    "  await db.executeQuery(sql.raw('select 1').compile(db));",
    "  await db.insertInto('a').values({ n: sql<Record<string, Array<number>>>`'{}'` }).execute();",
    "  await db.deleteFrom('a').where(sql.ref('n'), '=', 1).execute();",
    '}',
  ].join('\n');
  const lines = scan('src/x/x.service.ts', src).map((p) => p.replace(/^src\/x\/x\.service\.ts:(\d+):.*$/, '$1'));
  assert.deepEqual(lines, ['1', '3', '5', '6', '8', '8', '8', '9', '10', '10', '11', '11', '12', '12']);
  assert.match(scan('src/x/x.service.ts', src)[0], /^src\/x\/x\.service\.ts:1: import \{ sql \} from 'kysely'$/);
});

test('the scanner passes code that builds no SQL: transactions, comments, strings, other `with`s', () => {
  const src = [
    "import type { Kysely, Transaction } from 'kysely';",
    "import { type sql } from 'kysely';",
    '// db.selectFrom(\'a\') in a comment, and sql`select 1`',
    '/* await trx.deleteFrom(\'a\').execute(); import { sql } from \'kysely\'; */',
    'export async function f(db: Kysely<any>, repo: { insertTask(t: Transaction<any>): Promise<void> }) {',
    '  await db.transaction().execute(async (trx) => repo.insertTask(trx));',
    "  const message = 'call db.selectFrom( here' + \"or sql`x`\";",
    '  const t = `updateTable( in a template ${message.length} deleteFrom(`;',
    "  const arr = [1, 2].with(0, 3);",
    "  const re = /selectFrom\\(|'/;",
    '  const mysql = `x`;',
    '  return [message, t, arr, re, mysql];',
    '}',
  ].join('\n');
  assert.deepEqual(scan('src/x/x.service.ts', src), []);
});

test('a template literal\'s `${…}` is code: a query built inside one is found', () => {
  assert.deepEqual(scan('src/x/x.ts', 'const s = `a ${await db.selectFrom(\'t\').execute()} b`;'), ["src/x/x.ts:1: query builder call 'selectFrom('"]);
});

test('repositories and the database layer may build SQL; nothing else may', () => {
  assert.equal(mayBuildSql('src/review/review.repository.ts'), true);
  assert.equal(mayBuildSql('src/db/migrator.ts'), true);
  assert.equal(mayBuildSql('src/review/review.service.ts'), false);
  assert.equal(mayBuildSql('src/repository.ts.bak/x.ts'), false);
  assert.equal(mayBuildSql('src/dbx/x.ts'), false);
});
