/**
 * The label-drift check, before a run trains: are the labels settled since the last run like the ones
 * before them? A bad batch (a moderator who inverts, a misconfigured bulk import, a coordinated attack
 * on the queue) inverts the eval labels as well as the train ones, so the gate, which measures agreement
 * with the labels, cannot see it. Its signature is elsewhere: how often the labels agree with the model,
 * and with other moderators, moves far from its history. Pure.
 *
 * The units are verdicts (each reviewer's own answer per category), compared with the decision of the
 * head that served the item when it was moderated (a head that had not trained on that label: every
 * verdict, past and new, is judged out of sample; on a deployment's first night that head is the
 * starter) and, on tasks with several reviewers, with the other reviewers.
 *
 * A targeted attacker does not invert everything: they never flag one category, flip one moderator's
 * positives, one term's texts or one author's. So agreement is tested per slice (each moderator; the
 * category as a whole; each author and each term with enough verdicts in the batch) and, for moderators
 * and the category, per region (all verdicts; those on items the serving head flagged, where "never flag"
 * shows as a collapse of agreement; those it did not flag). Author and term slices are tested where the
 * head flagged: clearing what it flags is the evasion an attacker wants, while flagging more on a word
 * the head misses is how moderators teach it a new slur. Each slice is tested against its comparator: for a moderator, the category's history joined by the
 * other moderators' verdicts in this batch (so a deployment's first night already compares each moderator
 * with the others); for the category, its history; for an author or a word, that author's or word's own
 * history (a word the head flags and moderators keep clearing is a false positive being corrected, not an
 * attack). A finding needs all of:
 * enough verdicts on both sides, a drop in agreement larger than `max_change`, and a one-sided
 * two-proportion test at p ≤ `max_p_value`, divided by the number of author or term slices tested
 * (Bonferroni: a batch has hundreds of terms). A rise in agreement is never held (heads improve, so
 * honest labels agree more with later heads).
 *
 * Agreement with the head's decision says little in a rare category, where the head flags too few items
 * for its flagged region to hold min_labels verdicts. So each moderator, the category, and each author and
 * word are also tested on how many items they flagged against how many the serving head's scores expected
 * (`expected` rows): a moderator who never flags hate flags none where the scores expected dozens. For an
 * author or a word, measured against its own history, a move either way is a finding (a word's texts
 * inverted gain flags on their negatives as they lose them on their positives).
 *
 * An inverted slice keeps about as many flags as before, on other items: the ones the head scores low.
 * So each author and word is also tested on how its flags rank against the serving head's calibrated
 * scores (`ranking` rows: the AUC of the scores, flagged items against cleared ones), against its own
 * history; a finding is a drop beyond `max_change` at the slices' shared p, to an AUC whose one-sided 95 %
 * upper bound is below 0.5. Below 0.5 the moderators flag what the head scores low and clear what it
 * scores high: labels turned around. Moderators teaching the head a word it misses flag items it scores
 * low without clearing those it scores high, which leaves the AUC near 0.5 or above.
 *
 * The cumulative check ({@link checkCumulative}) does the same for the moderator and category slices over
 * the last few runs' batches together, against the history before them, with a smaller `max_change`:
 * a slow poisoner who stays under the nightly threshold still moves the window.
 */

import { binomialCdf } from './stats.js';

export interface Verdict {
  /** The settled label's id (settlement order): the batch is the ids after the last trained run's. */
  labelId: number;
  taskId: string;
  category: string;
  moderator: string;
  verdict: boolean;
  /** The decision of the head that served the item (at the policy's threshold), which had not seen this label. */
  model: boolean;
  /**
   * That head's score for the category, where the head is calibrated on moderators' labels (its estimate of
   * the chance they flag the item); null otherwise (a starter's or an imported head's scores are not).
   */
  score?: number | null;
  /** The item's author, where the platform gave one. */
  author?: string | null;
  /** The item's words (src/tuning/math/drift.ts termsOf), for term slices; empty where the text is gone. */
  terms?: readonly string[];
}

