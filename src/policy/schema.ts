/**
 * The policy file format (policies/*.yaml), validated strictly: an unknown key is an error, because a
 * typo in a moderation policy (`blok: 0.9`) must not silently fall back to a default.
 */
import { Cron } from 'croner';
import { z } from 'zod';

const probability = z.number().min(0).max(1);
const categoryName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9/_-]{0,63}$/, 'category names are lowercase letters, digits, "/", "_" and "-"');

const categorySchema = z
  .strictObject({
    flag: probability,
    /** null: never block automatically on this category. */
    block: probability.nullable().default(null),
    /** Overrides review.uncertainty_margin for this category. */
    uncertainty_margin: z.number().min(0).max(0.5).optional(),
    /** Distressing to look at: the review page blurs a text the model flagged for it until the moderator reveals it. */
    graphic: z.boolean().default(false),
  })
  .refine((c) => c.block === null || c.block >= c.flag, {
    message: 'block threshold must be at least the flag threshold',
    path: ['block'],
  });

const reviewSchema = z.strictObject({
  /** A score within this distance of a category's flag threshold is "uncertain" and goes to review. */
  uncertainty_margin: z.number().min(0).max(0.5).default(0.1),
  /** Fraction of all decisions sampled for review regardless of score: keeps the eval set unbiased. */
  audit_rate: probability.default(0.01),
  /** Fraction of block decisions sampled for a moderator's confirmation. */
  confirm_block_rate: probability.default(0),
  /**
   * Open a task for every decision the policy flagged (action "review"). Turn off for a policy whose
   * "review" action the platform handles in its own tooling.
   */
  queue_flagged: z.boolean().default(true),
  reviews_per_task: z.number().int().min(1).max(10).default(1),
  audit_reviews_per_task: z.number().int().min(1).max(10).default(2),
  lease_seconds: z.number().int().min(10).max(86_400).default(600),
  /**
   * Which tasks hide the model's decision (labels, scores, action) until the verdict: `audit` (the random
   * sample the gate and the guard lean on), `all`, or `none`. Appeals start from the previous verdict.
   */
  blind: z.enum(['audit', 'all', 'none']).default('audit'),
  /**
   * An even split between a task's reviewers on a category: `escalate` asks one more moderator (the
   * label is settled when the tie is broken, or flagged at 10 reviewers), `flag` settles it as flagged,
   * `drop` leaves the category without a label. (The older `conflict_resolution: majority | drop_ties`
   * is read as `flag` / `drop`.)
   */
  ties: z.enum(['escalate', 'flag', 'drop']).default('escalate'),
  /** Fraction of reviewed items held out for the accuracy gate, by split group (src/review/split.ts: author, thread or normalised text, with a deployment's salt). */
  eval_fraction: z.number().gt(0).lt(1).default(0.2),
});

/**
 * A five-field cron expression (minute hour day-of-month month day-of-week). croner also reads six fields,
 * seconds first, so `0 3 * * * *` would run every hour at minute 3: refused, with what it would have meant.
 */
const cronExpression = z
  .string()
  .refine((expr) => expr.trim().split(/\s+/).length !== 6, {
    message:
      'six fields: this reads seconds first ("0 3 * * * *" would run every hour at minute 3); write the five fields minute hour day-of-month month day-of-week, e.g. "0 3 * * *" for 03:00 every day',
  })
  .refine(
    (expr) => {
      if (expr.trim().split(/\s+/).length === 6) return true; // said above
      try {
        new Cron(expr, { paused: true });
        return expr.trim().split(/\s+/).length === 5 || expr.trim().startsWith('@');
      } catch {
        return false;
      }
    },
    { message: 'not a valid cron expression (five fields: minute hour day-of-month month day-of-week, e.g. "0 3 * * *")' },
  );

/** A hyperparameter the run may search: one value, or a non-empty list of values (kept as a list). */
function searched(value: z.ZodNumber) {
  return z.union([value, z.array(value).min(1).max(10)]).transform((v) => (Array.isArray(v) ? v : [v]));
}

