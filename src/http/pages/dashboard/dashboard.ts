// The admin dashboard: training runs, their curves, the gate's measure per head version, the review queue.
// Everything that comes from the server (run errors, gate reasons, category and backbone names) is
// hostile until proven otherwise: it only ever reaches the page as text (textContent, createTextNode,
// <title> text, non-URL attributes), never as HTML, and the CSP forbids inline script anyway.
// Charts are inline SVG drawn here; the page loads nothing from anywhere else.

import type { ActivationListJson, ActivationResultJson, HeadListJson, HoldListJson, ReviewStatsJson, RunJson, RunListJson } from '../../api-types.js';
import { $, apiCall, cell, el, failure, InlineQuestion, show, showSignIn, status, wireSignIn } from '../shared/page.js';

type RunRow = RunListJson['data'][number];
type HeadRow = HeadListJson['data'][number];
/** The JSON columns of a run, as the dashboard reads them (the server stores them as free JSON). */
interface Interval {
  estimate: number;
  lower: number;
  upper: number;
}
interface Evidence {
  verdict?: string;
  items?: number;
  sources?: { eval_items?: number; new_train_items?: number };
  ranked?: { category: string; positives: number }[];
  change?: { auprc?: Interval | null; accuracy?: Interval | null };
  confidence?: number;
  more_items?: number | null;
}
interface Gate {
  passed: boolean;
  evidence?: Evidence;
  checks?: { check: string; passed: boolean; detail: string }[];
  reasons?: string[];
  /** The label-drift check's rows nearest a finding, not held (src/tuning/math/drift.ts nearest). */
  drift_near?: { reason: string }[];
}
interface Snapshot {
  pairs?: number;
  eval_items?: number;
}
interface HeadMeasure {
  auprc?: number | null;
  accuracy?: number | null;
}
interface EvalReport {
  measure?: { active?: HeadMeasure; candidate?: HeadMeasure; change?: { auprc?: Interval | null; accuracy?: Interval | null } };
  mcnemar?: { p_value?: number };
  items?: number;
}
interface Step {
  step: number;
  [metric: string]: number;
}
interface CategoryChoice {
  category?: string;
  positives?: number;
  cells?: number;
  experts?: { expert?: string; l2?: number; scale?: number }[];
  beta?: number | null;
  reference_weight?: number;
  folds?: number;
  auprc?: number | null;
}
interface RunMetrics {
  steps?: Step[];
  seconds?: number;
  iterations?: number;
  categories?: CategoryChoice[];
}
interface HeadMetrics {
  eval_accuracy?: number;
  reference_eval_accuracy?: number;
  eval_auprc?: number;
  reference_eval_auprc?: number;
  eval_items?: number;
}
const headMetrics = (h: HeadRow) => (h.metrics ?? {}) as HeadMetrics;

/** The page's chart by its selector (the page has every one of them). */
function chart(selector: string): SVGElement {
  const e = document.querySelector<SVGElement>(selector);
  if (!e) throw new Error(`the page has no ${selector}`);
  return e;
}

const KEY_STORAGE = 'modtune.dashboard.key';
const SVG = 'http://www.w3.org/2000/svg';
const RUN_STATUSES = ['queued', 'running', 'promoted', 'rejected', 'superseded', 'held', 'failed', 'skipped'];
const HOLD_STATUSES = ['held', 'accepted', 'discarded'];
const HEAD_STATUSES = ['base', 'candidate', 'active', 'retired', 'rejected'];

const state: {
  key: string | null;
  runs: RunRow[];
  selectedId: string | null;
  loading: number;
  detail: number;
  /** The head the advisor measures: null for the active one, else a candidate's id. */
  adviceHead: string | null;
  /** Counts advisor reloads, so a slower earlier answer never replaces a later one. */
  advisorLoad: number;
} = {
  key: sessionStorage.getItem(KEY_STORAGE),
  runs: [],
  selectedId: null,
  loading: 0,
  detail: 0,
  adviceHead: null,
  advisorLoad: 0,
};

const api = <T>(path: string) => apiCall<T>(state.key, 'GET', path);

// ---------------------------------------------------------------- formatting

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const pct = (v: unknown) => (isNum(v) ? `${(v * 100).toFixed(1)}%` : '—');
const fixed = (v: unknown, digits = 3) => (isNum(v) ? v.toFixed(digits) : '—');
const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : '—');

