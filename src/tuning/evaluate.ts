/**
 * Evaluation of heads on the eval split and the promotion gate. Pure: the caller loads the eval cells.
 */
import { sigmoid, type HeadWeights } from '../inference/head.js';
import { binaryMetrics, mcnemarExact, type BinaryMetrics } from './stats.js';

export interface EvalCells {
  dim: number;
  /** Row-major [n, dim]: the features each cell's item was scored with. */
  features: Float32Array;
  /** Head row the cell's category reads. */
  label: Int32Array;
  /** Policy category of the cell (one per head row used). */
  category: string[];
  truth: boolean[];
  /** The policy's flag threshold for the cell's category. */
  threshold: Float64Array;
  /** Distinct reviewed items behind the cells. */
  items: number;
}

export interface HeadReport {
  accuracy: number | null;
  cells: number;
  categories: Record<string, BinaryMetrics>;
}

export interface EvalReport {
  items: number;
  cells: number;
  active: HeadReport;
  candidate: HeadReport;
  mcnemar: { b_active_right_candidate_wrong: number; c_active_wrong_candidate_right: number; p_value: number };
}

function scores(head: HeadWeights, cells: EvalCells): Float64Array {
  const n = cells.truth.length;
  const D = cells.dim;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const c = cells.label[i];
    let z = head.bias[c];
    for (let j = 0; j < D; j++) z += head.weight[c * D + j] * cells.features[i * D + j];
    out[i] = sigmoid(z);
  }
  return out;
}

function report(cells: EvalCells, s: Float64Array): HeadReport {
  const n = cells.truth.length;
  let right = 0;
  for (let i = 0; i < n; i++) if (s[i] >= cells.threshold[i] === cells.truth[i]) right++;
  const categories: Record<string, BinaryMetrics> = {};
  for (const cat of [...new Set(cells.category)].sort()) {
    const idx = cells.category.flatMap((c, i) => (c === cat ? [i] : []));
    categories[cat] = binaryMetrics(
      idx.map((i) => cells.truth[i]),
      idx.map((i) => s[i]),
      cells.threshold[idx[0]],
    );
  }
  return { accuracy: n ? right / n : null, cells: n, categories };
}

export function evaluateHeads(active: HeadWeights, candidate: HeadWeights, cells: EvalCells): EvalReport {
  const sa = scores(active, cells);
  const sc = scores(candidate, cells);
  let b = 0;
  let c = 0;
  for (let i = 0; i < cells.truth.length; i++) {
    const ra = sa[i] >= cells.threshold[i] === cells.truth[i];
    const rc = sc[i] >= cells.threshold[i] === cells.truth[i];
    if (ra && !rc) b++;
    else if (!ra && rc) c++;
  }
  return {
    items: cells.items,
    cells: cells.truth.length,
    active: report(cells, sa),
    candidate: report(cells, sc),
    mcnemar: { b_active_right_candidate_wrong: b, c_active_wrong_candidate_right: c, p_value: mcnemarExact(b, c) },
  };
}

export interface GateSettings {
  min_improvement: number;
  max_recall_drop: number;
  min_eval_items: number;
  max_p_value: number | null;
}

export interface GateCheck {
  check: string;
  passed: boolean;
  detail: string;
}

export interface GateDecision {
  passed: boolean;
  checks: GateCheck[];
  /** The failed checks' details: why a candidate was rejected. */
  reasons: string[];
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);

export function gate(r: EvalReport, g: GateSettings): GateDecision {
  const checks: GateCheck[] = [];
  checks.push({
    check: 'min_eval_items',
    passed: r.items >= g.min_eval_items,
    detail: `${r.items} reviewed eval items (need at least ${g.min_eval_items})`,
  });
  const a = r.active.accuracy;
  const c = r.candidate.accuracy;
  checks.push({
    check: 'min_improvement',
    passed: a !== null && c !== null && c >= a + g.min_improvement - 1e-12,
    detail: `candidate accuracy ${pct(c)} vs active ${pct(a)} (need at least active + ${pct(g.min_improvement)})`,
  });
  for (const [cat, m] of Object.entries(r.active.categories)) {
    const before = m.recall;
    const after = r.candidate.categories[cat]?.recall ?? null;
    if (before === null || after === null) continue;
    checks.push({
      check: `max_recall_drop:${cat}`,
      passed: before - after <= g.max_recall_drop + 1e-12,
      detail: `${cat} recall ${pct(after)} vs active ${pct(before)} (may drop by at most ${pct(g.max_recall_drop)})`,
    });
  }
  if (g.max_p_value !== null) {
    const p = r.mcnemar.p_value;
    checks.push({
      check: 'max_p_value',
      passed: p <= g.max_p_value,
      detail: `McNemar p = ${p.toPrecision(3)} (need ≤ ${g.max_p_value}; b = ${r.mcnemar.b_active_right_candidate_wrong}, c = ${r.mcnemar.c_active_wrong_candidate_right})`,
    });
  }
  const failed = checks.filter((x) => !x.passed);
  return { passed: failed.length === 0, checks, reasons: failed.map((x) => x.detail) };
}