export interface DriftSettings {
  enabled: boolean;
  max_change: number;
  max_p_value: number;
  min_labels: number;
  /** Slices beyond moderators and the category (default both on). */
  slices?: { authors: boolean; terms: boolean };
  /** The cumulative check's largest allowed drop (default 0.05). */
  cumulative_max_change?: number;
  /**
   * An author's or a word's ranking row needs this many scored verdicts in the batch and in its history
   * (default: min_labels), 5 flagged and 5 cleared among them: the AUC's error is what its sample size gives.
   */
  min_ranked?: number;
}

export interface Rate {
  n: number;
  agree: number;
  rate: number | null;
}

export type Region = 'all' | 'model_yes' | 'model_no';
export type SliceKind = 'moderator' | 'category' | 'author' | 'term';

export interface DriftRow {
  /**
   * `model`: verdicts vs the serving head's decision; `moderators`: vs the other reviewers of the same task
   * (less those in `left_out`);
   * `expected`: how many items the slice flagged against how many the serving head's scores expected
   * (`batch.rate`, `history.rate`: flags ÷ expected flags; `expected` gives the sums); `ranking`: how the
   * slice's flags rank against the serving head's scores (`batch.rate`, `history.rate`: the AUC of the scores,
   * flagged items against cleared ones; `agree`: the flags).
   */
  against: 'model' | 'moderators' | 'expected' | 'ranking';
  /** `batch`: this run's new labels; `cumulative`: the last runs' batches together. */
  scope: 'batch' | 'cumulative';
  category: string;
  /** The slice's moderator (slice `moderator`), else null. */
  moderator: string | null;
  slice: { kind: SliceKind; value: string | null };
  /** Which verdicts: all, or those on items the serving head flagged (`model_yes`) or did not (`model_no`). */
  region: Region;
  batch: Rate;
  history: Rate;
  /** `expected` rows: the sums of the serving head's scores the flags are set against. */
  expected?: { batch: number; history: number };
  /** `ranking` rows: the AUCs' standard errors (Hanley and McNeil). */
  se?: { batch: number; history: number };
  /**
   * `moderators` rows: co-reviewers whose pairs this batch row leaves out, because they too disagreed with
   * their co-reviewers (the moderator is judged on the tasks shared with the others).
   */
  left_out?: string[];
  change: number | null;
  /** One-sided: how likely a drop this large is if the slice labels like its comparator. */
  p_value: number | null;
  /** The p-value a finding needs (max_p_value, over the number of slices of its kind tested). */
  threshold: number;
  /** Enough verdicts on both sides for the row to be judged (min_labels; min_ranked for ranking rows). */
  tested: boolean;
  finding: boolean;
}

export interface Hold {
  category: string;
  /** The moderator held, or null for the category's labels from every moderator. */
  moderator: string | null;
  scope: 'batch' | 'cumulative';
  reason: string;
}

export interface DriftReport {
  rows: DriftRow[];
  findings: DriftRow[];
  /** What to hold: (category, moderator) pairs, moderator null for the whole category. */
  holds: Hold[];
}

/** Φ(x), the standard normal CDF (Abramowitz & Stegun 7.1.26 on erf; error below 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

function rate(pairs: boolean[]): Rate {
  const agree = pairs.filter(Boolean).length;
  return { n: pairs.length, agree, rate: pairs.length ? agree / pairs.length : null };
}

/** One-sided p-value for "a's rate is below b's" (pooled two-proportion z-test); 1 when either side is empty. */
export function dropTest(a: Rate, b: Rate): number {
  if (a.n === 0 || b.n === 0) return 1;
  const p = (a.agree + b.agree) / (a.n + b.n);
  const se = Math.sqrt(p * (1 - p) * (1 / a.n + 1 / b.n));
  const d = a.agree / a.n - b.agree / b.n;
  if (se === 0) return d < 0 ? 0 : 1;
  return 1 - normalCdf(-d / se);
}