function duration(startIso: string | null, endIso: string | null) {
  if (!startIso || !endIso) return '—';
  const s = (new Date(endIso).getTime() - new Date(startIso).getTime()) / 1000;
  if (!Number.isFinite(s) || s < 0) return '—';
  return s < 90 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`;
}

/** A badge whose class is only ever one of the known values: the server's string is text, not a class. */
function badge(value: string, known: readonly string[]) {
  return el('span', String(value), `badge ${known.includes(value) ? value : 'unknown'}`);
}

// ---------------------------------------------------------------- charts

function svgEl(tag: string, attrs: Record<string, string | number> = {}, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag) as SVGElement;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** About `count` round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]. */
function ticks(lo: number, hi: number, count: number, integer = false) {
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  if (integer) step = Math.max(1, Math.round(step));
  const out = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return { values: out, step };
}

function tickLabel(v: number, step: number) {
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));
  return v.toFixed(digits);
}

function extent(values: number[], pad: number): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    lo -= pad;
    hi += pad;
  }
  return [lo, hi];
}

const W = 600;
const H = 260;
const M = { left: 56, right: 16, top: 30, bottom: 42 };

/** The frame shared by both chart kinds: grid, y ticks and labels, axis titles. Returns the y scale. */
interface FrameOptions {
  yDomain: [number, number];
  yLabel: string;
  xLabel: string;
  yFormat?: (t: number) => string;
}
interface LegendEntry {
  label: string;
  cls: string;
  shape: 'line' | 'dot' | 'box';
}
interface Point {
  x: number;
  y: number | undefined;
  cls?: string;
  title?: string;
  id?: string;
}
interface Series {
  label: string;
  cls: string;
  dots?: boolean;
  points: Point[];
}

function frame(svg: SVGElement, { yDomain, yLabel, xLabel, yFormat }: FrameOptions) {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'xMidYMid meet');
  const [y0, y1] = yDomain;
  const yt = ticks(y0, y1, 5);
  const lo = Math.min(y0, yt.values[0] ?? y0);
  const hi = Math.max(y1, yt.values.at(-1) ?? y1);
  const y = (v: number) => M.top + (H - M.top - M.bottom) * (1 - (v - lo) / (hi - lo || 1));
  const grid = svgEl('g', { class: 'grid' });
  for (const t of yt.values) {
    grid.append(
      svgEl('line', { x1: M.left, x2: W - M.right, y1: y(t), y2: y(t), class: t === 0 && lo < 0 ? 'zero' : '' }),
      svgEl('text', { x: M.left - 6, y: y(t), class: 'tick y' }, yFormat ? yFormat(t) : tickLabel(t, yt.step)),
    );
  }
  svg.append(
    grid,
    svgEl('line', { x1: M.left, x2: M.left, y1: M.top, y2: H - M.bottom, class: 'axis' }),
    svgEl('line', { x1: M.left, x2: W - M.right, y1: H - M.bottom, y2: H - M.bottom, class: 'axis' }),
    svgEl('text', { x: (M.left + W - M.right) / 2, y: H - 6, class: 'axis-title x' }, xLabel),
    svgEl('text', { x: 14, y: (M.top + H - M.bottom) / 2, class: 'axis-title y', transform: `rotate(-90 14 ${(M.top + H - M.bottom) / 2})` }, yLabel),
  );
  return y;
}

/** A row of legend entries across the top: {label, cls, shape: 'line' | 'dot' | 'box'}. */
function legend(svg: SVGElement, entries: LegendEntry[]) {
  const g = svgEl('g', { class: 'legend' });
  let x = M.left;
  for (const e of entries) {
    const item = svgEl('g', { class: `legend-item ${e.cls}` });
    if (e.shape === 'dot') item.append(svgEl('circle', { cx: x + 9, cy: 12, r: 4, class: `legend-mark ${e.cls}` }));
    else if (e.shape === 'box') item.append(svgEl('rect', { x: x + 3, y: 7, width: 12, height: 10, class: `legend-mark ${e.cls}` }));
    else item.append(svgEl('line', { x1: x, x2: x + 18, y1: 12, y2: 12, class: `line ${e.cls}` }));
    const label = svgEl('text', { x: x + 24, y: 12, class: 'legend-label' }, e.label);
    item.append(label);
    g.append(item);
    x += 24 + 7 * e.label.length + 18;
  }
  svg.append(g);
}

/**
 * Draws a line chart into `svg` from series {label, cls, points: [{x, y, cls?, title?}], dots?}:
 * axes with round ticks, a legend, one path per series, and a dot per point where `dots` is set
 * (with a <title> as its tooltip). `extraLegend` adds legend entries for the dot classes.
 */
function lineChart(
  svg: SVGElement,
  {
    series,
    xLabel,
    yLabel,
    xInteger = false,
    xTicks,
    yDomain,
    yFormat,
    extraLegend = [],
  }: { series: Series[]; xLabel: string; yLabel: string; xInteger?: boolean; xTicks?: number[]; yDomain?: [number, number]; yFormat?: (t: number) => string; extraLegend?: LegendEntry[] },
) {
  const points = series.flatMap((s) => s.points).filter((p): p is Point & { y: number } => isNum(p.x) && isNum(p.y));
  if (points.length === 0) {
    svg.replaceChildren();
    return;
  }
  // Dots sit half a step inside the frame, not on its edges.
  const pad = series.some((s) => s.dots) && xInteger ? 0.5 : 0;
  const [e0, e1] = extent(points.map((p) => p.x), 1);
  const [x0, x1] = [e0 - pad, e1 + pad];
  const [d0, d1] = yDomain ?? extent(points.map((p) => p.y), 0.5);
  const y = frame(svg, { yDomain: [d0, d1], yLabel, xLabel, yFormat });
  // Given ticks (head versions that exist) label only those; otherwise round ones across the range.
  const xt = xTicks ? { values: xTicks, step: 1 } : ticks(x0, x1, 6, xInteger);
  const x = (v: number) => M.left + (W - M.left - M.right) * ((v - x0) / (x1 - x0));
  const xg = svgEl('g', { class: 'grid' });
  for (const t of xt.values) xg.append(svgEl('text', { x: x(t), y: H - M.bottom + 16, class: 'tick x' }, xInteger ? String(t) : tickLabel(t, xt.step)));
  svg.append(xg);
  for (const s of series) {
    const pts = s.points.filter((p): p is Point & { y: number } => isNum(p.x) && isNum(p.y));
    if (pts.length === 0) continue;
    const g = svgEl('g', { class: `series ${s.cls}` });
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join('');
    g.append(svgEl('path', { d, class: `line ${s.cls}` }));
    if (s.dots) {
      for (const p of pts) {
        const dot = svgEl('circle', { cx: x(p.x).toFixed(1), cy: y(p.y).toFixed(1), r: 5, class: `mark ${s.cls} ${p.cls ?? ''}` });
        if (p.title) dot.append(svgEl('title', {}, p.title));
        if (p.id) dot.setAttribute('data-id', p.id);
        g.append(dot);
      }
    }
    svg.append(g);
  }
  legend(svg, [...series.map((s): LegendEntry => ({ label: s.label, cls: s.cls, shape: 'line' })), ...extraLegend]);
}

/** A bar chart of {label, value, part?, title?}: `part` (≤ value) is drawn darker inside the bar. */
interface Bar {
  label: string;
  value: number;
  part?: number;
  title?: string;
}

function barChart(svg: SVGElement, { bars, yLabel, xLabel, legendEntries = [] }: { bars: Bar[]; yLabel: string; xLabel: string; legendEntries?: LegendEntry[] }) {
  const max = Math.max(1, ...bars.map((b) => b.value));
  const y = frame(svg, { yDomain: [0, max], yLabel, xLabel, yFormat: (t) => (Number.isInteger(t) ? String(t) : '') });
  const band = (W - M.left - M.right) / Math.max(1, bars.length);
  const width = Math.min(60, band * 0.6);
  bars.forEach((b, i) => {
    const cx = M.left + band * (i + 0.5);
    const g = svgEl('g', { class: 'bar-group' });
    const top = y(b.value);
    const rect = svgEl('rect', { x: (cx - width / 2).toFixed(1), y: top.toFixed(1), width: width.toFixed(1), height: Math.max(0, y(0) - top).toFixed(1), class: 'bar open' });
    if (b.title) rect.append(svgEl('title', {}, b.title));
    g.append(rect);
    if (b.part) {
      const ptop = y(b.part);
      g.append(svgEl('rect', { x: (cx - width / 2).toFixed(1), y: ptop.toFixed(1), width: width.toFixed(1), height: Math.max(0, y(0) - ptop).toFixed(1), class: 'bar leased' }));
    }
    g.append(
      svgEl('text', { x: cx, y: top - 5, class: 'value' }, String(b.value)),
      svgEl('text', { x: cx, y: H - M.bottom + 16, class: 'tick x' }, b.label),
    );
    svg.append(g);
  });
  legend(svg, legendEntries);
}

// ---------------------------------------------------------------- training runs

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(3)}`;

/** The evidence rule in a line: the verdict, each change with its interval, and on how many items. */
function evidenceText(ev: Evidence): string {
  const verdict = String(ev.verdict).replace('_', ' ');
  const iv = (name: string, ch: Interval | null | undefined, f: (x: number) => string) =>
    ch && isNum(ch.estimate) && isNum(ch.lower) && isNum(ch.upper) ? ` ${name} ${f(ch.estimate)} [${f(ch.lower)}, ${f(ch.upper)}]` : '';
  const points = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}`;
  const src = ev.sources;
  const items = `${isNum(ev.items) ? ev.items : '?'} items${src && isNum(src.new_train_items) && src.new_train_items > 0 ? ` (${src.eval_items ?? '?'} eval + ${src.new_train_items} new)` : ''}`;
  const positives = Array.isArray(ev.ranked) ? ev.ranked.map((r) => `${r.category} ${r.positives}+`).join(', ') : '';
  // What an undecided gate waits for, so a trial user knows how far off a decision is.
  const waiting =
    ev.verdict === 'undecided' && 'more_items' in ev
      ? isNum(ev.more_items)
        ? `; waiting for about ${ev.more_items} more reviewed items (at this mix, if the changes hold)`
        : '; more items would more likely show it worse'
      : '';
  return `${verdict}${iv('AUPRC', ev.change?.auprc, signed)}${iv('accuracy', ev.change?.accuracy, points)} on ${items}${positives ? `, ${positives}` : ''}${waiting}`;
}

function gateCell(run: RunRow) {
  const td = document.createElement('td');
  td.className = 'gate';
  const gate = run.gate as Gate | null;
  if (gate) {
    const checks = Array.isArray(gate.checks) ? gate.checks : [];
    const reasons = Array.isArray(gate.reasons) ? gate.reasons : [];
    td.append(el('span', gate.passed ? 'passed' : 'failed', `verdict ${gate.passed ? 'passed' : 'failed'}`));
    const ev = gate.evidence;
    if (ev && typeof ev.verdict === 'string') td.append(el('span', ` evidence: ${evidenceText(ev)}`, 'evidence'));
    if (reasons.length) {
      const ul = el('ul', undefined, 'reasons');
      for (const r of reasons) ul.append(el('li', String(r)));
      td.append(ul);
    } else if (checks.length) {
      td.append(document.createTextNode(` all ${checks.length} checks`));
    }
    const near = Array.isArray(gate.drift_near) ? gate.drift_near : [];
    if (near.length) {
      // Leads, not findings: the slices of this batch nearest a label-drift hold.
      const details = document.createElement('details');
      details.append(el('summary', `label drift: ${near.length} slice${near.length === 1 ? '' : 's'} near a hold (not held)`));
      const ul = el('ul', undefined, 'drift-near');
      for (const r of near) ul.append(el('li', String(r.reason)));
      details.append(ul);
      td.append(details);
    }
    if (checks.length) {
      const details = document.createElement('details');
      details.append(el('summary', 'checks'));
      const ul = el('ul', undefined, 'checks');
      for (const c of checks) ul.append(el('li', `${c.passed ? '✓' : '✗'} ${c.check}: ${c.detail}`, c.passed ? 'ok' : 'bad'));
      details.append(ul);
      td.append(details);
    }
  } else if (run.error) {
    td.append(el('span', String(run.error), 'error-text'));
  } else {
    td.textContent = run.status === 'queued' || run.status === 'running' ? 'in progress' : '—';
  }
  return td;
}

const RUN_COLUMNS = ['Status', 'Trigger', 'Created', 'Duration', 'Pairs', 'Eval AUPRC (candidate / active)', 'Gate'];

function renderRuns(body: RunListJson) {
  state.runs = Array.isArray(body.data) ? body.data : [];
  const scheduler: { enabled?: boolean; next_run?: string | null } = body.scheduler ?? {};
  $('next-run').textContent = scheduler.next_run
    ? `Next scheduled run: ${when(scheduler.next_run)}.`
    : scheduler.enabled
      ? 'The training schedule has no further run.'
      : 'No scheduled run (the training schedule is off on this server).';
  const tbody = $<HTMLTableElement>('runs-table').tBodies[0];
  tbody.replaceChildren();
  show('runs-empty', state.runs.length === 0);
  show('runs-table', state.runs.length > 0);
  for (const run of state.runs) {
    const tr = document.createElement('tr');
    tr.tabIndex = 0;
    tr.setAttribute('data-run-id', String(run.id));
    tr.setAttribute('data-status', RUN_STATUSES.includes(run.status) ? run.status : 'unknown');
    const statusTd = document.createElement('td');
    statusTd.append(badge(run.status, RUN_STATUSES));
    // A promoted head may have been left since: say so, or the row claims what is no longer true.
    if (run.status === 'promoted' && run.candidate_status && run.candidate_status !== 'active') {
      statusTd.append(el('span', run.rolled_back_at ? ` rolled back ${when(run.rolled_back_at)}` : ' no longer active', 'since'));
    }
    const accuracy = isNum(run.candidate_auprc) || isNum(run.active_auprc) ? `${fixed(run.candidate_auprc)} / ${fixed(run.active_auprc)}` : '—';
    const cells = [
      statusTd,
      cell(String(run.trigger ?? '—')),
      cell(when(run.created_at)),
      cell(duration(run.started_at, run.finished_at)),
      cell(isNum(run.data_snapshot?.pairs) ? String(run.data_snapshot.pairs) : '—', 'num'),
      cell(accuracy, 'num'),
      gateCell(run),
    ];
    // On a phone each run is a card whose lines name their column (dashboard.css).
    RUN_COLUMNS.forEach((label, i) => cells[i].setAttribute('data-label', label));
    tr.append(...cells);
    tr.addEventListener('click', (e) => {
      // Opening the checks list is not a selection.
      if (e.target instanceof Element && e.target.closest('details')) return;
      void selectRun(run.id);
    });
    tbody.append(tr);
  }
  // Keep the selection across refreshes; otherwise the newest run that got as far as training.
  if (!state.runs.some((r) => r.id === state.selectedId)) {
    const trained = state.runs.find((r) => (r.logged_steps ?? 0) > 0);
    state.selectedId = (trained ?? state.runs[0])?.id ?? null;
  }
  markSelected();
  if (state.selectedId) void selectRun(state.selectedId, false);
  else renderNoRun();
}

function markSelected() {
  for (const tr of $<HTMLTableElement>('runs-table').tBodies[0].rows) {
    const on = tr.getAttribute('data-run-id') === state.selectedId;
    tr.classList.toggle('selected', on);
    if (on) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
  }
}

function renderNoRun() {
  $('run-title').textContent = 'Selected run';
  $('run-summary').textContent = '';
  show('run-numbers', false);
  show('run-hyperparameters', false);
  show('run-charts', false);
  show('metrics-empty', true);
  $('metrics-empty').textContent = 'No run to show yet: loss and reward-margin curves appear here after the first training run.';
}

async function selectRun(id: string, announce = true) {
  state.selectedId = id;
  markSelected();
  const token = ++state.detail;
  try {
    const run = await api<RunJson>(`/v1/training/runs/${encodeURIComponent(id)}`);
    if (token !== state.detail) return;
    renderRun(run);
    if (announce) status(`Showing run ${id}.`);
  } catch (e) {
    if (token !== state.detail) return;
    if (refused(e)) return;
    status(`Could not load run ${id}: ${failure(e).message}`, true);
  }
}

function renderRun(run: RunJson) {
  $('run-title').textContent = `Selected run · ${run.status} · ${when(run.created_at)}`;
  const parts = [`Run ${run.id}`, `trigger ${run.trigger}`, `policy ${run.policy_name} (${run.policy_version})`];
  const snapshot = run.data_snapshot as Snapshot | null;
  if (snapshot) parts.push(`${snapshot.pairs ?? '?'} pairs, ${snapshot.eval_items ?? '?'} eval items`);
  $('run-summary').textContent = parts.join(' · ');

  renderHyperparameters(run);
  const report = run.eval_report as EvalReport | null;
  const metrics = (run.metrics ?? {}) as RunMetrics;
  show('run-numbers', Boolean(report));
  if (report) {
    const m = report.measure;
    const both = (f: (h: HeadMeasure | undefined) => string) => `${f(m?.candidate)} / ${f(m?.active)}`;
    $('n-auprc').textContent = both((h) => fixed(h?.auprc ?? undefined, 3));
    $('n-accuracy').textContent = both((h) => pct(h?.accuracy ?? undefined));
    const ev = (run.gate as Gate | null)?.evidence;
    $('n-evidence').textContent = ev && typeof ev.verdict === 'string' ? evidenceText(ev) : '—';
    $('n-items').textContent = isNum(report.items) ? String(report.items) : '—';
    $('n-seconds').textContent = isNum(metrics.seconds) ? `${metrics.seconds.toFixed(1)} s${isNum(metrics.iterations) ? ` (final fit: ${metrics.iterations} iterations)` : ''}` : '—';
  }

  const steps = Array.isArray(metrics.steps) ? metrics.steps : [];
  show('run-charts', steps.length > 0);
  show('metrics-empty', steps.length === 0);
  if (steps.length === 0) {
    $('metrics-empty').textContent = run.error ? `No training metrics for this run. ${run.status}: ${run.error}` : `No training metrics for this run (${run.status}).`;
    return;
  }
  const series = (key: string, label: string, cls: string): Series => ({ label, cls, points: steps.map((s) => ({ x: s.step, y: s[key] })) });
  lineChart(chart('svg[data-chart=loss]'), {
    series: [series('loss', 'loss', 's0')],
    xLabel: 'iteration',
    yLabel: 'loss',
    xInteger: true,
  });
  lineChart(chart('svg[data-chart=margins]'), {
    series: [series('rewards/margins', 'margin', 's0'), series('rewards/chosen', 'chosen', 's1'), series('rewards/rejected', 'rejected', 's2')],
    xLabel: 'iteration',
    yLabel: 'reward',
    xInteger: true,
  });
}

/** The training settings the run ran with (the policy's, with any overrides; lists were searched) and what its search chose. */
function renderHyperparameters(run: RunJson) {
  const fmt = (v: unknown) => (Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const rows: [string, string][] = [];
  const hp = (run.hyperparameters ?? {}) as Record<string, unknown>;
  const metrics = (run.metrics ?? {}) as RunMetrics;
  const settings = Object.entries(hp)
    .filter(([k]) => k !== 'force')
    .sort(([a], [b]) => (a < b ? -1 : 1));
  if (settings.length) rows.push(['settings', settings.map(([k, v]) => `${k} ${fmt(v)}`).join(' · ')]);
  if (hp.force) rows.push(['forced', 'yes: trained without new labels']);
  for (const c of Array.isArray(metrics.categories) ? metrics.categories : []) {
    const experts = (Array.isArray(c.experts) ? c.experts : []).map((e) => `${e.expert} l2 ${fmt(e.l2)} ×${fixed(e.scale, 2)}`).join(', ');
    const beta = c.beta === null ? '∞ (the rewards add nothing)' : fixed(c.beta ?? undefined, 3);
    const search = isNum(c.folds) && c.folds > 0 ? `, AUPRC ${fixed(c.auprc ?? undefined, 3)} on ${c.folds} folds` : ', no search';
    rows.push([`${c.category ?? '?'}`, `${experts}; β ${beta}${search} (${c.positives ?? '?'} flagged of ${c.cells ?? '?'})`]);
  }
  const dl = $('run-hyperparameters');
  dl.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', k), el('dd', v)]));
  show('run-hyperparameters', rows.length > 0);
}

// ---------------------------------------------------------------- head versions

function headKind(h: HeadRow) {
  if (h.status === 'rejected') return 'rejected';
  if (h.promoted_at || h.status === 'active' || h.status === 'retired') return 'promoted';
  return 'candidate';
}

function renderHeads(body: HeadListJson) {
  const all = Array.isArray(body.data) ? body.data : [];
  renderHeadChoice(all);
  const evaluated = all
    .filter((h) => isNum(h.metrics?.eval_auprc))
    .sort((a, b) => new Date(a.created_at).getTime() - new Date(b.created_at).getTime());
  show('heads-empty', evaluated.length === 0);
  show('accuracy-figure', evaluated.length > 0);
  if (evaluated.length) {
    lineChart(chart('svg[data-chart=accuracy]'), {
      series: [
        {
          label: 'head',
          cls: 's0',
          dots: true,
          points: evaluated.map((h) => ({
            x: h.version,
            y: headMetrics(h).eval_auprc,
            cls: headKind(h),
            id: String(h.id),
            title: `v${h.version} (${h.status}): AUPRC ${fixed(headMetrics(h).eval_auprc)}, accuracy ${pct(headMetrics(h).eval_accuracy)}, on ${headMetrics(h).eval_items ?? '?'} eval items`,
          })),
        },
        {
          label: 'active head then',
          cls: 's3',
          points: evaluated.map((h) => ({ x: h.version, y: headMetrics(h).reference_eval_auprc })),
        },
      ],
      xLabel: 'head version',
      yLabel: 'eval AUPRC',
      xInteger: true,
      // Only the versions that were measured: an axis tick at a version that does not exist misleads.
      xTicks: evaluated.map((h) => h.version),
      yDomain: auprcDomain(evaluated),
      yFormat: (t) => t.toFixed(2),
      extraLegend: [
        { label: 'promoted', cls: 'promoted', shape: 'dot' },
        { label: 'rejected', cls: 'rejected', shape: 'dot' },
      ],
    });
  }

  const tbody = $<HTMLTableElement>('heads-table').tBodies[0];
  tbody.replaceChildren();
  show('heads-table', all.length > 0);
  for (const h of all) {
    const tr = document.createElement('tr');
    if (h.active) tr.className = 'active';
    const statusTd = document.createElement('td');
    statusTd.append(badge(h.status, HEAD_STATUSES));
    tr.append(
      cell(`v${h.version}`, 'num'),
      statusTd,
      cell(String(h.source ?? '—')),
      cell(String(h.backbone ?? '—')),
      cell(isNum(h.metrics?.eval_auprc) ? `${fixed(h.metrics?.eval_auprc)} · ${pct(h.metrics?.eval_accuracy)}` : pct(h.metrics?.eval_accuracy), 'num'),
      cell(isNum(h.metrics?.reference_eval_auprc) ? `${fixed(h.metrics?.reference_eval_auprc)} · ${pct(h.metrics?.reference_eval_accuracy)}` : pct(h.metrics?.reference_eval_accuracy), 'num'),
      cell(when(h.created_at)),
      cell(when(h.promoted_at)),
      headAction(h),
    );
    tbody.append(tr);
  }
}

/** Roll back on the active head (naming it, so a stale page cannot step back twice); Activate on the others. */
function headAction(h: HeadRow) {
  const td = document.createElement('td');
  const action = h.active ? 'rollback' : 'activate';
  const b = el('button', h.active ? 'Roll back' : 'Activate', action);
  b.type = 'button';
  b.setAttribute('data-head-id', String(h.id));
  b.addEventListener('click', () => void changeHead(h, action, b));
  td.append(b);
  return td;
}

/** The reason for a rollback or an activation, asked above the heads table. */
const reasonQuestion = new InlineQuestion('reason-panel', 'reason');

async function changeHead(h: HeadRow, action: 'rollback' | 'activate', button: HTMLButtonElement) {
  const question =
    action === 'rollback'
      ? `Roll back from v${h.version}? The head that was active before it serves all traffic at once. Why?`
      : `Activate v${h.version} (${h.status})? It serves all traffic at once. Why?`;
  const reason = await reasonQuestion.ask(question);
  if (reason === null) return;
  const body = reason.trim() ? { reason: reason.trim() } : {};
  button.disabled = true;
  try {
    const out =
      action === 'rollback'
        ? await apiCall<ActivationResultJson>(state.key, 'POST', '/v1/models/rollback', { ...body, expected_head_id: String(h.id) })
        : await apiCall<ActivationResultJson>(state.key, 'POST', `/v1/models/${encodeURIComponent(String(h.id))}/activate`, body);
    await refresh();
    status(`${action === 'rollback' ? 'Rolled back' : 'Activated'}: head ${out.active_head_id} is active.`);
  } catch (e) {
    button.disabled = false;
    if (!refused(e)) status(`Could not ${action === 'rollback' ? 'roll back' : 'activate'}: ${failure(e).message}`, true);
  }
}

function renderActivations(body: ActivationListJson) {
  const rows = Array.isArray(body?.data) ? body.data : [];
  const tbody = $<HTMLTableElement>('activations-table').tBodies[0];
  tbody.replaceChildren();
  show('activations-table', rows.length > 0);
  show('activations-empty', rows.length === 0);
  for (const a of rows) {
    const tr = document.createElement('tr');
    tr.setAttribute('data-activation-id', String(a.id));
    const from = isNum(a.previous_version) ? `v${a.previous_version}` : 'none';
    tr.append(
      cell(when(a.at)),
      cell(`${from} → v${a.head_version}`),
      cell(a.rollback ? 'rollback' : 'activation'),
      cell(String(a.reason), 'reason'),
      cell(String(a.actor)),
    );
    tbody.append(tr);
  }
}

/** AUPRC lives in [0, 1]; zoom to the data but keep a little room and never leave that range. */
function auprcDomain(heads: HeadRow[]): [number, number] {
  const ys = heads.flatMap((h) => [headMetrics(h).eval_auprc, headMetrics(h).reference_eval_auprc]).filter(isNum);
  const lo = Math.max(0, Math.floor((Math.min(...ys) - 0.05) * 10) / 10);
  const hi = Math.min(1, Math.ceil((Math.max(...ys) + 0.02) * 10) / 10);
  return [lo, Math.max(hi, lo + 0.1)];
}

// ---------------------------------------------------------------- review queue and agreement

function renderReview(stats: ReviewStatsJson) {
  const queue = stats.queue ?? {};
  const bars = Object.entries(queue).map(([reason, q]) => ({
    label: reason,
    value: Number(q?.open) || 0,
    part: Number(q?.leased) || 0,
    title: `${reason}: ${q?.open ?? 0} open, ${q?.leased ?? 0} leased`,
  }));
  barChart(chart('svg[data-chart=queue]'), {
    bars,
    xLabel: 'reason',
    yLabel: 'open tasks',
    legendEntries: [
      { label: 'open', cls: 'open', shape: 'box' },
      { label: 'of which leased', cls: 'leased', shape: 'box' },
    ],
  });
  const total = Number(stats.queue_total) || 0;
  $('queue-caption').textContent = total ? `Open review tasks per reason (${total} in all)` : 'Open review tasks per reason: the queue is empty';
  const median = stats.median_handling_ms?.all;
  $('queue-summary').textContent = `Median handling time over the last ${stats.window_days} days: ${isNum(median) ? `${(median / 1000).toFixed(1)} s` : 'no reviews yet'}.`;

  const mods = stats.agreement?.moderators ?? {};
  const model = stats.agreement?.moderators_vs_model ?? {};
  const categories = [...new Set([...Object.keys(mods), ...Object.keys(model)])].sort();
  const tbody = $<HTMLTableElement>('agreement-table').tBodies[0];
  tbody.replaceChildren();
  show('agreement-table', categories.length > 0);
  show('agreement-empty', categories.length === 0);
  for (const c of categories) {
    // The server builds these per category as free records (review.service.ts stats()).
    const a = (mods[c] ?? {}) as { items?: number; cohen_kappa?: number | null; krippendorff_alpha?: number | null };
    const b = (model[c] ?? {}) as { items?: number; agreement?: number | null; cohen_kappa?: number | null };
    const tr = document.createElement('tr');
    tr.append(
      cell(c),
      cell(isNum(a.items) ? String(a.items) : '—', 'num'),
      cell(fixed(a.cohen_kappa), 'num'),
      cell(fixed(a.krippendorff_alpha), 'num'),
      cell(isNum(b.items) ? String(b.items) : '—', 'num'),
      cell(pct(b.agreement), 'num'),
      cell(fixed(b.cohen_kappa), 'num'),
    );
    tbody.append(tr);
  }
}

// ---------------------------------------------------------------- thresholds

interface IntervalJson {
  estimate: number | null;
  lower: number;
  upper: number;
}
interface PointJson {
  threshold: number;
  flagged: number;
  truePositives: number;
  precision: IntervalJson;
  recall: IntervalJson;
}
interface AdviceJson {
  head: { id: string; version: number };
  categories: {
    category: string;
    flag: number;
    block: number | null;
    sample: { audited_items: number; positives: number; trusted_items: number };
    at_flag: PointJson;
    curve: PointJson[];
    suggestion?: { met: true; threshold: number; point: PointJson; rule: string } | { met: false; reason: string; moreAudits: number | null };
  }[];
}
interface WhatIfJson {
  decisions: number;
  days: number;
  changes: { move: string; decisions: number; example_decision_ids: string[] }[];
  policy_diff: string;
}

const thresholdText = (t: number) => String(Number(t.toPrecision(3)));
const interval = (i: IntervalJson) => (i.estimate === null ? '— (none flagged)' : `${pct(i.estimate)} [${pct(i.lower)}, ${pct(i.upper)}]`);

/** The suggested threshold the what-if button asks about. */
const advice: { category: string | null; threshold: number | null; block: number | null } = { category: null, threshold: null, block: null };

/** The query that names the chosen head (none for the active one), to start or extend a query string. */
const headQuery = (sep: '?' | '&') => (state.adviceHead ? `${sep}head_id=${encodeURIComponent(state.adviceHead)}` : '');

/**
 * The heads the advisor can measure: the active one and every candidate of its backbone (a head a training
 * run made that is not active: waiting, rejected by the gate, or retired). The advisor scores the stored
 * features of the active backbone, so heads of another backbone are not offered.
 */
function renderHeadChoice(all: HeadRow[]) {
  const active = all.find((h) => h.active);
  const select = $<HTMLSelectElement>('advise-head');
  if (!active) {
    select.replaceChildren();
    state.adviceHead = null;
    return;
  }
  const candidates = all.filter((h) => !h.active && h.backbone_id === active.backbone_id && h.training_run_id !== null).sort((a, b) => b.version - a.version);
  const option = (h: HeadRow, text: string) => Object.assign(el('option', text), { value: String(h.id) });
  select.replaceChildren(
    option(active, `v${active.version} (active)`),
    ...candidates.map((h) => option(h, `v${h.version} (${h.status}, trained ${when(h.created_at)})`)),
  );
  // A chosen candidate that is no longer one (activated since, or gone) falls back to the active head.
  if (!candidates.some((h) => String(h.id) === state.adviceHead)) state.adviceHead = null;
  select.value = state.adviceHead ?? String(active.id);
}

/** Reloads the advisor's evidence for the chosen head (the head selector's change). */
async function loadThresholds() {
  const token = ++state.advisorLoad;
  $('advise-result').textContent = '';
  advice.category = null;
  show('what-if-controls', false);
  show('what-if-result', false);
  try {
    const body = await api<AdviceJson>(`/v1/thresholds${headQuery('?')}`);
    if (token !== state.advisorLoad) return;
    renderThresholds(body);
    status(`Showing the advisor's evidence for head v${body.head.version}.`);
  } catch (err) {
    if (token !== state.advisorLoad) return;
    if (!refused(err)) status(`Could not load the advisor's evidence: ${failure(err).message}`, true);
  }
}