/** Settings earlier versions had, and what replaced them: named in the error instead of "unrecognized key". */
export const REMOVED_KEYS: Record<'training' | 'gate', Record<string, string>> = {
  training: {
    anchor_weight:
      'anchor_weight was removed: runs train on every settled label (agreements too) and pull the weights toward the reference head (l2); delete the key',
    weight_decay: 'weight_decay was removed: l2 pulls the weights toward the reference head rather than toward zero; delete the key (or set l2)',
    learning_rate:
      'learning_rate was removed: each category is now solved to its optimum (L-BFGS on the whole objective), so there is no step size to choose; delete the key',
    epochs: 'epochs was removed: each category is now solved to its optimum (L-BFGS), not trained for a number of passes; delete the key',
    patience: 'patience was removed: there is no early stopping; regularisation is chosen by k-fold cross-validation (folds, l2); delete the key',
    batch_size: 'batch_size was removed: the solver uses every cell at each step; delete the key',
    validation_fraction: 'validation_fraction was removed: settings are chosen by k-fold cross-validation on the train cells (folds); delete the key',
    lexical_l2:
      'lexical_l2 was removed: the lexical part is now hashed n-grams, regularised with the rest of the head (l2) and harder for rare n-grams (ngrams.rare_penalty); delete the key',
  },
  gate: {
    min_eval_items:
      'min_eval_items was removed: the gate decides on the evidence instead of a fixed number of items (a candidate promotes once its interval on items rules out a drop of more than max_auprc_drop); delete the key',
    min_improvement:
      'min_improvement was removed: the gate compares AUPRC on items (max_auprc_drop) and accuracy at the thresholds (max_accuracy_drop) with intervals; delete the key',
  },
};

/** Removed keys present in a policy section (or hyperparameter overrides), with their messages. */
export function removedKeyProblems(section: unknown, which: 'training' | 'gate' = 'training'): { keys: string[]; problems: string[] } {
  if (typeof section !== 'object' || section === null || Array.isArray(section)) return { keys: [], problems: [] };
  const known = REMOVED_KEYS[which];
  const keys = Object.keys(section).filter((k) => Object.hasOwn(known, k));
  return { keys, problems: keys.map((k) => known[k]) };
}

const ngramLengths = z
  .tuple([z.number().int().min(1).max(8), z.number().int().min(1).max(8)])
  .refine(([a, b]) => a <= b, { message: 'the shortest n-gram length must not exceed the longest' });

/** The lexical part: hashed n-grams of the text (src/inference/ngrams.ts), stored in each head it trains. */
const ngramsSchema = z.strictObject({
  /** Hash buckets: a power of two. More buckets, fewer n-grams sharing a weight, larger heads. */
  buckets: z
    .number()
    .int()
    .min(1 << 10)
    .max(1 << 24)
    .refine((b) => (b & (b - 1)) === 0, { message: 'must be a power of two (e.g. 262144 = 2^18)' })
    .default(1 << 18),
  /** Word n-gram lengths [shortest, longest]; null: no word n-grams. */
  word: ngramLengths.nullable().default([1, 2]),
  /** Character n-gram lengths within each whitespace-separated chunk; null: none. */
  char: ngramLengths.nullable().default([2, 5]),
  /** An n-gram trains a weight only when at least this many labelled items of the category have it. */
  min_df: z.number().int().min(1).max(1000).default(2),
  /** λ_k = λ (1 + rare_penalty / df_k): an n-gram few items have is held harder. 0: plain L2. */
  rare_penalty: z.number().min(0).max(1000).default(0),
});

