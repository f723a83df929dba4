import { sql, type Kysely } from 'kysely';
import { parse } from 'yaml';

// Frozen: never edit a migration that has shipped; add a new one.
//
// A decision's per-category scores and flags were two JSON objects keyed by category name: with the
// default policy's 13 categories about 760 of a decision row's 960 bytes, the names repeated in every
// row. The names belong to the policy version (a decision already references it), so they are stored
// there once, in the policy file's order, and a decision keeps its scores as `real[]` and its flags as a
// bit string in that order (about 80 bytes). The API still answers with the same two objects, built from
// the two (`categoryScoresOf` and `categoryFlagsOf` in src/moderation/moderation.repository.ts).
//
// Existing rows: each recorded version gets its file's categories (parsed from the source the row
// holds), then any category its decisions name that the file does not (none for a decision the service
// wrote; sorted, after the file's). Scores are rounded to float4, which keeps the 6 decimal places the
// service writes since this migration. A score a decision did not have stays absent (a null element);
// a flag it did not have reads as false. Down rebuilds the JSON objects.

/** A policy file's categories in its order, or [] where the source does not parse as one. */
function fileCategories(source: string): string[] {
  try {
    const doc = parse(source) as { categories?: unknown } | null;
    const c = doc?.categories;
    return c && typeof c === 'object' && !Array.isArray(c) ? Object.keys(c) : [];
  } catch {
    return [];
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table policy_versions add column categories text[]`.execute(db);
  const versions = await sql<{ name: string; version: string; source: string }>`select name, version, source from policy_versions`.execute(db);
  for (const v of versions.rows) {
    const named = await sql<{ k: string }>`
      select k from (
        select jsonb_object_keys(category_scores) as k from decisions where policy_name = ${v.name} and policy_version = ${v.version}
        union
        select jsonb_object_keys(categories) as k from decisions where policy_name = ${v.name} and policy_version = ${v.version}
      ) keys order by k`.execute(db);
    const categories = fileCategories(v.source);
    for (const r of named.rows) if (!categories.includes(r.k)) categories.push(r.k);
    await sql`update policy_versions set categories = ${categories}::text[] where name = ${v.name} and version = ${v.version}`.execute(db);
  }
  await sql`alter table policy_versions alter column categories set not null`.execute(db);

  await sql`alter table decisions add column scores real[], add column flags varbit`.execute(db);
  await sql`
    update decisions d set
      scores = coalesce((select array_agg((d.category_scores ->> u.c)::real order by u.i) from unnest(pv.categories) with ordinality u(c, i)), '{}'),
      flags = coalesce((select string_agg(case when (d.categories ->> u.c)::boolean then '1' else '0' end, '' order by u.i) from unnest(pv.categories) with ordinality u(c, i)), '')::varbit
    from policy_versions pv
    where pv.name = d.policy_name and pv.version = d.policy_version`.execute(db);
  await sql`alter table decisions alter column scores set not null, alter column flags set not null, drop column category_scores, drop column categories`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table decisions add column category_scores jsonb, add column categories jsonb`.execute(db);
  await sql`
    update decisions d set
      category_scores = coalesce((select jsonb_object_agg(u.c, u.s) filter (where u.s is not null) from unnest(pv.categories, d.scores) u(c, s)), '{}'),
      categories = coalesce((select jsonb_object_agg(u.c, substring(d.flags from u.i::int for 1) = B'1') from unnest(pv.categories) with ordinality u(c, i)), '{}')
    from policy_versions pv
    where pv.name = d.policy_name and pv.version = d.policy_version`.execute(db);
  await sql`alter table decisions alter column category_scores set not null, alter column categories set not null, drop column scores, drop column flags`.execute(db);
  await sql`alter table policy_versions drop column categories`.execute(db);
}
