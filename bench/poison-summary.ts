/**
 * `node --import tsx bench/poison-summary.ts OUT...`: reads saved `npm run bench:loop -- --poison KIND`
 * outputs (and clean ones) and prints the tables docs/EXPERIMENTS.md ("Poisoning") quotes: per dataset and
 * attack, how the attack rounds' runs ended (held, naming the slice; rejected; promoted) and the held-out
 * ranking of the attacked category before the attack and after it; how the clean rounds' runs ended
 * (promoted, held) and how many named a slice near a drift hold (not held: a lead with no attack behind
 * it); then every run. Prints no text of any dataset, only numbers and slice kinds.
 */
import fs from 'node:fs/promises';

interface Poisoned {
  round: string;
  kind: string;
  changed: number;
  status: string;
  holds: string[];
  reasons: string;
}
interface Result {
  dataset: string;
  seed: number;
  runs: { round: string; status: string }[];
  clean: { runs: number; promoted: number; held: number };
  poison: { kind: string; target: string; rounds: Poisoned[]; promoted: number } | null;
  duplicates: { share: number; reposts_checked: number; groups: number } | null;
}
interface Run {
  file: string;
  r: Result;
  /** Held-out AUROC / AUPRC of the attacked category per round, from the run's results table. */
  heldout: Map<string, [number, number]>;
  /** The gate-reasons cell per round, from the same table (a run names the slices nearest a drift hold there). */
  reasons: Map<string, string>;
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node --import tsx bench/poison-summary.ts OUT...   (saved outputs of npm run bench:loop)');
  process.exit(2);
}
const runs: Run[] = [];
for (const file of files) {
  const text = await fs.readFile(file, 'utf8');
  const lines = text.split('\n');
  const line = lines.find((l) => l.startsWith('RESULT '));
  if (!line) {
    console.error(`${file}: no RESULT line (did the run finish?)`);
    process.exit(1);
  }
  const r = JSON.parse(line.slice('RESULT '.length)) as Result;
  // The results table: | round | items | ... | run | evidence | reasons | held-out <first category> AUROC / AUPRC | ...
  const heldout = new Map<string, [number, number]>();
  const reasons = new Map<string, string>();
  const start = lines.findIndex((l) => l.startsWith('| round | items |'));
  for (const l of lines.slice(start + 2)) {
    if (!l.startsWith('| ')) break;
    const cols = l.split(' | ').map((c) => c.replace(/^\| /, '').trim());
    const m = /^([\d.]+) \/ ([\d.]+)$/.exec(cols[7]);
    if (m) heldout.set(cols[0], [Number(m[1]), Number(m[2])]);
    reasons.set(cols[0], cols[6]);
  }
  runs.push({ file, r, heldout, reasons });
}