const trainingObject = z.strictObject({
  enabled: z.boolean().default(true),
  schedule: cronExpression.default('0 3 * * *'),
  timezone: z
    .string()
    .refine(
      (tz) => {
        try {
          new Intl.DateTimeFormat('en', { timeZone: tz });
          return true;
        } catch {
          return false;
        }
      },
      { message: 'not a known IANA time zone (e.g. UTC, Europe/Berlin)' },
    )
    .default('UTC'),
  loss: z.enum(['sigmoid', 'ipo', 'hinge', 'robust']).default('sigmoid'),
  label_smoothing: z.number().min(0).lt(0.5).default(0),
  /**
   * DPO's β. `auto`: chosen per category together with the calibration, by likelihood on out-of-fold
   * predictions (needs rpo_alpha 0). A number, or a list searched by cross-validation.
   */
  beta: z.union([z.literal('auto'), searched(z.number().gt(0).max(100))]).default('auto'),
  /** Weight of the chosen label's NLL next to the DPO loss (TRL's rpo_alpha); 0 is plain DPO. */
  rpo_alpha: z.number().min(0).max(100).default(0),
  /** L2-SP strengths, in labelled items (λ = l2 / n), searched by cross-validation. */
  l2: searched(z.number().gt(0).max(1000)).default([3, 1, 0.3, 0.1, 0.03, 0.01]),
  /** Train the lexical part: per-category weights over hashed n-grams of the text. */
  lexical: z.boolean().default(true),
  ngrams: ngramsSchema.default(ngramsSchema.parse({})),
  /** Folds of the cross-validation that chooses l2 (and β) per category. */
  folds: z.number().int().min(2).max(20).default(5),
  /**
   * `separate`: two DPO rewards per category, one on the backbone's features and one on the n-grams, each
   * with its own L2, weighed by the calibration; `joint`: one reward over both inputs, one L2 (for comparison).
   */
  experts: z.enum(['separate', 'joint']).default('separate'),
  /**
   * How the backbone's features are transformed for training, folded back into the head (serving is
   * unchanged): `whiten` (decorrelated, unit variance), `scale` (each feature z-scored) or `none`. `true`
   * and `false` (earlier policies) read as `whiten` and `none`.
   */
  standardize: z
    .union([z.boolean(), z.enum(['whiten', 'scale', 'none'])])
    .transform((v): 'whiten' | 'scale' | 'none' => (v === true ? 'whiten' : v === false ? 'none' : v))
    .default('whiten'),
  /** `platt`: each category's scores are calibrated on out-of-fold predictions, so thresholds mean what they say. */
  calibration: z.enum(['platt', 'none']).default('platt'),
  /** `balanced`: each category's positives and negatives weigh the same in total; `none`: every cell weighs 1. */
  class_weights: z.enum(['none', 'balanced']).default('none'),
  /** `all`: every settled label is a pair; `disagreements`: only where moderators overruled the model (for comparison). */
  pairs: z.enum(['all', 'disagreements']).default('all'),
  /** false: no cross-validation; the strongest l2 (and the first β), calibrated on the train cells themselves (for comparison). */
  select: z.boolean().default(true),
  min_pairs: z.number().int().min(1).default(50),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(42),
  /** Score the newest candidate head alongside the active one on live traffic. */
  shadow: z.boolean().default(false),
});

/** Combinations the trainer cannot run, named (also checked on a run's settings with its overrides). */
export function trainingProblems(t: { beta: number[] | 'auto'; rpo_alpha: number; calibration: 'platt' | 'none' }): string[] {
  const out: string[] = [];
  if (t.beta === 'auto' && t.rpo_alpha > 0) out.push('beta auto needs rpo_alpha 0 (with the NLL term the reward depends on β): give beta a number or a list');
  if (t.beta === 'auto' && t.calibration === 'none') out.push('beta auto is chosen together with the calibration: with calibration none give beta a number or a list');
  if (t.rpo_alpha > 0 && Array.isArray(t.beta) && t.beta.length > 1) out.push('with rpo_alpha above 0 the reward depends on β: give beta one value, not a list');
  return out;
}

export const trainingSchema = trainingObject.superRefine((t, ctx) => {
  for (const message of trainingProblems(t)) ctx.addIssue({ code: 'custom', path: ['beta'], message });
});

const gateSchema = z.strictObject({
  /**
   * The evidence rule: the candidate promotes only when the interval (at `confidence`, on items) for
   * its change in AUPRC rules out a drop of more than this. A clearly better head promotes on a few dozen
   * items; one whose interval is too wide to tell waits for more reviews.
   */
  max_auprc_drop: z.number().min(0).max(1).default(0.02),
  /** Accuracy at the thresholds (calibrated): fails only when confidently down by more than this. */
  max_accuracy_drop: z.number().min(0).max(1).default(0.01),
  /** A category enters the AUPRC with at least this many positive eval items (and one negative). */
  min_auprc_positives: z.number().int().min(1).default(5),
  /** Bootstrap resamples of the eval items behind the intervals. */
  resamples: z.number().int().min(100).max(100_000).default(2000),
  /**
   * Pool the eval split with the train items new to the active head (labelled after its training data;
   * the candidate scored out-of-fold): both heads' scores there are out of sample, so they are evidence
   * too. false: the eval split alone.
   */
  new_train_evidence: z.boolean().default(true),
  max_recall_drop: probability.default(0.05),
  /**
   * A category's recall is checked only with at least this many positive eval cells. At 20 one item moves
   * a recall by 5 points, the default max_recall_drop: below that a single item could decide the check.
   */
  min_positives: z.number().int().min(1).default(20),
  /** The trusted eval set (blind audits, two concurring or one trusted reviewer) is checked from this many cells. */
  min_trusted_cells: z.number().int().min(1).default(30),
  /** When set, McNemar's exact test on paired outcomes must reach this p-value, in the candidate's favour. */
  max_p_value: z.number().gt(0).max(1).nullable().default(null),
  /** Coverage of every interval the gate reads (two-sided). */
  confidence: z.number().min(0.5).lt(1).default(0.95),
});

