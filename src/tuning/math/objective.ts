/**
 * One category's training objective, pure, written in DPO's reward space.
 *
 * A category's head row is its own problem. DPO's implicit reward of the head against the frozen
 * reference is u = β (z_θ − z_ref); for a linear head over fixed inputs it is itself linear:
 *
 *   u_i = b + w·f_i + v·x_i        (f_i: the item's backbone features, whitened by the caller;
 *                                    x_i: its n-gram features, sparse, see src/inference/ngrams.ts)
 *
 * and the head the reward defines is z_θ = z_ref + u/β. Every settled label is a preference pair
 * (chosen = the moderators' label, s_i = ±1; the margin h_i = s_i (z_θ − z_ref) = s_i u_i / β), and
 *
 *   J = Σ_i w_i [ ℓ(h_i) + α · (−log σ(s_i z_θ,i)) ] / Σ_i w_i  +  λ_d ‖w‖² + Σ_k λ_k v_k²
 *
 * with ℓ the DPO loss of the margin (sigmoid: −log σ(βh), the paper's; ipo, hinge, robust), α TRL's
 * rpo_alpha (the chosen label's NLL) and L2-SP: the penalty pulls the head toward the reference's
 * weights, which in reward space is toward zero. The bias is not penalised; λ_k is per n-gram weight.
 * At the start (u = 0, the head equals the reference) the sigmoid loss is ln 2 for every pair.
 *
 * Why reward space: for the sigmoid loss ℓ(h) = −log σ(s_i u_i) does not involve β at all, so one fit
 * serves every β (β only decides how much of the reference stays in z_θ = z_ref + u/β), and a penalty
 * grid means the same at every β (in θ it would have to scale with β²).
 *
 * How β and α share the gradient: ∂J/∂u_i = (w_i/W) · (s_i/β) · [ ℓ'(h_i) − α σ(−s_i z_θ,i) ]. For the
 * sigmoid loss the first part is −β σ(−s_i u_i), so the DPO term pushes each reward toward the label's
 * side and fades once it is confidently there, whatever the reference says; the NLL term fades once the
 * head itself (z_θ = z_ref + u/β) is confident, so it is the term that sees the reference's logit, as an
 * offset, and it weighs 1/β times more per unit of reward as β shrinks.
 */
import { nllGrad, nllLoss, pairLoss, pairLossGrad, type LossParams } from './dpo.js';

export interface CategoryProblem {
  /** Cells (items) of this category. */
  n: number;
  /** Dense features per item. */
  dim: number;
  /** Row-major [n × dim]. */
  dense: Float64Array;
  /** n-gram features with local column ids 0 … sparseSize−1 (CSR over the n items); null: none. */
  sparse: { offsets: Int32Array; index: Int32Array; value: Float32Array } | null;
  sparseSize: number;
  sign: Int8Array;
  weight: Float64Array;
  /** The reference head's logit per item (the NLL term's offset; 0 for a plain logistic regression). */
  zRef: Float64Array;
}

export interface CategoryObjective {
  /** β: the head is z_ref + u/β. */
  beta: number;
  /** The DPO loss of the margin; null: no DPO term (a plain logistic regression: the bench's supervised reference). */
  loss: LossParams | null;
  rpoAlpha: number;
  /** λ_d on the dense weights. */
  denseL2: number;
  /** λ_k per n-gram weight (length sparseSize), or null for none. */
  sparseL2: Float64Array | null;
}

/** Parameters are [b, w_0 … w_{dim−1}, v_0 … v_{sparseSize−1}]. */
export function parameterCount(p: Pick<CategoryProblem, 'dim' | 'sparseSize'>): number {
  return 1 + p.dim + p.sparseSize;
}

/** The reward u for every item under parameters `x`. */
export function rewards(p: CategoryProblem, x: Float64Array, out = new Float64Array(p.n)): Float64Array {
  const D = p.dim;
  const vo = 1 + D;
  const { dense } = p;
  const offsets = p.sparse?.offsets;
  const index = p.sparse?.index;
  const value = p.sparse?.value;
  for (let i = 0; i < p.n; i++) {
    let u = x[0];
    const fo = i * D;
    for (let j = 0; j < D; j++) u += x[1 + j] * dense[fo + j];
    if (offsets) for (let k = offsets[i]; k < offsets[i + 1]; k++) u += x[vo + index![k]] * value![k];
    out[i] = u;
  }
  return out;
}