/** Each verdict's agreement with the other reviewers of its task (one entry per pair of reviewers, `peer` the other one). */
function peerAgreements(verdicts: Verdict[]): { v: Verdict; peer: string; agrees: boolean }[] {
  const byTask = new Map<string, Verdict[]>();
  for (const v of verdicts) {
    const key = `${v.taskId}\u0000${v.category}`;
    byTask.set(key, [...(byTask.get(key) ?? []), v]);
  }
  const out: { v: Verdict; peer: string; agrees: boolean }[] = [];
  for (const vs of byTask.values()) {
    for (const v of vs) for (const o of vs) if (o !== v) out.push({ v, peer: o.moderator, agrees: v.verdict === o.verdict });
  }
  return out;
}

/** An item's words for term slices: lower-case runs of letters, digits and apostrophes, 3 characters or more, each once. */
export function termsOf(text: string | null): string[] {
  if (text === null) return [];
  return [...new Set(text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}'’]{3,}/gu) ?? [])].slice(0, 500);
}

const REGIONS: { region: Region; keep: (v: Verdict) => boolean }[] = [
  { region: 'all', keep: () => true },
  { region: 'model_yes', keep: (v) => v.model },
  { region: 'model_no', keep: (v) => !v.model },
];
const agrees = (v: Verdict) => v.verdict === v.model;

/** The verdicts a ranking row needs on each side: min_ranked, else min_labels. */
const rankedFloor = (s: DriftSettings) => s.min_ranked ?? s.min_labels;

/** Rows under construction: a finding is decided once every row of its family is known (Bonferroni). */
interface Pending {
  row: Omit<DriftRow, 'threshold' | 'tested' | 'finding'>;
  eligible: boolean;
  /** A move either way is a finding (an author's or a word's flags against their own history), not only a drop. */
  twoSided?: boolean;
}

class Rows {
  readonly pending: Pending[] = [];
  constructor(
    private readonly s: DriftSettings,
    private readonly scope: 'batch' | 'cumulative',
    private readonly maxChange: number,
  ) {}

  add(against: DriftRow['against'], category: string, slice: DriftRow['slice'], region: Region, b: boolean[], h: boolean[]): Pending {
    const batch = rate(b);
    const history = rate(h);
    const change = batch.rate !== null && history.rate !== null ? batch.rate - history.rate : null;
    const p = change === null ? null : dropTest(batch, history);
    const row = { against, scope: this.scope, category, moderator: slice.kind === 'moderator' ? slice.value : null, slice, region, batch, history, change, p_value: p };
    const pending = { row, eligible: batch.n >= this.s.min_labels && history.n >= this.s.min_labels && change !== null };
    this.pending.push(pending);
    return pending;
  }

  /**
   * Flags against the serving head's expectation: the slice flagged O_s items where its scores summed to
   * E_s, the comparator O_c where they summed to E_c. Under "the slice labels like its comparator",
   * O_s given O_s + O_c is Binomial(O_s + O_c, E_s / (E_s + E_c)); a finding is a ratio (O_s/E_s)/(O_c/E_c)
   * below 1 − max_change at a one-sided p. This is what catches "never flag" in a rare category, where the
   * head flags too few items at its threshold for the flagged region to hold min_labels verdicts.
   */
  addExpected(category: string, slice: DriftRow['slice'], all: Verdict[], allHistory: Verdict[], twoSided = false): Pending {
    // Only verdicts a calibrated head's score stands beside.
    const scored = (v: Verdict) => v.score !== null && v.score !== undefined;
    const b = all.filter(scored);
    const h = allHistory.filter(scored);
    const sum = (vs: Verdict[]) => vs.reduce((a, v) => a + (v.score ?? 0), 0);
    const flags = (vs: Verdict[]) => vs.filter((v) => v.verdict).length;
    const eb = sum(b);
    const eh = sum(h);
    const ob = flags(b);
    const oh = flags(h);
    const batch = { n: b.length, agree: ob, rate: eb > 0 ? ob / eb : null };
    const history = { n: h.length, agree: oh, rate: eh > 0 ? oh / eh : null };
    const change = batch.rate !== null && history.rate !== null && history.rate > 0 ? batch.rate / history.rate - 1 : null;
    const share = eb / (eb + eh);
    const lower = change === null ? null : binomialCdf(ob, ob + oh, share);
    const p = lower === null ? null : twoSided ? Math.min(1, 2 * Math.min(lower, 1 - binomialCdf(ob - 1, ob + oh, share))) : lower;
    const row = { against: 'expected' as const, scope: this.scope, category, moderator: slice.kind === 'moderator' ? slice.value : null, slice, region: 'all' as const, batch, history, expected: { batch: eb, history: eh }, change, p_value: p };
    // Enough on both sides: min_labels verdicts, and at least 5 flags expected in the slice and found in the comparator.
    const pending = { row, eligible: b.length >= this.s.min_labels && h.length >= this.s.min_labels && eb >= 5 && oh >= 5 && change !== null, twoSided };
    this.pending.push(pending);
    return pending;
  }

  /**
   * How the slice's flags rank against the serving head's calibrated scores: the AUC (Mann–Whitney) of the
   * scores of flagged items against cleared ones, in the batch and in the comparator, with Hanley and
   * McNeil's standard errors; the p-value is one-sided for a drop (normal approximation). A finding also
   * needs the batch's AUC confidently below 0.5 (the flags turned against the head's ranking), see {@link finds}.
   */
  addRanking(category: string, slice: DriftRow['slice'], all: Verdict[], allHistory: Verdict[]): Pending {
    const b = aucOf(all);
    const h = aucOf(allHistory);
    const batch = { n: b.n, agree: b.positives, rate: b.auc };
    const history = { n: h.n, agree: h.positives, rate: h.auc };
    const change = b.auc !== null && h.auc !== null ? b.auc - h.auc : null;
    const p = change === null ? null : 1 - normalCdf(-change / Math.sqrt(b.se ** 2 + h.se ** 2 || Number.MIN_VALUE));
    const row = { against: 'ranking' as const, scope: this.scope, category, moderator: slice.kind === 'moderator' ? slice.value : null, slice, region: 'all' as const, batch, history, se: { batch: b.se, history: h.se }, change, p_value: p };
    const min = rankedFloor(this.s);
    const pending = { row, eligible: b.n >= min && h.n >= min && change !== null };
    this.pending.push(pending);
    return pending;
  }

  /** Whether a row is a finding at p-value `threshold`: enough verdicts, moved beyond `max_change`, significant. */
  finds({ row, eligible, twoSided }: Pending, threshold: number): boolean {
    const moved = twoSided ? Math.abs(row.change!) > this.maxChange : row.change! < -this.maxChange;
    // A ranking row is a finding only where the flags rank against the head's scores: the AUC's one-sided
    // 95 % upper bound below 0.5. Flags the head's scores do not rank at all (AUC 0.5: moderators teaching
    // it a word it misses) pass that bound one time in twenty, and then still need the drop.
    const turned = row.against !== 'ranking' || row.batch.rate! + 1.645 * row.se!.batch < 0.5;
    return this.s.enabled && eligible && moved && turned && row.p_value! <= threshold;
  }

  /** Decides every row: author and term slices share max_p_value among the slices of their kind tested. */
  settle(): DriftRow[] {
    const tested = new Map<string, Set<string>>();
    for (const x of this.pending) {
      if (!x.eligible) continue;
      const kind = x.row.slice.kind;
      if (!tested.has(kind)) tested.set(kind, new Set());
      tested.get(kind)!.add(`${x.row.category}\u0000${x.row.slice.value}\u0000${x.row.region}`);
    }
    return this.pending.map((p) => {
      const family = p.row.slice.kind === 'author' || p.row.slice.kind === 'term' ? Math.max(1, tested.get(p.row.slice.kind)?.size ?? 1) : 1;
      const threshold = this.s.max_p_value / family;
      return { ...p.row, threshold, tested: p.eligible, finding: this.finds(p, threshold) };
    });
  }
}

/**
 * The AUC of the calibrated scores of flagged verdicts against cleared ones (ties count half), from ranks,
 * with Hanley and McNeil's (1982) standard error; null without 5 of each. Only verdicts with a score.
 */
export function aucOf(vs: Verdict[]): { n: number; positives: number; auc: number | null; se: number } {
  const scored = vs.filter((v) => v.score !== null && v.score !== undefined).sort((a, b) => a.score! - b.score!);
  const n = scored.length;
  const positives = scored.filter((v) => v.verdict).length;
  const negatives = n - positives;
  if (positives < 5 || negatives < 5) return { n, positives, auc: null, se: 0 };
  // Sum of the flagged verdicts' ranks (1-based, ties given their mean rank).
  let rankSum = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && scored[j + 1].score === scored[i].score) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (scored[k].verdict) rankSum += rank;
    i = j + 1;
  }
  const auc = (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
  const q1 = auc / (2 - auc);
  const q2 = (2 * auc * auc) / (1 + auc);
  const se = Math.sqrt(Math.max(0, auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)) / (positives * negatives));
  return { n, positives, auc, se };
}

