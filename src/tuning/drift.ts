/**
 * The label-drift check, before a run trains: are the labels settled since the last run like the ones
 * before them? A bad batch (a moderator who inverts, a misconfigured bulk import, a coordinated attack
 * on the queue) inverts the eval labels as well as the train ones, so the gate, which measures agreement
 * with the labels, cannot see it. Its signature is elsewhere: how often the labels agree with the model,
 * and with other moderators, moves far from its history. Pure.
 *
 * The units are verdicts (each reviewer's own answer per category), compared with the active head's
 * decision on the same stored features and, on tasks with several reviewers, with the other reviewers.
 * Per category and per moderator, the new batch's agreement rate is tested against the trailing history
 * of the category (all moderators) with a two-proportion z-test. A finding needs all of: enough
 * verdicts on both sides, a change larger than `max_change`, and p ≤ `max_p_value` (small, since a run
 * makes many such tests).
 */

export interface Verdict {
  /** The settled label's id (settlement order): the batch is the ids after the last trained run's. */
  labelId: number;
  taskId: string;
  category: string;
  moderator: string;
  verdict: boolean;
  /** What the active head says for this item and category (its decision at the policy's threshold). */
  model: boolean;
}

export interface DriftSettings {
  enabled: boolean;
  max_change: number;
  max_p_value: number;
  min_labels: number;
}

export interface Rate {
  n: number;
  agree: number;
  rate: number | null;
}

export interface DriftRow {
  /** `model`: verdicts vs the active head; `moderators`: verdicts vs the other reviewers of the same task. */
  against: 'model' | 'moderators';
  category: string;
  /** null: every moderator's verdicts in the category. */
  moderator: string | null;
  batch: Rate;
  history: Rate;
  change: number | null;
  p_value: number | null;
  finding: boolean;
}

export interface DriftReport {
  rows: DriftRow[];
  findings: DriftRow[];
  /** What to hold: (category, moderator) pairs, moderator null for the whole category. */
  holds: { category: string; moderator: string | null; reason: string }[];
}

/** Φ(x), the standard normal CDF (Abramowitz & Stegun 7.1.26 on erf; error below 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Two-sided p-value of the pooled two-proportion z-test; 1 when either side is empty or the pool is degenerate. */
export function twoProportionTest(a: Rate, b: Rate): number {
  if (a.n === 0 || b.n === 0) return 1;
  const p = (a.agree + b.agree) / (a.n + b.n);
  const se = Math.sqrt(p * (1 - p) * (1 / a.n + 1 / b.n));
  if (se === 0) return a.agree / a.n === b.agree / b.n ? 1 : 0;
  const z = (a.agree / a.n - b.agree / b.n) / se;
  return Math.min(1, 2 * (1 - normalCdf(Math.abs(z))));
}

function rate(pairs: boolean[]): Rate {
  const agree = pairs.filter(Boolean).length;
  return { n: pairs.length, agree, rate: pairs.length ? agree / pairs.length : null };
}

/** Each verdict's agreement with the other reviewers of its task (one entry per pair of reviewers). */
function peerAgreements(verdicts: Verdict[]): { v: Verdict; agrees: boolean }[] {
  const byTask = new Map<string, Verdict[]>();
  for (const v of verdicts) {
    const key = `${v.taskId}\u0000${v.category}`;
    byTask.set(key, [...(byTask.get(key) ?? []), v]);
  }
  const out: { v: Verdict; agrees: boolean }[] = [];
  for (const vs of byTask.values()) {
    for (const v of vs) for (const o of vs) if (o !== v) out.push({ v, agrees: v.verdict === o.verdict });
  }
  return out;
}

export function checkDrift(history: Verdict[], batch: Verdict[], s: DriftSettings): DriftReport {
  const rows: DriftRow[] = [];
  const row = (against: DriftRow['against'], category: string, moderator: string | null, b: boolean[], h: boolean[]): DriftRow => {
    const batchRate = rate(b);
    const historyRate = rate(h);
    const change = batchRate.rate !== null && historyRate.rate !== null ? batchRate.rate - historyRate.rate : null;
    const p = change === null ? null : twoProportionTest(batchRate, historyRate);
    const finding =
      s.enabled &&
      batchRate.n >= s.min_labels &&
      historyRate.n >= s.min_labels &&
      change !== null &&
      Math.abs(change) > s.max_change &&
      p !== null &&
      p <= s.max_p_value;
    const r: DriftRow = { against, category, moderator, batch: batchRate, history: historyRate, change, p_value: p, finding };
    rows.push(r);
    return r;
  };
  const categories = [...new Set(batch.map((v) => v.category))].sort();
  const peersBatch = peerAgreements(batch);
  const peersHistory = peerAgreements(history);
  const holds: DriftReport['holds'] = [];
  for (const cat of categories) {
    const inCat = (v: Verdict) => v.category === cat;
    const hModel = history.filter(inCat).map((v) => v.verdict === v.model);
    const hPeers = peersHistory.filter((x) => inCat(x.v)).map((x) => x.agrees);
    const moderators = [...new Set(batch.filter(inCat).map((v) => v.moderator))].sort();
    const flagged = new Set<string>();
    for (const m of moderators) {
      const mine = (v: Verdict) => inCat(v) && v.moderator === m;
      const a = row('model', cat, m, batch.filter(mine).map((v) => v.verdict === v.model), hModel);
      const b = row('moderators', cat, m, peersBatch.filter((x) => mine(x.v)).map((x) => x.agrees), hPeers);
      if (a.finding || b.finding) flagged.add(m);
    }
    for (const m of flagged) {
      const why = rows.filter((r) => r.category === cat && r.moderator === m && r.finding).map(describe);
      holds.push({ category: cat, moderator: m, reason: why.join('; ') });
    }
    // The whole category, without the moderators already held: a shift everyone shares.
    const rest = batch.filter((v) => inCat(v) && !flagged.has(v.moderator));
    const whole = row('model', cat, null, rest.map((v) => v.verdict === v.model), hModel);
    if (whole.finding) holds.push({ category: cat, moderator: null, reason: describe(whole) });
  }
  return { rows, findings: rows.filter((r) => r.finding), holds };
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);

export function describe(r: DriftRow): string {
  const who = r.moderator === null ? `all moderators' ${r.category} labels` : `moderator ${r.moderator}'s ${r.category} labels`;
  const what = r.against === 'model' ? 'agree with the active head' : 'agree with the other reviewers of the same tasks';
  return (
    `${who} ${what} ${pct(r.batch.rate)} of the time in this batch (${r.batch.agree}/${r.batch.n}) against ${pct(r.history.rate)} ` +
    `before (${r.history.agree}/${r.history.n}; p = ${r.p_value === null ? 'n/a' : r.p_value.toExponential(2)})`
  );
}

/** A held batch as stored: one category, one moderator or all, settled labels from < id <= to. */
export interface HoldRange {
  category: string;
  moderator: string | null;
  fromLabelId: number;
  toLabelId: number;
}

/** Whether a settled label (its id, category and reviewers) lies in one of `holds`. */
export function inHold(labelId: number, category: string, reviewers: readonly string[], holds: readonly HoldRange[]): boolean {
  return holds.some(
    (h) => h.category === category && labelId > h.fromLabelId && labelId <= h.toLabelId && (h.moderator === null || reviewers.includes(h.moderator)),
  );
}