/** What a held run named: the slice kinds and regions of its findings, and the moderators held. */
function slices(p: Poisoned): string {
  const kinds = new Set<string>();
  const reasons = p.reasons.slice(p.reasons.indexOf('): ') + 3);
  for (const piece of reasons.split(/; | \| /)) {
    const who = /^moderator /.test(piece) ? 'moderator' : /with the word/.test(piece) ? 'word' : /on author /.test(piece) ? 'author' : /^all moderators/.test(piece) ? 'category' : null;
    const flags = / flagged \S+ on \d+ of \d+ items/.test(piece) ? ', flags vs expected' : / flags rank against the serving head's scores/.test(piece) ? ', flags ranked against scores' : '';
    if (!who) continue;
    const region = piece.includes('the serving head flagged') ? ', flagged items' : piece.includes('the serving head did not flag') ? ', cleared items' : '';
    kinds.add(`${who}${region}${flags}${piece.includes('over the last') ? ', cumulative' : piece.includes("cumulative check's threshold") ? ', batch at the cumulative threshold' : ''}`);
  }
  const back = /head v(\d+) \(/.exec(p.reasons);
  return [...kinds].join('; ') + (back ? `; rolled back to v${back[1]}` : '');
}

/** What bench:loop writes in a run's reasons where the drift check named slices near a hold. */
const NEAR = /nearest a hold, not held/;
const f3 = (x: number | null) => (x === null ? 'n/a' : x.toFixed(3));
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

for (const dataset of [...new Set(runs.map((x) => x.r.dataset))]) {
  const mine = runs.filter((x) => x.r.dataset === dataset);
  console.log(`\n### ${dataset}\n`);
  const header = [
    'attack',
    'seeds',
    'attack runs',
    'promoted',
    'held',
    'rejected',
    'held-out AUROC / AUPRC of the attacked category: before → after (mean)',
    'clean runs: promoted / held',
    'clean runs naming a slice near a hold',
  ];
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  const kinds = [...new Set(mine.map((x) => x.r.poison?.kind ?? (x.r.duplicates ? 'none (20% reposts)' : 'none')))];
  for (const kind of kinds) {
    const xs = mine.filter((x) => (x.r.poison?.kind ?? (x.r.duplicates ? 'none (20% reposts)' : 'none')) === kind);
    const rounds = xs.flatMap((x) => x.r.poison?.rounds ?? []);
    const count = (s: string) => rounds.filter((p) => p.status === s).length;
    const before: [number, number][] = [];
    const after: [number, number][] = [];
    for (const x of xs) {
      const clean = x.r.runs.filter((run) => !run.round.includes('(')).at(-1)?.round;
      const last = x.r.runs.at(-1)?.round;
      if (clean && x.heldout.has(clean)) before.push(x.heldout.get(clean)!);
      if (last && x.heldout.has(last)) after.push(x.heldout.get(last)!);
    }
    const pair = (ps: [number, number][]) => `${f3(mean(ps.map((p) => p[0])))} / ${f3(mean(ps.map((p) => p[1])))}`;
    const cleanRuns = xs.reduce((a, x) => a + x.r.clean.runs, 0);
    // Clean rounds are the rounds without a "(…)" in their label, as above; a run names its near slices in its gate reasons.
    const leads = xs.reduce((a, x) => a + x.r.runs.filter((run) => !run.round.includes('(') && NEAR.test(x.reasons.get(run.round) ?? '')).length, 0);
    console.log(
      `| ${kind} | ${xs.map((x) => x.r.seed).sort((a, b) => a - b).join(', ')} | ${rounds.length} | ${count('promoted')} | ${count('held')} | ${count('rejected')} | ` +
        `${rounds.length ? `${pair(before)} → ${pair(after)}` : pair(after)} | ${xs.reduce((a, x) => a + x.r.clean.promoted, 0)} of ${cleanRuns} / ${xs.reduce((a, x) => a + x.r.clean.held, 0)} of ${cleanRuns} | ${leads} of ${cleanRuns} |`,
    );
  }
  console.log('\nEvery attack run (the attack rounds in order; held: what the hold named):\n');
  console.log('| attack | seed | clean rounds (promoted) | attack rounds | target labels changed |\n|---|---|---|---|---|');
  for (const x of mine.filter((y) => y.r.poison)) {
    const p = x.r.poison!;
    const rounds = p.rounds
      .map((q) =>
        q.status === 'held' ? `held (${slices(q)})` : q.status === 'rejected' ? `rejected (${q.reasons})` : NEAR.test(q.reasons) ? `${q.status} (${q.reasons.replace(/^—; /, '')})` : q.status,
      )
      .join(' → ');
    console.log(`| ${p.kind} | ${x.r.seed} | ${x.r.clean.runs} (${x.r.clean.promoted}) | ${rounds} | ${p.rounds.map((q) => q.changed).join(', ')} |`);
  }
  const dups = mine.filter((x) => x.r.duplicates);
  if (dups.length) {
    console.log('\nReposts (every repost on its original’s side of the split, asserted by the bench):\n');
    for (const x of dups) console.log(`- seed ${x.r.seed}: ${x.r.duplicates!.reposts_checked} reposts checked in ${x.r.duplicates!.groups} text groups, none on the other side`);
  }
}