/** Verdicts by each of their keys (a verdict with several keys is in several groups). */
function groupBy(vs: Verdict[], keysOf: (v: Verdict) => readonly string[]): Map<string, Verdict[]> {
  const groups = new Map<string, Verdict[]>();
  for (const v of vs) {
    for (const k of keysOf(v)) {
      const g = groups.get(k);
      if (g) g.push(v);
      else groups.set(k, [v]);
    }
  }
  return groups;
}

function holdsOf(rows: DriftRow[], categories: string[], scope: 'batch' | 'cumulative', runs?: number): Hold[] {
  const holds: Hold[] = [];
  for (const cat of categories) {
    const found = rows.filter((r) => r.category === cat && r.finding);
    const moderators = [...new Set(found.filter((r) => r.slice.kind === 'moderator').map((r) => r.moderator!))].sort();
    for (const m of moderators) {
      holds.push({ category: cat, moderator: m, scope, reason: found.filter((r) => r.moderator === m).map((r) => describe(r, runs)).join('; ') });
    }
    const rest = found.filter((r) => r.slice.kind !== 'moderator');
    if (rest.length) holds.push({ category: cat, moderator: null, scope, reason: rest.map((r) => describe(r, runs)).join('; ') });
  }
  return holds;
}

/**
 * The nightly check of a batch against its history. Moderators are tested first; the category, author
 * and term slices then on the verdicts of the moderators not already found, so one bad moderator is not
 * also held as a bad category.
 */
