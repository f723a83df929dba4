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
  /** Fraction of reviewed items held out (by a hash of the item id) for the accuracy gate. */
  eval_fraction: z.number().gt(0).lt(1).default(0.2),
});

const cronExpression = z.string().refine(
  (expr) => {
    try {
      new Cron(expr, { paused: true });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'not a valid cron expression' },
);

/** A hyperparameter the run may search: one value, or a non-empty list of values (kept as a list). */
function searched(value: z.ZodNumber) {
  return z.union([value, z.array(value).min(1).max(10)]).transform((v) => (Array.isArray(v) ? v : [v]));
}

/** Settings earlier versions had, and what replaced them: named in the error instead of "unrecognized key". */
export const REMOVED_TRAINING_KEYS: Record<string, string> = {
  anchor_weight:
    'anchor_weight was removed: runs now train on every settled label (agreements too) and pull the weights toward the reference head (l2, lexical_l2); delete the key',
  weight_decay: 'weight_decay was removed: l2 now pulls the weights toward the reference head rather than toward zero; delete the key (or set l2)',
};

/** Removed keys present in a training section (or hyperparameter overrides), with their messages. */
export function removedKeyProblems(training: unknown): { keys: string[]; problems: string[] } {
  if (typeof training !== 'object' || training === null || Array.isArray(training)) return { keys: [], problems: [] };
  const keys = Object.keys(training).filter((k) => Object.hasOwn(REMOVED_TRAINING_KEYS, k));
  return { keys, problems: keys.map((k) => REMOVED_TRAINING_KEYS[k]) };
}

export const trainingSchema = z.strictObject({
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
  /** DPO's β. A number, or a list the run chooses from on its validation split (so are the others marked "searched"). */
  beta: searched(z.number().gt(0).max(100)).default([0.1, 1]),
  label_smoothing: z.number().min(0).lt(0.5).default(0),
  /** Weight of the chosen label's NLL next to the DPO loss (TRL's rpo_alpha); 0 is plain DPO. Searched. */
  rpo_alpha: searched(z.number().min(0).max(100)).default([1]),
  /** L2-SP: λ‖W − W_ref‖², pulling the linear weights toward the reference head's, not toward zero. Searched. */
  l2: searched(z.number().min(0).max(100)).default([1e-6]),
  /** Train a lexical part: per-label weights over the backbone's token ids (the mean over a text's tokens). */
  lexical: z.boolean().default(true),
  /** L2-SP on the lexical weights. Searched. */
  lexical_l2: searched(z.number().min(0).max(100)).default([1e-6, 1e-5, 1e-4, 1e-3]),
  /** How far one step may move a logit. Searched. */
  learning_rate: searched(z.number().gt(0).max(10)).default([0.2]),
  /** `balanced`: each category's positives and negatives weigh the same in total; `none`: every cell weighs 1. */
  class_weights: z.enum(['none', 'balanced']).default('none'),
  /** `all`: every settled label is a pair; `disagreements`: only where moderators overruled the model (for comparison). */
  pairs: z.enum(['all', 'disagreements']).default('all'),
  /** The most epochs a configuration trains; early stopping on the validation split usually ends it sooner. */
  epochs: z.number().int().min(1).max(1000).default(60),
  /** Epochs without a better validation score before a configuration stops. */
  patience: z.number().int().min(1).max(1000).default(5),
  batch_size: z.number().int().min(1).max(1 << 20).default(64),
  /**
   * Choose hyperparameters and epochs on a validation split of the train items. false: train the first
   * value of each list for `epochs` epochs on all of them (for comparison).
   */
  select: z.boolean().default(true),
  /** Share of train items held out to choose hyperparameters and epochs (never the gate's eval split). */
  validation_fraction: z.number().gt(0).lt(1).default(0.2),
  min_pairs: z.number().int().min(1).default(50),
  seed: z.number().int().min(0).max(2 ** 31 - 1).default(42),
  /** Score the newest candidate head alongside the active one on live traffic. */
  shadow: z.boolean().default(false),
});

const gateSchema = z.strictObject({
  min_improvement: z.number().min(-1).max(1).default(0),
  max_recall_drop: probability.default(0.05),
  /**
   * A category's recall is checked only with at least this many positive eval cells. At 20 one item moves
   * a recall by 5 points, the default max_recall_drop: below that a single item could decide the check.
   */
  min_positives: z.number().int().min(1).default(20),
  /** The trusted eval set (blind audits, two concurring or one trusted reviewer) is checked from this many cells. */
  min_trusted_cells: z.number().int().min(1).default(30),
  min_eval_items: z.number().int().min(1).default(100),
  /** When set, McNemar's exact test on paired outcomes must reach this p-value, in the candidate's favour. */
  max_p_value: z.number().gt(0).max(1).nullable().default(null),
  /**
   * Coverage of the intervals behind the accuracy and recall checks: a check fails only when the
   * candidate is worse beyond what this much confidence allows for noise.
   */
  confidence: z.number().min(0.5).lt(1).default(0.95),
});

/** The label-drift check before training (see src/tuning/drift.ts). */
const driftSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** A batch's agreement rate (with the active head, or with other reviewers) may move this much from its history. */
  max_change: z.number().gt(0).max(1).default(0.2),
  /** ...and is held only when the change is this significant (a run makes many such tests). */
  max_p_value: z.number().gt(0).max(1).default(0.001),
  /** Fewer verdicts than this on either side: no finding. */
  min_labels: z.number().int().min(1).default(30),
  /** How many of the most recent verdicts before the batch form its history. */
  history: z.number().int().min(1).default(20_000),
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
export const hyperparameterOverrides = trainingSchema
  .pick({
    loss: true,
    beta: true,
    label_smoothing: true,
    rpo_alpha: true,
    l2: true,
    lexical: true,
    lexical_l2: true,
    learning_rate: true,
    class_weights: true,
    pairs: true,
    epochs: true,
    patience: true,
    batch_size: true,
    select: true,
    validation_fraction: true,
    min_pairs: true,
    seed: true,
  })
  .partial();