function renderThresholds(body: AdviceJson) {
  const cats = Array.isArray(body?.categories) ? body.categories : [];
  const withSample = cats.filter((c) => c.sample.audited_items > 0);
  const tbody = $<HTMLTableElement>('thresholds-table').tBodies[0];
  tbody.replaceChildren();
  show('thresholds-table', withSample.length > 0);
  show('thresholds-empty', withSample.length === 0);
  for (const c of withSample) {
    const tr = document.createElement('tr');
    tr.dataset.category = c.category;
    tr.append(
      cell(c.category),
      cell(fixed(c.flag, 2), 'num'),
      cell(String(c.sample.audited_items), 'num'),
      cell(String(c.sample.positives), 'num'),
      cell(interval(c.at_flag.precision)),
      cell(interval(c.at_flag.recall)),
      cell(isNum(c.sample.trusted_items) ? String(c.sample.trusted_items) : '—', 'num'),
    );
    tbody.append(tr);
  }
  // A figure per category with a curve; the categories without one (no moderator-flagged audit yet) in one line.
  const drawable = withSample.filter((c) => c.sample.positives > 0 && Array.isArray(c.curve) && c.curve.length > 0);
  const without = withSample.filter((c) => !drawable.includes(c)).map((c) => c.category);
  $('threshold-curves').replaceChildren(
    ...drawable.map((c) => curveFigure(c, body.head?.version)),
    ...(without.length ? [el('p', `No curve yet (no audited item flagged by moderators, so recall is undefined): ${without.join(', ')}.`, 'empty no-curve')] : []),
  );
  const select = $<HTMLSelectElement>('advise-category');
  const chosen = select.value;
  select.replaceChildren(...cats.map((c) => Object.assign(el('option', c.category), { value: c.category })));
  if (cats.some((c) => c.category === chosen)) select.value = chosen;
}