export function checkDrift(history: Verdict[], batch: Verdict[], s: DriftSettings): DriftReport {
  const rows = new Rows(s, 'batch', s.max_change);
  const slices = s.slices ?? { authors: true, terms: true };
  const categories = [...new Set(batch.map((v) => v.category))].sort();
  const peersBatch = peerAgreements(batch);
  const peersHistory = peerAgreements(history);
  for (const cat of categories) {
    const inCat = (v: Verdict) => v.category === cat;
    const hist = history.filter(inCat);
    const mine = batch.filter(inCat);
    const moderators = [...new Set(mine.map((v) => v.moderator))].sort();
    const hPeers = peersHistory.filter((x) => inCat(x.v)).map((x) => x.agrees);
    const peersOf = (m: string, leaveOut: ReadonlySet<string> = new Set()) =>
      peersBatch.filter((x) => inCat(x.v) && x.v.moderator === m && !leaveOut.has(x.peer)).map((x) => x.agrees);
    // An honest moderator whose co-reviewer inverts agrees less with their co-reviewers too. So the
    // moderators who disagree with their co-reviewers are taken strongest first (smallest p): each after the
    // first is judged again without their pairs with those already found, and is named only if they still
    // disagree (the one who inverts does, the honest co-reviewer does not). Where that leaves fewer than
    // min_labels pairs (two moderators who only reviewed with each other), both stay named.
    const scratch = new Rows(s, 'batch', s.max_change);
    const peerRow = (m: string, pairs: boolean[]) => scratch.add('moderators', cat, { kind: 'moderator', value: m }, 'all', pairs, hPeers);
    const allPairs = new Map(moderators.map((m) => [m, peersOf(m)]));
    const suspects = moderators
      .map((m) => ({ m, first: peerRow(m, allPairs.get(m)!) }))
      .filter((x) => scratch.finds(x.first, s.max_p_value))
      .sort((a, b) => a.first.row.p_value! - b.first.row.p_value! || (a.m < b.m ? -1 : 1));
    /** Moderators judged without some co-reviewers: who was left out, and the pairs that remain. */
    const leftOut = new Map<string, { without: Set<string>; pairs: boolean[] }>();
    const named: string[] = [];
    for (const { m } of suspects) {
      const without = new Set(named);
      const pairs = without.size ? peersOf(m, without) : [];
      if (pairs.length >= s.min_labels) {
        leftOut.set(m, { without, pairs });
        if (!scratch.finds(peerRow(m, pairs), s.max_p_value)) continue;
      }
      named.push(m);
    }
    const flagged = new Set<string>();
    for (const m of moderators) {
      const theirs = mine.filter((v) => v.moderator === m);
      // The comparator: the category's history and, from the first night on, the other moderators' verdicts in this batch.
      const others = [...hist, ...mine.filter((v) => v.moderator !== m)];
      const found = REGIONS.map(({ region, keep }) =>
        rows.add('model', cat, { kind: 'moderator', value: m }, region, theirs.filter(keep).map(agrees), others.filter(keep).map(agrees)),
      );
      const expected = rows.addExpected(cat, { kind: 'moderator', value: m }, theirs, others);
      const judged = leftOut.get(m);
      const peers = rows.add('moderators', cat, { kind: 'moderator', value: m }, 'all', judged?.pairs ?? allPairs.get(m)!, hPeers);
      if (judged) peers.row.left_out = [...judged.without].sort();
      // Provisional (before Bonferroni, which moderator rows do not use): decides who the later slices leave out.
      if ([...found, expected, peers].some((x) => rows.finds(x, s.max_p_value))) flagged.add(m);
    }
    const rest = mine.filter((v) => !flagged.has(v.moderator));
    for (const { region, keep } of REGIONS) {
      rows.add('model', cat, { kind: 'category', value: null }, region, rest.filter(keep).map(agrees), hist.filter(keep).map(agrees));
    }
    rows.addExpected(cat, { kind: 'category', value: null }, rest, hist);
    const sliceBy = (kind: 'author' | 'term', keysOf: (v: Verdict) => readonly string[]) => {
      const groups = groupBy(rest, keysOf);
      const histories = groupBy(hist, keysOf);
      for (const [k, vs] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        // Agreement and flags rows need min_labels verdicts, a ranking row min_ranked (each row says).
        if (vs.length < Math.min(s.min_labels, rankedFloor(s))) continue;
        // Against the slice's own history only: a word or an author the head flags and moderators clear
        // night after night is a false positive being corrected, not an attack, and a word new to the
        // history has nothing to be compared with (other words' items label differently for honest reasons).
        const own = histories.get(k) ?? [];
        // Only where the head flagged: labels that clear what it flags on one word or one author's items are
        // the evasion an attacker wants; flagging more on a word the head misses is how moderators teach it
        // a new slur, and stays with the moderator and category checks.
        const keep = (v: Verdict) => v.model;
        rows.add('model', cat, { kind, value: k }, 'model_yes', vs.filter(keep).map(agrees), own.filter(keep).map(agrees));
        // Flags against the head's expectation, either way: against the slice's own history, flagging a
        // word's or an author's items far more than before is as suspicious as far less.
        rows.addExpected(cat, { kind, value: k }, vs, own, true);
        // How its flags rank against the head's scores: turned around (AUC below 0.5) is an inverted slice.
        rows.addRanking(cat, { kind, value: k }, vs, own);
      }
    };
    if (slices.authors) sliceBy('author', (v) => (v.author ? [v.author] : []));
    if (slices.terms) sliceBy('term', (v) => v.terms ?? []);
  }
  const settled = rows.settle();
  return { rows: settled, findings: settled.filter((r) => r.finding), holds: holdsOf(settled, categories, 'batch') };
}