/** One cell's loss and ∂loss/∂u. */
export function cellLoss(u: number, s: number, zRef: number, o: CategoryObjective): { loss: number; du: number; dpo: number; nll: number } {
  let dpo = 0;
  let du = 0;
  if (o.loss) {
    const h = (s * u) / o.beta;
    dpo = pairLoss(h, o.loss);
    du = (pairLossGrad(h, o.loss) * s) / o.beta;
  }
  let nll = 0;
  if (o.rpoAlpha > 0) {
    const z = zRef + u / o.beta;
    nll = nllLoss(s * z);
    du += (o.rpoAlpha * nllGrad(s * z) * s) / o.beta;
  }
  return { loss: dpo + o.rpoAlpha * nll, du, dpo, nll };
}

/**
 * J(x) over the items whose `include` flag is set (all when omitted), its gradient written into `g`.
 * The weighted mean keeps the start (x = 0) at ln 2 for the sigmoid loss (plus α times the
 * reference's NLL).
 */
export function objective(p: CategoryProblem, o: CategoryObjective, x: Float64Array, g: Float64Array, include?: Uint8Array): number {
  const D = p.dim;
  const vo = 1 + D;
  const { n, dense, sign, weight, zRef } = p;
  const offsets = p.sparse?.offsets;
  const index = p.sparse?.index;
  const value = p.sparse?.value;
  g.fill(0);
  let W = 0;
  for (let i = 0; i < n; i++) if (!include || include[i]) W += weight[i];
  if (W === 0) return penalty(o, x, g, D);
  let total = 0;
  let gb = 0;
  for (let i = 0; i < n; i++) {
    if (include && !include[i]) continue;
    let u = x[0];
    const fo = i * D;
    for (let j = 0; j < D; j++) u += x[1 + j] * dense[fo + j];
    const a = offsets ? offsets[i] : 0;
    const b = offsets ? offsets[i + 1] : 0;
    for (let k = a; k < b; k++) u += x[vo + index![k]] * value![k];
    const w = weight[i] / W;
    const c = cellLoss(u, sign[i], zRef[i], o);
    total += w * c.loss;
    const du = c.du * w;
    if (du === 0) continue;
    gb += du;
    for (let j = 0; j < D; j++) g[1 + j] += du * dense[fo + j];
    for (let k = a; k < b; k++) g[vo + index![k]] += du * value![k];
  }
  g[0] += gb;
  return total + penalty(o, x, g, D);
}

/** The L2-SP terms (toward zero in reward space), added into `g`; returns their value. */
export function penalty(o: CategoryObjective, x: Float64Array, g: Float64Array | null, D: number): number {
  let r = 0;
  if (o.denseL2 > 0) {
    for (let j = 1; j <= D; j++) {
      r += o.denseL2 * x[j] * x[j];
      if (g) g[j] += 2 * o.denseL2 * x[j];
    }
  }
  if (o.sparseL2) {
    const vo = 1 + D;
    for (let k = 0; k < o.sparseL2.length; k++) {
      r += o.sparseL2[k] * x[vo + k] * x[vo + k];
      if (g) g[vo + k] += 2 * o.sparseL2[k] * x[vo + k];
    }
  }
  return r;
}

/**
 * λ_k for each n-gram weight: λ · (1 + c / df_k), df_k the number of training items with the n-gram.
 * An n-gram seen in few items is held harder than a common one, so one text's odd word (a name, a typo)
 * cannot carry that text's label to every other text that shares it; a word seen in dozens of labelled
 * texts is held about as hard as any. c = 0 is plain L2.
 */
export function ngramPenalty(df: Int32Array, lambda: number, c: number): Float64Array {
  return Float64Array.from(df, (d) => lambda * (1 + c / Math.max(1, d)));
}
