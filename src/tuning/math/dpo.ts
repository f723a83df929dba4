/**
 * Direct Preference Optimization on a linear classification head (Rafailov et al. 2023), pure code.
 *
 * Per label the head defines a Bernoulli policy π(flag | x) = σ(z), z = W_c·f + b_c. A preference pair
 * says the moderators' label y_w beats the model's y_l = ¬y_w on item x for label c. With s = +1 when
 * y_w = flag and −1 otherwise, log π(y_w|x) − log π(y_l|x) = s·z, so the DPO log-ratio margin against the
 * frozen reference head is
 *
 *   h = s · (z_θ(x) − z_ref(x)),
 *
 * and the losses are functions of h:
 *   sigmoid  L = −log σ(βh)                                   (the paper's DPO)
 *   ipo      L = (h − 1/(2β))²                                (Azar et al. 2023)
 *   hinge    L = max(0, 1 − βh)                               (SLiC-style)
 *   robust   L = [−(1−ε) log σ(βh) + ε log σ(−βh)] / (1 − 2ε)  (Chowdhury et al. 2024, as in TRL)
 *
 * One log σ of one margin per pair; not two separate cross-entropy terms (that is not DPO).
 */

export type LossType = 'sigmoid' | 'ipo' | 'hinge' | 'robust';

export interface LossParams {
  type: LossType;
  beta: number;
  /** ε for `robust`, in [0, 0.5). */
  labelSmoothing: number;
}

/** log σ(x) without overflow. */
export function logSigmoid(x: number): number {
  return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Loss of one pair as a function of its margin h. */
export function pairLoss(h: number, p: LossParams): number {
  const bh = p.beta * h;
  switch (p.type) {
    case 'sigmoid':
      return -logSigmoid(bh);
    case 'ipo': {
      const d = h - 1 / (2 * p.beta);
      return d * d;
    }
    case 'hinge':
      return Math.max(0, 1 - bh);
    case 'robust': {
      const e = p.labelSmoothing;
      return (-(1 - e) * logSigmoid(bh) + e * logSigmoid(-bh)) / (1 - 2 * e);
    }
  }
}

/** dL/dh for one pair. */
export function pairLossGrad(h: number, p: LossParams): number {
  const b = p.beta;
  const bh = b * h;
  switch (p.type) {
    case 'sigmoid':
      return -b * sigmoid(-bh);
    case 'ipo':
      return 2 * (h - 1 / (2 * b));
    case 'hinge':
      // Subgradient 0 at the kink.
      return 1 - bh > 0 ? -b : 0;
    case 'robust': {
      const e = p.labelSmoothing;
      return (-(1 - e) * b * sigmoid(-bh) - e * b * sigmoid(bh)) / (1 - 2 * e);
    }
  }
}

/**
 * TRL's logged rewards for one pair: β times the log-probability ratios against the reference for the
 * chosen and the rejected label. margin = chosen − rejected = βh.
 */
export function pairRewards(z: number, zRef: number, s: number, beta: number): { chosen: number; rejected: number } {
  return {
    chosen: beta * (logSigmoid(s * z) - logSigmoid(s * zRef)),
    rejected: beta * (logSigmoid(-s * z) - logSigmoid(-s * zRef)),
  };
}

/**
 * The chosen label's negative log-likelihood, −log π_θ(y_w|x) = −log σ(x) with x = s·z (TRL's
 * `rpo_alpha` term): it keeps the head's probabilities meaning "moderators would flag this" while DPO
 * moves the log-ratio margins.
 */
export function nllLoss(x: number): number {
  return -logSigmoid(x);
}

/** d nll / dx. */
export function nllGrad(x: number): number {
  return -sigmoid(-x);
}