/**
 * A category's precision against recall on the audit sample, one point per threshold of the API's `curve`
 * (its <title> names the threshold and both intervals), each with its 95% intervals as whiskers (precision
 * up and down, recall left and right), the current flag threshold marked. Only for a category with a
 * moderator-flagged audit (without one, recall is undefined: the caller lists those instead).
 */
function curveFigure(c: AdviceJson['categories'][number], version: number | undefined): HTMLElement {
  const figure = el('figure', undefined, 'pr-figure');
  figure.dataset.category = c.category;
  figure.append(el('figcaption', `${c.category}: precision against recall on ${c.sample.audited_items} audited items${isNum(version) ? `, head v${version}` : ''}; a point per threshold (hover for it), the flag threshold now ${thresholdText(c.flag)} marked`));
  const points = c.curve;
  const svg = svgEl('svg', { role: 'img', 'data-chart': 'pr-curve', 'data-category': c.category, 'aria-label': `Precision against recall for ${c.category}, one point per threshold` });
  const y = frame(svg, { yDomain: [0, 1], yLabel: 'precision', xLabel: 'recall', yFormat: (t) => `${Math.round(t * 100)}%` });
  const x = (v: number) => M.left + (W - M.left - M.right) * v;
  const xg = svgEl('g', { class: 'grid' });
  for (let t = 0; t <= 1.0001; t += 0.2) xg.append(svgEl('text', { x: x(t).toFixed(1), y: H - M.bottom + 16, class: 'tick x' }, `${Math.round(t * 100)}%`));
  svg.append(xg);
  // Nothing flagged at a threshold: precision is undefined there (its interval is all of [0, 1]); the point
  // sits at the top, hollow, where a precision/recall curve conventionally starts.
  const at = (p: PointJson) => ({ px: x(p.recall.estimate ?? 0), py: y(p.precision.estimate ?? 1) });
  const whiskers = svgEl('g', { class: 'whiskers' });
  for (const p of points) {
    const { px, py } = at(p);
    whiskers.append(
      svgEl('line', { x1: px.toFixed(1), x2: px.toFixed(1), y1: y(p.precision.lower).toFixed(1), y2: y(p.precision.upper).toFixed(1), class: 'whisker' }),
      svgEl('line', { x1: x(p.recall.lower).toFixed(1), x2: x(p.recall.upper).toFixed(1), y1: py.toFixed(1), y2: py.toFixed(1), class: 'whisker' }),
    );
  }
  const defined = points.filter((p) => p.precision.estimate !== null);
  const d = defined.map((p, i) => `${i ? 'L' : 'M'}${at(p).px.toFixed(1)},${at(p).py.toFixed(1)}`).join('');
  const series = svgEl('g', { class: 'series s0' });
  if (d) series.append(svgEl('path', { d, class: 'line s0' }));
  for (const p of points) {
    const { px, py } = at(p);
    const isFlag = p.threshold === c.flag;
    const g = svgEl('g', { class: `pr-point${isFlag ? ' flag' : ''}${p.precision.estimate === null ? ' undefined' : ''}`, 'data-threshold': String(p.threshold) });
    const dot = svgEl('circle', { cx: px.toFixed(1), cy: py.toFixed(1), r: isFlag ? 6 : 3.5, class: 'mark' });
    dot.append(
      svgEl(
        'title',
        {},
        `threshold ${thresholdText(p.threshold)}${isFlag ? ' (the flag threshold now)' : ''}: precision ${interval(p.precision)}, recall ${interval(p.recall)}; ` +
          `${p.flagged} of ${c.sample.audited_items} audited items at or above it, ${p.truePositives} of them flagged by moderators`,
      ),
    );
    g.append(dot);
    // The label beside the mark: below it near the top (the legend's row), above it elsewhere; on the
    // mark's left in the right half, so it never runs past the figure's edge.
    if (isFlag) {
      const right = px > (M.left + W - M.right) / 2;
      g.append(
        svgEl(
          'text',
          { x: (right ? px - 9 : px + 9).toFixed(1), y: (py < M.top + 24 ? py + 16 : py - 8).toFixed(1), class: 'flag-label', 'text-anchor': right ? 'end' : 'start' },
          `flag ${thresholdText(p.threshold)}`,
        ),
      );
    }
    series.append(g);
  }
  svg.append(whiskers, series);
  legend(svg, [
    { label: 'by threshold', cls: 's0', shape: 'line' },
    { label: 'flag threshold now', cls: 'flag', shape: 'dot' },
    { label: '95% intervals', cls: 'whisker', shape: 'line' },
  ]);
  figure.append(svg);
  return figure;
}

