/**
 * Inter-rater agreement for binary labels. Pure functions, checked against hand-computed tables.
 *
 * Cohen's kappa: two raters, every unit rated by both. κ = (p_o − p_e) / (1 − p_e).
 * Krippendorff's alpha (nominal): any number of raters per unit, missing ratings allowed; units with
 * fewer than two ratings carry no information about agreement and are skipped. α = 1 − D_o / D_e.
 */

export interface KappaResult {
  kappa: number | null;
  observed: number;
  expected: number;
  n: number;
}

/** `pairs[i]` = [rater A's label, rater B's label] for unit i. null when undefined (n = 0 or p_e = 1). */
export function cohenKappa(pairs: [boolean, boolean][]): KappaResult {
  const n = pairs.length;
  if (n === 0) return { kappa: null, observed: 0, expected: 0, n };
  let agree = 0;
  let aYes = 0;
  let bYes = 0;
  for (const [a, b] of pairs) {
    if (a === b) agree++;
    if (a) aYes++;
    if (b) bYes++;
  }
  const po = agree / n;
  const pa = aYes / n;
  const pb = bYes / n;
  const pe = pa * pb + (1 - pa) * (1 - pb);
  // Both raters constant and identical: agreement is perfect but chance explains all of it.
  const kappa = pe === 1 ? null : (po - pe) / (1 - pe);
  return { kappa, observed: po, expected: pe, n };
}

export interface AlphaResult {
  alpha: number | null;
  /** Units with at least two ratings (the ones that count). */
  units: number;
  /** Pairable ratings (n.. in Krippendorff's notation). */
  ratings: number;
}

/** `units[i]` = the ratings unit i received (any number; units with < 2 are ignored). */
export function krippendorffAlpha(units: boolean[][]): AlphaResult {
  // Coincidence matrix for two values: o[c][k], built from each unit's ordered pairs of ratings.
  let o00 = 0;
  let o01 = 0;
  let o11 = 0;
  let counted = 0;
  for (const u of units) {
    const m = u.length;
    if (m < 2) continue;
    counted++;
    const yes = u.filter(Boolean).length;
    const no = m - yes;
    // Each ordered pair (i ≠ j) within the unit adds 1/(m − 1).
    o11 += (yes * (yes - 1)) / (m - 1);
    o00 += (no * (no - 1)) / (m - 1);
    o01 += (yes * no) / (m - 1);
  }
  const n0 = o00 + o01;
  const n1 = o11 + o01;
  const n = n0 + n1;
  if (counted === 0 || n <= 1) return { alpha: null, units: counted, ratings: n };
  // Nominal distance: disagreements are the off-diagonal cells (o01 counted once per direction).
  const observed = (2 * o01) / n;
  const expected = (2 * n0 * n1) / (n * (n - 1));
  const alpha = expected === 0 ? null : 1 - observed / expected;
  return { alpha, units: counted, ratings: n };
}

export function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}
