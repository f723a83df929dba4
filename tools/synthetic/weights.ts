/**
 * Seeded random weights for synthetic models: reproducible across runs and machines (no Math.random), and
 * drawn like BERT's initialisation, N(0, σ) (σ = 0.02 in BERT).
 */
import { mulberry32 } from '../../src/random.js';

/** Derives an independent stream per tensor, so adding a tensor does not shift every later one. */
export function streamSeed(seed: number, name: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  }
  return h;
}

/** Box–Muller normals, two per pair of uniforms. */
export function normalArray(size: number, std: number, rng: () => number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i += 2) {
    const u = 1 - rng(); // (0, 1]: log(0) never happens
    const v = rng();
    const r = std * Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < size) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

export class WeightSource {
  /** `namespace` (the architecture) keeps two families with the same parameter names from sharing weights. */
  constructor(
    private readonly seed: number,
    private readonly std: number,
    private readonly namespace = '',
  ) {}

  normal(name: string, size: number, std = this.std): Float32Array {
    return normalArray(size, std, mulberry32(streamSeed(this.seed, `${this.namespace}:${name}`)));
  }

  /** An embedding table whose padding row is zero, as nn.Embedding(padding_idx=…) initialises it. */
  embedding(name: string, rows: number, dim: number, paddingRow?: number): Float32Array {
    const table = this.normal(name, rows * dim);
    if (paddingRow !== undefined) table.fill(0, paddingRow * dim, (paddingRow + 1) * dim);
    return table;
  }
}