async function adviseThreshold(e: Event) {
  e.preventDefault();
  const category = $<HTMLSelectElement>('advise-category').value;
  const metric = $<HTMLSelectElement>('advise-metric').value;
  const value = $<HTMLInputElement>('advise-value').value;
  show('what-if-controls', false);
  show('what-if-result', false);
  try {
    const out = await api<AdviceJson>(`/v1/thresholds?category=${encodeURIComponent(category)}&target_${metric}=${encodeURIComponent(value)}${headQuery('&')}`);
    const c = out.categories[0];
    const s = c.suggestion!;
    if (s.met) {
      $('advise-result').textContent =
        `${category}: flag at ${thresholdText(s.threshold)} (now ${c.flag.toFixed(2)}): precision ${interval(s.point.precision)}, recall ${interval(s.point.recall)}, ` +
        `${s.point.flagged} of ${c.sample.audited_items} audited items flagged. Chosen as ${s.rule}.`;
      advice.category = category;
      advice.threshold = s.threshold;
      advice.block = c.block;
      show('what-if-controls', true);
    } else {
      $('advise-result').textContent = `${category}: ${s.reason}.${s.moreAudits !== null ? ` About ${s.moreAudits} more blind audits would settle it, if the rates hold.` : ''}`;
      advice.category = null;
    }
  } catch (err) {
    if (!refused(err)) $('advise-result').textContent = `Could not advise: ${failure(err).message}`;
  }
}

