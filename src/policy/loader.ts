/**
 * Reads every policies/*.yaml, validates it, and reports problems as "file: field: reason" so that a
 * bad policy stops start-up with a message that says exactly what to fix.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import type { Policy } from './policy.js';
import { labelTargetProblems, policyFileSchema, removedKeyProblems } from './schema.js';

export class PolicyError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid policy:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
  }
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function describeZod(file: string, err: ZodError): string[] {
  return err.issues.map((i) => {
    const field = i.path.length ? i.path.map(String).join('.') : '(top level)';
    return `${file}: ${field}: ${i.message}`;
  });
}

export function parsePolicy(name: string, source: string, file = `${name}.yaml`): Policy {
  if (!NAME.test(name)) {
    throw new PolicyError([`${file}: the policy name '${name}' (from the file name) must match ${NAME}`]);
  }
  const doc = parseDocument(source, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new PolicyError(doc.errors.map((e) => `${file}: YAML: ${e.message.split('\n')[0]}`));
  }
  const raw: unknown = doc.toJS() ?? {};
  // review.conflict_resolution (before ties could escalate) still reads as the tie rule it meant.
  const review = (raw as { review?: Record<string, unknown> } | null)?.review;
  const aliasProblems: string[] = [];
  if (review && typeof review === 'object' && 'conflict_resolution' in review) {
    const old = review.conflict_resolution;
    if ('ties' in review) aliasProblems.push(`${file}: review.conflict_resolution: give either ties or the older conflict_resolution, not both`);
    else if (old === 'majority') review.ties = 'flag';
    else if (old === 'drop_ties') review.ties = 'drop';
    else aliasProblems.push(`${file}: review.conflict_resolution: must be majority or drop_ties (or use ties: escalate | flag | drop)`);
    delete review.conflict_resolution;
  }
  // Settings that were removed get a message naming what replaced them (not just "unrecognized key").
  const removedProblems: string[] = [];
  for (const section of ['training', 'gate'] as const) {
    const body = (raw as Record<string, unknown> | null)?.[section];
    const removed = removedKeyProblems(body, section);
    removed.keys.forEach((key, i) => {
      delete (body as Record<string, unknown>)[key];
      removedProblems.push(`${file}: ${section}.${key}: ${removed.problems[i]}`);
    });
  }
  const parsed = policyFileSchema.safeParse(raw);
  const crossProblems = [
    ...aliasProblems,
    ...removedProblems,
    ...labelTargetProblems(raw).map((p) => `${file}: ${p.path}: ${p.message}`),
  ];
  if (!parsed.success || crossProblems.length) {
    throw new PolicyError([...(parsed.success ? [] : describeZod(file, parsed.error)), ...crossProblems]);
  }
  const settings = parsed.data;
  const categories = Object.keys(settings.categories);
  const rules: Policy['rules'] = {};
  for (const cat of categories) {
    const c = settings.categories[cat];
    rules[cat] = {
      flag: c.flag,
      block: c.block,
      uncertaintyMargin: c.uncertainty_margin ?? settings.review.uncertainty_margin,
      graphic: c.graphic,
    };
  }
  const labelMap: Record<string, string[]> = {};
  for (const [label, target] of Object.entries(settings.labels)) {
    labelMap[label] = target === null ? [] : Array.isArray(target) ? target : [target];
  }
  return {
    name,
    version: createHash('sha256').update(source).digest('hex').slice(0, 16),
    file,
    source,
    categories,
    rules,
    labelMap,
    settings,
  };
}

/** Loads every .yaml/.yml policy in `dir`; all problems across all files are reported together. */
export async function loadPolicies(dir: string): Promise<Map<string, Policy>> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (err) {
    throw new PolicyError([`${dir}: cannot read the policy directory (${(err as Error).message})`]);
  }
  const files = entries.filter((f) => /\.ya?ml$/.test(f)).sort();
  const policies = new Map<string, Policy>();
  const problems: string[] = [];
  for (const f of files) {
    const file = path.join(dir, f);
    const name = f.replace(/\.ya?ml$/, '');
    if (policies.has(name)) {
      problems.push(`${file}: a policy named '${name}' is already defined by another file`);
      continue;
    }
    try {
      policies.set(name, parsePolicy(name, await fs.readFile(file, 'utf8'), file));
    } catch (err) {
      if (err instanceof PolicyError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length > 0) throw new PolicyError(problems);
  if (policies.size === 0) throw new PolicyError([`${dir}: no policy files (*.yaml) found`]);
  return policies;
}
