/**
 * Layout and batch calibration. Layout: with the default (no INFERENCE_WORKERS or ORT_THREADS set), a few
 * ways to split the cores between ONNX sessions (1 session × all cores, 2 × half, 4 × a quarter) are each
 * measured at their calibrated batch, and the fewest sessions near enough the fastest are kept (chooseLayout):
 * every session holds its own copy of the weights (onnxruntime-node cannot share them), so a session that
 * buys a few percent of throughput is not worth its memory (docs/PERFORMANCE.md, "Memory").
 *
 * Batch calibration: at model load, measure what one text costs at a few batch sizes on this host
 * (every worker busy at once, as under load) and keep the smallest size that is as cheap per text as the
 * best. On a CPU that is a small batch (MiniLM-L6 on 2 cores: 8; larger batches cost more per text); on a
 * GPU per-text cost keeps falling up to large batches, so the same rule picks those by itself.
 */
import type { TextInput } from './protocol.js';

export interface CalibrationPoint {
  size: number;
  /** Wall time per text with every worker running batches of this size. */
  msPerText: number;
}

export interface Calibration {
  size: number;
  points: CalibrationPoint[];
  ms: number;
}

/**
 * The smallest size whose per-text cost is within `tolerance` of the cheapest: a smaller batch fills
 * sooner and finishes sooner, so it is preferred when it costs (nearly) the same. On a CPU the curve is
 * flat past its knee (MiniLM-L6, 2 cores: batches of 8, 16 and 32 within 8 % of each other) and a
 * shared host's noise is a few percent, so 10 %: with 5 % the service chose 16 or 32 on some starts,
 * doubling batch times for no throughput.
 */
export function chooseBatchSize(points: CalibrationPoint[], tolerance = 0.1): number {
  if (points.length === 0) throw new Error('no calibration points');
  const best = Math.min(...points.map((p) => p.msPerText));
  return [...points].sort((a, b) => a.size - b.size).find((p) => p.msPerText <= best * (1 + tolerance))!.size;
}

/** Sizes tried: powers of two up to `maxBatch`, and `maxBatch` itself. */
export function candidateSizes(maxBatch: number): number[] {
  const sizes: number[] = [];
  for (let s = 1; s < maxBatch; s *= 2) sizes.push(s);
  sizes.push(maxBatch);
  return sizes;
}

/** A sentence of tweet length (about 30 tokens with the usual tokenizers), so padding is not measured. */
const SAMPLE =
  'honestly the people in this thread keep saying the same thing over and over, and nobody has read the article they are all arguing about';

export interface CalibrateOptions {
  maxBatch: number;
  workers: number;
  /** Runs one batch of texts (tokenized and scored in a worker). */
  run: (inputs: TextInput[]) => Promise<unknown>;
  /** Least time measured per size (after one warm-up round; default 50 ms), and at least `minRounds` rounds (3). */
  minMsPerSize?: number;
  minRounds?: number;
  /** Stop trying larger sizes once one costs this much more per text than the best so far. */
  stopAbove?: number;
  tolerance?: number;
  now?: () => number;
}

export async function calibrate(o: CalibrateOptions): Promise<Calibration> {
  const now = o.now ?? (() => performance.now());
  const started = now();
  const measure = async (size: number): Promise<number> => {
    const inputs = Array.from({ length: size }, () => ({ text: SAMPLE }));
    const round = () => Promise.all(Array.from({ length: o.workers }, () => o.run(inputs)));
    await round(); // warm-up: the first run at a new shape allocates
    let rounds = 0;
    const t0 = now();
    while (rounds < (o.minRounds ?? 3) || now() - t0 < (o.minMsPerSize ?? 50)) {
      await round();
      rounds++;
    }
    return (now() - t0) / (rounds * o.workers * size);
  };
  const points: CalibrationPoint[] = [];
  for (const size of candidateSizes(o.maxBatch)) {
    const msPerText = await measure(size);
    points.push({ size, msPerText });
    const best = Math.min(...points.map((p) => p.msPerText));
    if (msPerText > best * (o.stopAbove ?? 1.15)) break;
  }
  // A second pass over the same sizes, keeping each size's cheaper figure: a burst of other work on a
  // shared host (start-up, a neighbour) inflates one measurement, rarely both.
  for (const p of points) p.msPerText = Math.min(p.msPerText, await measure(p.size));
  return { size: chooseBatchSize(points, o.tolerance), points, ms: now() - started };
}

/** A way to run inference: this many sessions (worker threads), each with this many intra-op threads. */
export interface Layout {
  workers: number;
  threads: number;
}

export interface LayoutPoint extends Layout {
  /** The calibrated batch size for this layout, and its wall time per text with every session busy. */
  size: number;
  msPerText: number;
}

/**
 * The layouts worth measuring on `cores` cores: 1, 2 and 4 sessions (at most one per core), the cores
 * split evenly between them.
 */
export function candidateLayouts(cores: number): Layout[] {
  const out: Layout[] = [];
  for (const workers of [1, 2, 4]) if (workers <= Math.max(1, cores)) out.push({ workers, threads: Math.max(1, Math.floor(cores / workers)) });
  return out;
}

/**
 * The fewest sessions whose cost per text is within `tolerance` (15 %) or `floorMs` (0.1 ms) of the cheapest
 * layout's, whichever allows more. A session costs a copy of the weights; what it buys must be worth that:
 * more than the few percent a shared host's measurements move by (MiniLM-L6 on 2 cores: two sessions 3–6 %
 * faster than one with two threads, measured again and again), and more than a tenth of a millisecond per
 * text, a tenth of what the request path around inference costs (docs/PERFORMANCE.md): the starter's
 * embedding bag costs 0.02–0.03 ms per text either way.
 */
export function chooseLayout(points: LayoutPoint[], tolerance = 0.15, floorMs = 0.1): LayoutPoint {
  if (points.length === 0) throw new Error('no layout points');
  const best = Math.min(...points.map((p) => p.msPerText));
  const allowed = Math.max(best * (1 + tolerance), best + floorMs);
  return [...points].sort((a, b) => a.workers - b.workers).find((p) => p.msPerText <= allowed)!;
}