/** The what-if's days, checked as the API checks them (a whole number from 1 to 365); null, said inline, when not. */
function whatIfDays(): number | null {
  const input = $<HTMLInputElement>('what-if-days');
  const raw = input.value.trim();
  const days = Number(raw);
  const ok = /^\d+$/.test(raw) && days >= 1 && days <= 365;
  input.setAttribute('aria-invalid', String(!ok));
  $('what-if-days-error').textContent = ok ? '' : `Days must be a whole number from 1 to 365${raw ? `, not ${raw}` : ''}.`;
  show('what-if-days-error', !ok);
  return ok ? days : null;
}

async function whatIf() {
  if (!advice.category || advice.threshold === null) return;
  const threshold = Number(advice.threshold.toPrecision(3));
  const days = whatIfDays();
  if (days === null) {
    show('what-if-result', false);
    $<HTMLInputElement>('what-if-days').focus();
    return;
  }
  try {
    // A flag above the block threshold would block everything it flags: the block moves up with it.
    const proposal = advice.block !== null && advice.block < threshold ? { flag: threshold, block: threshold } : { flag: threshold };
    const out = await apiCall<WhatIfJson>(state.key, 'POST', '/v1/thresholds/what-if', { thresholds: { [advice.category]: proposal }, days });
    $('what-if-summary').textContent =
      `Of ${out.decisions} decisions in the last ${out.days} days, ${out.changes.reduce((a, c) => a + c.decisions, 0)} would change action with ${advice.category} flagged at ${threshold}` +
      `${'block' in proposal ? ` (and blocked at ${threshold}: the block threshold may not be below the flag)` : ''}.`;
    const tbody = $<HTMLTableElement>('what-if-table').tBodies[0];
    tbody.replaceChildren(
      ...out.changes.map((c) => {
        const tr = document.createElement('tr');
        tr.append(cell(c.move), cell(String(c.decisions), 'num'), cell(c.example_decision_ids.join(', ')));
        return tr;
      }),
    );
    $('policy-diff').textContent = out.policy_diff || '(no change)';
    show('what-if-result', true);
  } catch (err) {
    if (!refused(err)) $('advise-result').textContent = `Could not compute the what-if: ${failure(err).message}`;
  }
}