/**
 * The cumulative check: the verdicts of the last `runs` runs' batches together (`window`), per moderator
 * and per category and region, against the history before the window, with `cumulative_max_change`.
 */
export function checkCumulative(history: Verdict[], window: Verdict[], s: DriftSettings, runs: number): DriftReport {
  const rows = new Rows(s, 'cumulative', s.cumulative_max_change ?? 0.05);
  const categories = [...new Set(window.map((v) => v.category))].sort();
  for (const cat of categories) {
    const hist = history.filter((v) => v.category === cat);
    const mine = window.filter((v) => v.category === cat);
    for (const m of [...new Set(mine.map((v) => v.moderator))].sort()) {
      const theirs = mine.filter((v) => v.moderator === m);
      for (const { region, keep } of REGIONS) rows.add('model', cat, { kind: 'moderator', value: m }, region, theirs.filter(keep).map(agrees), hist.filter(keep).map(agrees));
      rows.addExpected(cat, { kind: 'moderator', value: m }, theirs, hist);
    }
    for (const { region, keep } of REGIONS) rows.add('model', cat, { kind: 'category', value: null }, region, mine.filter(keep).map(agrees), hist.filter(keep).map(agrees));
    rows.addExpected(cat, { kind: 'category', value: null }, mine, hist);
  }
  const settled = rows.settle();
  return { rows: settled, findings: settled.filter((r) => r.finding), holds: holdsOf(settled, categories, 'cumulative', runs) };
}

