/**
 * `node --import tsx bench/summarize.ts [LABEL:]OUT...`: reads saved `npm run bench:loop` outputs (their RESULT
 * lines) and prints the tables docs/EXPERIMENTS.md quotes: per run, the loop against the supervised
 * reference after the last clean round (AUROC / AUPRC per category), whether round 1 was promoted and
 * how its candidate compared with the starter on held-out data; then the mean per dataset and settings,
 * with each group's change against the first settings given (the baseline) where they ran the same seeds.
 * Settings are the run's --set flags and model directory; `LABEL:OUT` names them instead.
 * Prints no text of any dataset, only numbers.
 */
import fs from 'node:fs/promises';

interface Rank {
  auroc: number | null;
  auprc: number | null;
}
interface Result {
  dataset: string;
  seed: number;
  set: string[];
  last_clean_round: string;
  categories: Record<string, { starter: Rank; loop: Rank; reference: Rank | null; round1_candidate: Rank | null }>;
  round1: { status: string } | null;
  runs: { round: string; status: string }[];
  seconds: number;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node --import tsx bench/summarize.ts OUT...   (saved outputs of npm run bench:loop)');
  process.exit(2);
}
const results: { file: string; r: Result; model: string; label?: string }[] = [];
for (const arg of files) {
  const at = arg.indexOf(':');
  const label = at > 0 ? arg.slice(0, at) : undefined;
  const file = at > 0 ? arg.slice(at + 1) : arg;
  const text = await fs.readFile(file, 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) {
    console.error(`${file}: no RESULT line (did the run finish?)`);
    process.exit(1);
  }
  const r = JSON.parse(line.slice('RESULT '.length)) as Result & { model?: string };
  results.push({ file, r, model: r.model ?? 'models/default', label });
}

const f = (x: number | null | undefined) => (typeof x === 'number' ? x.toFixed(3) : 'n/a');
const pair = (m: Rank | null | undefined) => `${f(m?.auroc)} / ${f(m?.auprc)}`;
const settings = (x: { r: Result; model: string; label?: string }) =>
  x.label ?? ([...x.r.set.map((s) => `--set ${s}`), ...(x.model !== 'models/default' ? [`MODEL_DIR=${x.model}`] : [])].join(' ') || 'defaults');
const ahead = (a: Rank, b: Rank | null) => (b && a.auroc !== null && b.auroc !== null && a.auprc !== null && b.auprc !== null ? (a.auroc >= b.auroc && a.auprc >= b.auprc ? 'yes' : 'no') : '—');

for (const dataset of [...new Set(results.map((x) => x.r.dataset))]) {
  const mine = results.filter((x) => x.r.dataset === dataset);
  const cats = Object.keys(mine[0].r.categories);
  console.log(`\n### ${dataset}\n`);
  const header = ['settings', 'seed', 'rounds (promoted)', ...cats.flatMap((c) => [`${c}: loop`, `${c}: reference`, `${c} loop ≥ ref (both)`]), 'round 1', 'round-1 candidate vs starter (held-out)', 's'];
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const x of mine) {
    const r = x.r;
    const promoted = r.runs.filter((run) => run.status === 'promoted').length;
    const first = cats.map((c) => `${c} ${pair(r.categories[c].starter)} → ${pair(r.categories[c].round1_candidate)}`).join('; ');
    console.log(
      `| ${settings(x)} | ${r.seed} | ${r.runs.length} (${promoted}) | ${cats.flatMap((c) => [pair(r.categories[c].loop), pair(r.categories[c].reference), ahead(r.categories[c].loop, r.categories[c].reference)]).join(' | ')} | ${r.round1?.status ?? '—'} | ${first} | ${r.seconds} |`,
    );
  }
  console.log('\nMean over seeds (AUROC / AUPRC after the last clean round):\n');
  const groups = new Map<string, typeof mine>();
  for (const x of mine) groups.set(settings(x), [...(groups.get(settings(x)) ?? []), x]);
  // The first settings given are the baseline: each other group's loop is also shown as its change
  // against it, where both ran the same seeds (the same held-out sets, rounds and moderator draws).
  const [base] = groups.keys();
  const mh = ['settings', 'seeds', ...cats.flatMap((c) => [`${c}: loop`, `${c}: reference`, `${c}: loop − ${base}`]), 'round 1 promoted'];
  console.log(`| ${mh.join(' | ')} |\n|${mh.map(() => '---').join('|')}|`);
  const meanOf = (xs: typeof mine, g: (x: Result) => number | null | undefined) => {
    const v = xs.map((x) => g(x.r)).filter((n): n is number => typeof n === 'number');
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const seedsOf = (xs: typeof mine) => xs.map((x) => x.r.seed).sort((a, b) => a - b).join(', ');
  const signed = (a: number | null, b: number | null) => (a === null || b === null ? 'n/a' : `${a - b >= 0 ? '+' : '−'}${Math.abs(a - b).toFixed(3)}`);
  const baseXs = groups.get(base)!;
  for (const [name, xs] of groups) {
    const same = seedsOf(xs) === seedsOf(baseXs);
    const cols = cats.flatMap((c) => {
      const roc = meanOf(xs, (r) => r.categories[c].loop.auroc);
      const prc = meanOf(xs, (r) => r.categories[c].loop.auprc);
      const delta =
        name === base ? '—' : same ? `${signed(roc, meanOf(baseXs, (r) => r.categories[c].loop.auroc))} / ${signed(prc, meanOf(baseXs, (r) => r.categories[c].loop.auprc))}` : 'n/a (other seeds)';
      return [`${f(roc)} / ${f(prc)}`, `${f(meanOf(xs, (r) => r.categories[c].reference?.auroc))} / ${f(meanOf(xs, (r) => r.categories[c].reference?.auprc))}`, delta];
    });
    console.log(`| ${name} | ${seedsOf(xs)} | ${cols.join(' | ')} | ${xs.filter((x) => x.r.round1?.status === 'promoted').length} of ${xs.length} |`);
  }
}