// ---------------------------------------------------------------- held labels

function renderHolds(body: HoldListJson) {
  const holds = Array.isArray(body?.data) ? body.data : [];
  const tbody = $<HTMLTableElement>('holds-table').tBodies[0];
  tbody.replaceChildren();
  show('holds-table', holds.length > 0);
  show('holds-empty', holds.length === 0);
  // Undecided first; newest first within each group (the API's order).
  const order = [...holds.filter((h) => h.status === 'held'), ...holds.filter((h) => h.status !== 'held')];
  for (const h of order) {
    const tr = document.createElement('tr');
    tr.setAttribute('data-hold-id', String(h.id));
    const statusTd = document.createElement('td');
    statusTd.append(badge(h.status, HOLD_STATUSES));
    const decision = document.createElement('td');
    if (h.status === 'held') {
      for (const [action, label] of [
        ['accept', 'Accept'],
        ['discard', 'Discard'],
      ] as const) {
        const b = el('button', label, action);
        b.type = 'button';
        b.addEventListener('click', () => void decideHold(String(h.id), action, b));
        decision.append(b);
      }
    } else {
      decision.textContent = `${h.status} ${when(h.decided_at)}${h.note ? `: ${h.note}` : ''}`;
    }
    tr.append(
      statusTd,
      cell(String(h.category)),
      cell(h.moderator_key_id ? String(h.moderator_key_id) : 'all moderators'),
      cell(isNum(h.labels) ? String(h.labels) : '—', 'num'),
      cell(when(h.created_at)),
      cell(String(h.reason), 'reason'),
      decision,
    );
    tbody.append(tr);
  }
}