/** The label-drift check before training (see src/tuning/math/drift.ts). */
const driftSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** A batch's agreement rate (with the active head, or with other reviewers) may move this much from its history. */
  max_change: z.number().gt(0).max(1).default(0.2),
  /** ...and is held only when the change is this significant (a run makes many such tests). */
  max_p_value: z.number().gt(0).max(1).default(0.001),
  /** Fewer verdicts than this on either side: no finding. */
  min_labels: z.number().int().min(1).default(30),
  /** An author's or a word's ranking row (the AUC of the head's scores, flagged against cleared) from this many scored verdicts on each side, 5 flagged and 5 cleared among them. */
  min_ranked: z.number().int().min(10).default(20),
  /** How many of the most recent verdicts before the batch form its history. */
  history: z.number().int().min(1).default(20_000),
  /** Slices tested beside each moderator and the category: each author, each word, with min_labels verdicts in the batch (min_ranked for the ranking row). */
  slices: z.strictObject({ authors: z.boolean().default(true), terms: z.boolean().default(true) }).default({ authors: true, terms: true }),
  /** The cumulative check: the last this-many runs' batches together against the history before them (0: off)... */
  cumulative_runs: z.number().int().min(0).default(5),
  /** ...may drop in agreement by this much. */
  cumulative_max_change: z.number().gt(0).max(1).default(0.05),
});

const guardSchema = z.strictObject({
  enabled: z.boolean().default(false),
  window_verdicts: z.number().int().min(10).default(200),
  max_agreement_drop: probability.default(0.05),
});

const retentionSchema = z.strictObject({
  /** Purge raw text (keeping labels, features and pairs) this many days after it arrived; null keeps it. */
  text_days: z.number().int().min(1).nullable().default(null),
});

export const policyFileSchema = z
  .strictObject({
    description: z.string().optional(),
    categories: z.record(categoryName, categorySchema).refine((c) => Object.keys(c).length > 0, {
      message: 'a policy needs at least one category',
    }),
    /**
     * Model label → policy categories. A label named like a category maps to it by default; null
     * ignores a label on purpose (e.g. a single-label model's "neutral").
     */
    labels: z.record(z.string().min(1), z.union([categoryName, z.array(categoryName).min(1), z.null()])).default({}),
    review: reviewSchema.default(reviewSchema.parse({})),
    training: trainingSchema.default(trainingSchema.parse({})),
    gate: gateSchema.default(gateSchema.parse({})),
    drift: driftSchema.default(driftSchema.parse({})),
    guard: guardSchema.default(guardSchema.parse({})),
    retention: retentionSchema.default(retentionSchema.parse({})),
  });

export type PolicyFile = z.infer<typeof policyFileSchema>;

/**
 * Label targets must be categories of the same policy. Checked on the raw document, apart from the
 * schema, so that it is reported together with schema problems rather than only after they are fixed.
 */
export function labelTargetProblems(raw: unknown): { path: string; message: string }[] {
  const doc = raw as { categories?: unknown; labels?: unknown } | null;
  if (!doc || typeof doc.categories !== 'object' || doc.categories === null) return [];
  if (typeof doc.labels !== 'object' || doc.labels === null) return [];
  const cats = new Set(Object.keys(doc.categories));
  const out: { path: string; message: string }[] = [];
  for (const [label, target] of Object.entries(doc.labels)) {
    const targets = typeof target === 'string' ? [target] : Array.isArray(target) ? target : [];
    for (const c of targets) {
      if (typeof c === 'string' && !cats.has(c)) {
        out.push({ path: `labels.${label}`, message: `maps to category '${c}', which this policy does not define` });
      }
    }
  }
  return out;
}

/** What a single training run may override (POST /v1/training/runs, npm run train). */
export const hyperparameterOverrides = trainingObject
  .pick({
    loss: true,
    beta: true,
    label_smoothing: true,
    rpo_alpha: true,
    l2: true,
    lexical: true,
    ngrams: true,
    folds: true,
    experts: true,
    standardize: true,
    calibration: true,
    class_weights: true,
    pairs: true,
    select: true,
    min_pairs: true,
    seed: true,
  })
  .partial();