/** Which labels a row counts: this batch, or a cumulative window (this batch alone at the cumulative threshold, or the last runs' batches). */
const whenOf = (r: DriftRow, runs?: number) =>
  r.scope === 'batch' ? 'in this batch' : runs === 1 ? "in this batch (cumulative check's threshold)" : `over the last ${runs ?? 'few'} runs' batches`;

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);

const REGION_WORDS: Record<Region, string> = {
  all: '',
  model_yes: ' on items the serving head flagged',
  model_no: ' on items the serving head did not flag',
};

export function describe(r: DriftRow, runs?: number): string {
  if (r.against === 'ranking') {
    const who = r.slice.kind === 'author' ? `on author ${r.slice.value}'s items, moderators'` : r.slice.kind === 'term' ? `on items with the word "${r.slice.value}", moderators'` : "moderators'";
    const auc = (x: number | null) => (x === null ? 'n/a' : x.toFixed(2));
    return (
      `${who} ${r.category} flags rank against the serving head's scores ${whenOf(r, runs)}: AUC ${auc(r.batch.rate)} (${r.batch.agree} flagged of ${r.batch.n}) ` +
      `against ${auc(r.history.rate)} before (${r.history.agree} of ${r.history.n}; one-sided p = ${r.p_value === null ? 'n/a' : r.p_value.toExponential(2)}, needs ≤ ${r.threshold.toExponential(1)})`
    );
  }
  if (r.against === 'expected') {
    const who = r.slice.kind === 'moderator' ? `moderator ${r.slice.value}` : r.slice.kind === 'author' ? `on author ${r.slice.value}'s items, moderators` : r.slice.kind === 'term' ? `on items with the word "${r.slice.value}", moderators` : 'all moderators';
    const when = whenOf(r, runs);
    const e = r.expected!;
    return (
      `${who} flagged ${r.category} on ${r.batch.agree} of ${r.batch.n} items ${when} where the serving head's scores expected ${e.batch.toFixed(1)} ` +
      `(${pct(r.batch.rate)} of expected) against ${r.history.agree} where ${e.history.toFixed(1)} were expected before (${pct(r.history.rate)}; ` +
      `${r.slice.kind === 'author' || r.slice.kind === 'term' ? 'two' : 'one'}-sided p = ${r.p_value === null ? 'n/a' : r.p_value.toExponential(2)}, needs ≤ ${r.threshold.toExponential(1)})`
    );
  }
  const who =
    r.slice.kind === 'moderator'
      ? `moderator ${r.slice.value}'s ${r.category} labels`
      : r.slice.kind === 'author'
        ? `${r.category} labels on author ${r.slice.value}'s items`
        : r.slice.kind === 'term'
          ? `${r.category} labels on items with the word "${r.slice.value}"`
          : `all moderators' ${r.category} labels`;
  const what =
    r.against === 'model'
      ? "agree with the serving head's decision"
      : r.left_out?.length
        ? `agree with the other reviewers of the same tasks, leaving out ${r.left_out.map((m) => `moderator ${m}`).join(' and ')} (who also disagreed with theirs),`
        : 'agree with the other reviewers of the same tasks';
  const when = whenOf(r, runs);
  return (
    `${who}${REGION_WORDS[r.region]} ${what} ${pct(r.batch.rate)} of the time ${when} (${r.batch.agree}/${r.batch.n}) against ${pct(r.history.rate)} ` +
    `before (${r.history.agree}/${r.history.n}; one-sided p = ${r.p_value === null ? 'n/a' : r.p_value.toExponential(2)}, needs ≤ ${r.threshold.toExponential(1)})`
  );
}

