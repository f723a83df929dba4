/**
 * The API's answers as the pages receive them: the server's own types with dates as the strings JSON
 * makes of them. The pages import these (type-only, erased from their bundles), so a changed field
 * name fails `npm run typecheck` instead of a page, silently.
 */
import type { Role } from '../db/schema/api-keys.js';
import type { TaskView, VerdictOutcome } from '../review/review.service.js';

export type Json<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Json<U>[]
    : T extends readonly (infer U)[]
      ? readonly Json<U>[]
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

export type TaskJson = Json<TaskView>;
export type VerdictJson = Json<VerdictOutcome>;
export interface MeJson {
  key_id: string;
  name: string;
  role: Role;
}
export type MyStatsJson = Json<Awaited<ReturnType<import('../review/review.service.js').ReviewService['myStats']>>>;

type RegistryService = import('../admin/registry.service.js').RegistryService;
type TrainingService = import('../tuning/training.service.js').TrainingService;
type HoldService = import('../tuning/holds.service.js').HoldService;
type ReviewService = import('../review/review.service.js').ReviewService;
type Row<F extends (...a: never[]) => unknown> = Awaited<ReturnType<F>> extends (infer U)[] ? U : never;

/** GET /v1/training/runs: `data` rows, and the schedule. */
export interface RunListJson {
  data: Json<Row<TrainingService['listRuns']>>[];
  scheduler?: { enabled: boolean; next_run: string | null };
}
/** GET /v1/training/runs/:id. */
export type RunJson = Json<Awaited<ReturnType<TrainingService['getRun']>>>;
/** GET /v1/models. */
export interface HeadListJson {
  data: Json<Row<RegistryService['list']>>[];
}
/** GET /v1/models/activations. */
export interface ActivationListJson {
  data: Json<Row<RegistryService['activations']>>[];
}
/** GET /v1/label-holds. */
export interface HoldListJson {
  data: Json<Row<HoldService['listHolds']>>[];
}
/** GET /v1/review/stats. */
export type ReviewStatsJson = Json<Awaited<ReturnType<ReviewService['stats']>>>;
/** What POST /v1/models/:id/activate and /v1/models/rollback answer. */
export interface ActivationResultJson {
  active_head_id: string;
  /** null when no head was active before (the first activation). */
  previous_head_id: string | null;
}