async function decideHold(id: string, action: 'accept' | 'discard', button: HTMLButtonElement) {
  const verb = action === 'accept' ? 'Accept' : 'Discard';
  if (!window.confirm(`${verb} this batch of labels? ${action === 'accept' ? 'Its labels will train and evaluate again.' : 'Its labels will never train or evaluate.'} This cannot be undone.`)) return;
  button.disabled = true;
  try {
    await apiCall(state.key, 'POST', `/v1/label-holds/${encodeURIComponent(id)}/${action}`, {});
    status(`${verb}ed the held batch.`);
    await refresh();
  } catch (e) {
    button.disabled = false;
    if (!refused(e)) status(`Could not ${action} the held batch: ${failure(e).message}`, true);
  }
}

// ---------------------------------------------------------------- loading, signing in and out

/** A refused key (401) or one without the admin role (403) sends the admin back to the key form. */
function refused(e: unknown): boolean {
  const err = failure(e);
  if (err.status !== 401 && err.status !== 403) return false;
  signOut();
  status(`Key refused: ${err.message}`, true);
  return true;
}

async function refresh() {
  if (!state.key) return;
  const token = ++state.loading;
  status('Loading…');
  // Each section's answer is the API type its renderer takes (api-types.ts).
  const sections: [string, string, (body: never) => void][] = [
    ['training runs', '/v1/training/runs?limit=50', renderRuns],
    ['head versions', '/v1/models', renderHeads],
    ['review stats', '/v1/review/stats', renderReview],
    ['held labels', '/v1/label-holds', renderHolds],
    ['activation history', '/v1/models/activations?limit=50', renderActivations],
    ['thresholds', `/v1/thresholds${headQuery('?')}`, renderThresholds],
  ];
  const results = await Promise.allSettled(sections.map(([, path]) => api<never>(path)));
  if (token !== state.loading || !state.key) return;
  const denied = results.find((r): r is PromiseRejectedResult => r.status === 'rejected' && (failure(r.reason).status === 401 || failure(r.reason).status === 403));
  if (denied) {
    refused(denied.reason);
    return;
  }
  showDashboard();
  const errors: string[] = [];
  results.forEach((r, i) => {
    const [name, , render] = sections[i];
    if (r.status === 'rejected') errors.push(`${name}: ${failure(r.reason).message}`);
    else {
      try {
        render(r.value);
      } catch (e) {
        errors.push(`${name}: ${failure(e).message}`);
      }
    }
  });
  if (errors.length) status(`Could not load ${errors.join('; ')}`, true);
  else status(`Updated ${new Date().toLocaleTimeString()}.`);
}

function showDashboard() {
  show('login', false);
  show('dashboard', true);
  show('refresh', true);
  show('signout', true);
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = null;
  state.selectedId = null;
  state.loading++;
  state.detail++;
  show('dashboard', false);
  show('refresh', false);
  showSignIn();
  status('Signed out.');
}

function moveSelection(from: HTMLTableRowElement, delta: number) {
  const rows = [...$<HTMLTableElement>('runs-table').tBodies[0].rows];
  const next = rows[rows.indexOf(from) + delta];
  if (next) next.focus();
}

function onKey(e: KeyboardEvent) {
  const t = e.target;
  if (t instanceof HTMLInputElement || t instanceof HTMLTextAreaElement || t instanceof HTMLSelectElement) return;
  if (e.ctrlKey || e.metaKey || e.altKey || !state.key) return;
  const row = t instanceof HTMLTableRowElement && t.hasAttribute('data-run-id') ? t : null;
  if (row && (e.key === 'Enter' || e.key === ' ')) {
    void selectRun(row.getAttribute('data-run-id') ?? '');
  } else if (row && e.key === 'ArrowDown') {
    moveSelection(row, 1);
  } else if (row && e.key === 'ArrowUp') {
    moveSelection(row, -1);
  } else if (e.key === 'r' || e.key === 'R') {
    void refresh();
  } else {
    return;
  }
  e.preventDefault();
}

function start() {
  $('refresh').addEventListener('click', () => void refresh());
  $('signout').addEventListener('click', signOut);
  $('advise-form').addEventListener('submit', (e) => void adviseThreshold(e));
  reasonQuestion.wire();
  $('what-if').addEventListener('click', () => void whatIf());
  $('what-if-days').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') void whatIf();
  });
  $('what-if-days').addEventListener('input', () => {
    if ($('what-if-days').getAttribute('aria-invalid') === 'true') whatIfDays();
  });
  $('advisor-head-form').addEventListener('submit', (e) => e.preventDefault());
  $('advise-head').addEventListener('change', () => {
    const select = $<HTMLSelectElement>('advise-head');
    // The first option is the active head: choosing it asks for the default.
    state.adviceHead = select.selectedIndex > 0 ? select.value : null;
    void loadThresholds();
  });
  document.addEventListener('keydown', onKey);
  wireSignIn(state.key, (key) => {
    state.key = key;
    sessionStorage.setItem(KEY_STORAGE, key);
    void refresh();
  });
}

start();