/** How near a finding an author's or a word's row must come for a run's snapshot to keep it (one-sided p at most this). */
export const NEAR_P = 0.01;
/**
 * How near its threshold a row's p must come for a run to name it ({@link nearest}): within this factor.
 * Relative, not absolute: a word's threshold is max_p_value over the hundreds of words tested, where an
 * absolute p ≤ 0.01 comes by chance to a few words every night.
 */
export const NEAR_FACTOR = 10;

/** A row that came near a finding without being one, as a run reports it. */
export interface NearRow {
  category: string;
  slice: DriftRow['slice'];
  against: DriftRow['against'];
  region: Region;
  p_value: number;
  threshold: number;
  /** {@link describe}'s sentence. */
  reason: string;
}

/**
 * The batch's rows nearest a finding without being one: judged (enough verdicts), not a finding, one-sided
 * p within {@link NEAR_FACTOR} of the threshold the row needed; nearest first by p over that threshold.
 * Nothing is held for them: they are where an admin looks when the check found nothing to hold, above all
 * when the gate was not convinced either (a slice too small to be significant is what a targeted attacker
 * aims for). Some come this near by chance on honest nights, so a run names them as leads, not findings.
 */
export function nearest(rows: readonly DriftRow[], limit = 3): NearRow[] {
  return rows
    .filter((r) => r.scope === 'batch' && r.tested && !r.finding && r.p_value !== null && r.p_value <= NEAR_FACTOR * r.threshold)
    .sort((a, b) => a.p_value! / a.threshold - b.p_value! / b.threshold)
    .slice(0, limit)
    .map((r) => ({ category: r.category, slice: r.slice, against: r.against, region: r.region, p_value: r.p_value!, threshold: r.threshold, reason: describe(r) }));
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
