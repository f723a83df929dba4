/**
 * What every stage of a training run reads: the database, the log, where promotions are announced, how
 * features are recomputed, the clock; and the types the stages pass along. The stages (setting.ts →
 * snapshot.ts (inputs.ts, drift-check.ts) → fit.ts → record.ts, in that order in pipeline.ts) are
 * functions of this context and of what the stage before them produced.
 */
import type { Clock } from '../../clock.js';
import type { Database } from '../../db/connect.js';
import type { EventBus } from '../../events.js';
import type { TokenRows } from '../../inference/head.js';
import type { Logger } from '../../logger.js';
import type * as heads from '../../models/head.repository.js';
import type { LabelMapping } from '../../policy/label-mapping.js';
import type { Policy } from '../../policy/policy.js';
import type { hyperparameterOverrides } from '../../policy/schema.js';
import type { TrainingBinding } from '../math/dataset.js';
import type { FitStep } from '../math/fit.js';
import type { z } from 'zod';

/** What a run was asked to train with: the policy's training settings, with a request's overrides. */
export type Hyperparameters = Required<z.infer<typeof hyperparameterOverrides>>;

export type RunOutcome = 'promoted' | 'rejected' | 'failed' | 'skipped' | 'superseded' | 'held';

/** Features and token ids of texts on a backbone (the serving runtime, or one the CLI starts). */
export type Embedder = (
  backboneId: string,
  inputs: { text: string; context: string | null }[],
) => Promise<{ features: Float32Array; dim: number; tokens: TokenRows }>;

export interface RunContext {
  database: Database;
  log: Logger;
  /** Needed only when reviewed items were scored by another backbone, or lack token ids. */
  embed?: Embedder;
  /** Where `head.promoted` and `head.candidate` are published after a run commits its head. */
  events?: EventBus;
  clock: Clock;
}

/** A line of a run's progress (logged, and passed to whoever watches the run). */
export type Say = (phase: string, message: string, step?: FitStep) => void;

/** The run ends `skipped` with this reason (nothing to train on, or nothing new). */
export class SkipRun extends Error {}
/** The drift check held a batch of labels: the run ends `held` with this reason. */
export class HeldRun extends Error {}

/** What a run trains: the active head's backbone, its base head (the DPO reference), the policy's binding. */
export interface RunSetting {
  policy: Policy;
  active: heads.HeadRow;
  backbone: heads.BackboneRow;
  reference: heads.HeadRow;
  mapping: LabelMapping;
  binding: TrainingBinding;
}
