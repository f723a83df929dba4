/**
 * The compact forms a decision and its item are stored in, and the SQL that reads them back as the API's
 * objects: the per-category scores and flags in their policy version's category order (migration 0018)
 * and the text hash as bytes (0019, read as hex). Every repository that reads those columns goes through these.
 */
import { sql, type RawBuilder } from 'kysely';

/**
 * A decision's scores and flags as stored (migration 0018): in the order of its policy version's
 * categories, a score it does not have as null, a flag as '1' or '0'. A category the version does not
 * record is refused: it would be lost.
 */
export function packScores(categories: readonly string[], scores: Record<string, number>, flags: Record<string, boolean>, what: string): { scores: (number | null)[]; flags: string } {
  // One pass over the categories (this runs for every decision the service writes); the keys are counted,
  // and only a decision that names a category outside them is searched for which.
  const packed: (number | null)[] = new Array<number | null>(categories.length);
  let bits = '';
  let found = 0;
  for (let i = 0; i < categories.length; i++) {
    const s = scores[categories[i]];
    const f = flags[categories[i]];
    packed[i] = s ?? null;
    if (s !== undefined) found++;
    if (f !== undefined) found++;
    bits += f ? '1' : '0';
  }
  if (found !== Object.keys(scores).length + Object.keys(flags).length) {
    const k = [...Object.keys(scores), ...Object.keys(flags)].find((x) => !categories.includes(x));
    throw new Error(`${what}: category '${k}' is not one of the policy version's recorded categories (${categories.join(', ')})`);
  }
  return { scores: packed, flags: bits };
}

/** A decision's scores as the object the API answers with (`d` the decisions table's alias). */
export function categoryScoresOf(d: string): RawBuilder<Record<string, number>> {
  return sql<Record<string, number>>`(select coalesce(jsonb_object_agg(u.c, u.s) filter (where u.s is not null), '{}') from policy_versions pv, unnest(pv.categories, ${sql.ref(`${d}.scores`)}) u(c, s) where pv.name = ${sql.ref(`${d}.policy_name`)} and pv.version = ${sql.ref(`${d}.policy_version`)})`;
}

/** A decision's flags as the object the API answers with, category → flagged (`d` the decisions table's alias). */
export function categoryFlagsOf(d: string): RawBuilder<Record<string, boolean>> {
  return sql<Record<string, boolean>>`(select coalesce(jsonb_object_agg(u.c, substring(${sql.ref(`${d}.flags`)} from u.i::int for 1) = B'1'), '{}') from policy_versions pv, unnest(pv.categories) with ordinality u(c, i) where pv.name = ${sql.ref(`${d}.policy_name`)} and pv.version = ${sql.ref(`${d}.policy_version`)})`;
}

/** One category's score of a decision, or null (`d` the decisions table's alias, `category` an SQL expression). */
export function categoryScoreOf(d: string, category: RawBuilder<string>): RawBuilder<number | null> {
  return sql<number | null>`(select ${sql.ref(`${d}.scores`)}[array_position(pv.categories, ${category})] from policy_versions pv where pv.name = ${sql.ref(`${d}.policy_name`)} and pv.version = ${sql.ref(`${d}.policy_version`)})`;
}

/** An item's text hash as hex, what every reader gets (`i` the content_items table's alias). */
export function textSha256Of(i: string): RawBuilder<string> {
  return sql<string>`encode(${sql.ref(`${i}.text_sha256`)}, 'hex')`;
}
