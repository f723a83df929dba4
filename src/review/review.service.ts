/**
 * The moderator review queue: leasing tasks, verdicts, the labels and preference pairs they produce,
 * appeals, agreement statistics and the pair export.
 */
import { randomBytes } from 'node:crypto';
import { epochMs, systemClock, type Clock } from '../clock.js';
import { v7 as uuidv7 } from 'uuid';
import { recordAudit, recordAudits } from '../audit/audit.repository.js';
import type { Principal } from '../auth/auth.service.js';
import type { DB } from '../db/database.js';
import { REVIEW_REASONS, type ReviewReason, type Split } from '../db/schema/review.js';
import { badRequest, conflict, notFound } from '../errors.js';
import type { Policy } from '../policy/policy.js';
import type { PolicyRegistry } from '../policy/registry.js';
import { cohenKappa, krippendorffAlpha, median } from './agreement.js';
import { findStored, store, type IdempotencyRef } from '../idempotency/idempotency.js';
import { disagreements, hasTie, resolveLabels } from './labels.js';

/** The most reviewers a task can ask for (the schema's limit on required_reviews). */
const MAX_REVIEWS = 10;
import * as repo from './review.repository.js';
import * as settledStore from './settled-labels.repository.js';
import { PRIORITY } from './routing.js';
import { EventBus } from '../events.js';

export { REVIEW_REASONS };

type TaskRow = Awaited<ReturnType<typeof repo.taskDetails>>[number];

export interface TaskView {
  id: string;
  reason: ReviewReason;
  priority: number;
  status: string;
  item: {
    id: string;
    external_id: string | null;
    author_id: string | null;
    thread_id: string | null;
    text: string | null;
    context: string | null;
    text_purged: boolean;
  };
  /**
   * Why the task is in the queue, in words, and (unless blind) the categories whose scores put it there,
   * with the thresholds they were near or over.
   */
  why: { summary: string; categories: { category: string; score: number; threshold: number; kind: 'flag' | 'block' }[] };
  /**
   * The model flagged a category the policy marks `graphic`: the page blurs the text until the moderator
   * reveals it. (Blind tasks too: a moderator's well-being comes before hiding that one bit of the model's
   * view; the category is not named there.)
   */
  graphic: boolean;
  /**
   * The same author's or thread's earlier items, newest first, with the moderators' settled verdict (and,
   * unless the task is blind, the model's action).
   */
  history: {
    item_id: string;
    external_id: string | null;
    relation: 'author' | 'thread' | 'author and thread';
    text: string | null;
    created_at: Date;
    action: string | null;
    verdict: string[] | null;
    /** The model or the moderators flagged a category the policy marks `graphic`: blurred until revealed. */
    graphic: boolean;
  }[];
  /**
   * Not on a blind task: the words that pushed the serving head toward flagging the categories it flagged
   * or the task is queued for (their exact share of its n-gram part; src/moderation/explain.ts), for the
   * page to mark.
   * Null on a blind task, or when the head has no n-gram part.
   */
  highlight: { word: string; contribution: number; categories: string[] }[] | null;
  /** Sent up to a senior moderator: by whom, when and why; null otherwise. */
  escalation: { by: string | null; at: Date; comment: string | null } | null;
  /** Moderators' comments on this item, its author or its thread, newest first. */
  comments: { id: string; about: 'this item' | 'author' | 'thread'; moderator: string; text: string; created_at: Date }[];
  decision: {
    id: string;
    /** null on a blind task: the model's decision is not shown before the verdict. */
    action: string | null;
    flagged: boolean | null;
    categories: Record<string, boolean> | null;
    category_scores: Record<string, number> | null;
    head_id: string;
    created_at: Date;
  };
  /** The model's decision is hidden from this task's reviewers (the policy's `review.blind`). */
  blind: boolean;
  /**
   * Where a verdict starts, per category: the model's labels, or all unticked on a blind task, or (an
   * appeal) the previous verdict, so an appeal is judged against what the moderators decided.
   */
  start: Record<string, boolean>;
  policy: { name: string; version: string; categories: string[] };
  appeal_reason: string | null;
  /** Appeals only: the verdicts on this decision's earlier tasks, oldest first (empty otherwise). */
  earlier_reviews: { task_id: string; reason: ReviewReason; categories: Record<string, boolean>; notes: string | null; created_at: Date }[];
  reviews: { required: number; done: number };
  lease: { moderator_key_id: string | null; leased_at: Date | null; expires_at: Date | null };
  created_at: Date;
  completed_at: Date | null;
}

type EarlierRow = Awaited<ReturnType<typeof repo.earlierReviews>>[number];
type SubjectRow = repo.SubjectRow;
type CommentRow = repo.CommentRow;

/** Escalated tasks come before everything but appeals (100). */
const ESCALATED_PRIORITY = 90;

/** How many of the subject's earlier items a task shows. */
const HISTORY_ITEMS = 20;

/** Whether a task of this reason hides the model's decision under `blind`. */
export function isBlind(reason: ReviewReason, blind: 'audit' | 'all' | 'none'): boolean {
  return blind === 'all' || (blind === 'audit' && reason === 'audit');
}

/** Why a task is in the queue: the routing reason in words, and the categories that caused it. */
export function whyQueued(t: Pick<TaskRow, 'reason' | 'category_scores' | 'model_categories' | 'appeal_reason' | 'task_categories'>, policy: Policy | null, blind: boolean): TaskView['why'] {
  if (t.reason === 'audit') return { summary: 'a random sample of all decisions (audit): it measures how well the model does, so judge it on its own', categories: [] };
  if (t.reason === 'appeal') return { summary: `appealed by the platform${t.appeal_reason ? `: "${t.appeal_reason}"` : ''}`, categories: [] };
  if (blind || !policy) return { summary: t.reason === 'uncertain' ? 'the model was unsure' : t.reason === 'confirm' ? 'a sample of blocks, to confirm' : 'the policy flagged it', categories: [] };
  const out: TaskView['why']['categories'] = [];
  for (const c of t.task_categories) {
    const rule = policy.rules[c];
    const score = t.category_scores[c];
    if (!rule || score === undefined) continue;
    if (t.reason === 'uncertain' && Math.abs(score - rule.flag) <= rule.uncertaintyMargin) out.push({ category: c, score, threshold: rule.flag, kind: 'flag' });
    if (t.reason === 'flagged' && score >= rule.flag) out.push({ category: c, score, threshold: rule.flag, kind: 'flag' });
    if (t.reason === 'confirm' && rule.block !== null && score >= rule.block) out.push({ category: c, score, threshold: rule.block, kind: 'block' });
  }
  const list = out
    .map((x) => `${x.category} ${x.score.toFixed(2)} (${x.kind} at ${x.threshold}${t.reason === 'uncertain' ? ` ± ${policy.rules[x.category].uncertaintyMargin}` : ''})`)
    .join(', ');
  const summary =
    t.reason === 'uncertain'
      ? `the model was unsure, near a flag threshold: ${list || 'a score'}`
      : t.reason === 'confirm'
        ? `a sample of blocks, to confirm: ${list || 'a block'}`
        : `the policy flagged it for a human: ${list || 'a category'}`;
  return { summary, categories: out };
}

/** Words to mark on a task's text, by the serving head (wired in context.ts: it needs the head store). */
export type Highlighter = (t: { headId: string; policyName: string; text: string; categories: string[] }) => Promise<TaskView['highlight']>;

const isGraphic = (policy: Policy | null, cats: Iterable<string>) => policy !== null && [...cats].some((c) => policy.rules[c]?.graphic === true);

function view(
  t: TaskRow,
  earlier: EarlierRow[],
  blindSetting: 'audit' | 'all' | 'none',
  policy: Policy | null,
  history: SubjectRow[],
  comments: CommentRow[],
  highlight: TaskView['highlight'] = null,
): TaskView {
  const blind = isBlind(t.reason, blindSetting);
  const previous =
    t.reason === 'appeal' ? earlier.filter((r) => r.decision_id === t.decision_id && r.task_id !== t.id).at(-1)?.labels : undefined;
  const start = Object.fromEntries(
    t.task_categories.map((c) => [c, previous ? previous[c] === true : blind ? false : t.model_categories[c] === true]),
  );
  return {
    id: t.id,
    reason: t.reason,
    priority: t.priority,
    status: t.status,
    item: {
      id: t.item_id,
      external_id: t.external_id,
      author_id: t.author_id,
      thread_id: t.thread_id,
      text: t.text,
      context: t.context,
      text_purged: t.text_purged_at !== null,
    },
    why: whyQueued(t, policy, blind),
    graphic: isGraphic(policy, t.task_categories.filter((c) => t.model_categories[c] === true)),
    history: history.map((h) => ({
      item_id: h.item_id,
      external_id: h.external_id,
      relation:
        t.author_id && h.author_id === t.author_id && t.thread_id && h.thread_id === t.thread_id
          ? 'author and thread'
          : t.author_id && h.author_id === t.author_id
            ? 'author'
            : 'thread',
      text: h.text,
      created_at: h.created_at,
      // A blind task shows no model output, not even on the subject's other items.
      action: blind ? null : h.action,
      verdict: h.verdict,
      // Blurred on a blind task too (a moderator's well-being first), without naming the category.
      graphic: isGraphic(policy, [...Object.entries(h.model_categories ?? {}).filter(([, v]) => v).map(([c]) => c), ...(h.verdict ?? [])]),
    })),
    highlight: blind ? null : highlight,
    decision: {
      id: t.decision_id,
      action: blind ? null : t.action,
      flagged: blind ? null : t.flagged,
      categories: blind ? null : t.model_categories,
      category_scores: blind ? null : t.category_scores,
      head_id: t.head_id,
      created_at: t.decided_at,
    },
    blind,
    start,
    policy: { name: t.policy_name, version: t.policy_version, categories: t.task_categories },
    appeal_reason: t.appeal_reason,
    earlier_reviews:
      t.reason === 'appeal'
        ? earlier
            .filter((r) => r.decision_id === t.decision_id && r.task_id !== t.id)
            .map((r) => ({ task_id: r.task_id, reason: r.reason, categories: r.labels, notes: r.notes, created_at: r.created_at }))
        : [],
    reviews: { required: t.required_reviews, done: t.reviews_done },
    lease: { moderator_key_id: t.leased_to, leased_at: t.leased_at, expires_at: t.lease_expires_at },
    created_at: t.created_at,
    completed_at: t.completed_at,
    escalation: t.escalated_at ? { by: t.escalated_by_name, at: t.escalated_at, comment: t.escalation_comment } : null,
    comments: comments.map((c) => ({
      id: c.id,
      about: c.item_id === t.item_id ? 'this item' : t.author_id && c.author_id === t.author_id ? 'author' : 'thread',
      moderator: c.moderator,
      text: c.text,
      created_at: c.created_at,
    })),
  };
}

/**
 * A preference pair as the export returns it: one per settled label (chosen = the moderators' label,
 * rejected = its negation), agreements with the model and disagreements alike.
 */
export interface PairRow {
  id: number;
  item_id: string;
  decision_id: string;
  task_id: string;
  category: string;
  chosen: boolean;
  rejected: boolean;
  /** What the model had decided; `agrees` says whether the moderators confirmed it. */
  model_label: boolean;
  agrees: boolean;
  split: Split;
  reason: ReviewReason;
  reviewers: string[];
  votes_yes: number;
  votes_total: number;
  backbone_id: string;
  head_id: string;
  created_at: Date;
  external_id: string | null;
  text?: string | null;
  context?: string | null;
}

export interface VerdictOutcome {
  review_id: string;
  task_status: 'open' | 'done';
  labels?: { category: string; label: boolean | null; model_label: boolean; conflict: boolean }[];
  /** Training pairs the completed task settled: one per category with a label. */
  preference_pairs: number;
  /** Of those, the categories where the moderators overruled the model. */
  disagreements: number;
  /** The reviewers split evenly on a category: the task waits for one more moderator (`ties: escalate`). */
  escalated?: boolean;
  split?: Split;
}

export class ReviewService {
  private salt: Promise<string> | null = null;

  constructor(
    private readonly db: DB,
    private readonly policies: PolicyRegistry,
    /** Publishes `review.task_completed` (the promotion guard watches live agreement). */
    private readonly events: EventBus = new EventBus(),
    /** The split's salt (SPLIT_SALT); by default the deployment's own, made on first use. */
    private readonly splitSaltSetting: string | null = null,
    /** Words to mark on a task's text (none without it). */
    private readonly highlighter: Highlighter | null = null,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The salt the train/eval split hashes with (see split.ts). */
  splitSalt(): Promise<string> {
    this.salt ??= this.splitSaltSetting !== null ? Promise.resolve(this.splitSaltSetting) : repo.splitSalt(this.db, () => randomBytes(32).toString('hex'));
    const pending = this.salt;
    // A failed read (the database was away) is tried again next time.
    pending.catch(() => {
      if (this.salt === pending) this.salt = null;
    });
    return pending;
  }

  async claim(p: Principal, opts: { reasons?: ReviewReason[]; limit: number }, requestId: string): Promise<TaskView[]> {
    const ids = await this.db.transaction().execute(async (trx) => {
      const held = await repo.heldTaskIds(trx, p.keyId, opts.limit, opts.reasons);
      const senior = await repo.isSenior(trx, p.keyId);
      const fresh = held.length < opts.limit ? await repo.leaseTasks(trx, p.keyId, opts.limit - held.length, opts.reasons, senior) : [];
      await recordAudits(trx, fresh.map((id) => ({ actor: p.name, actorKeyId: p.keyId, action: 'review.claimed', subjectType: 'review_task', subjectId: id, requestId })));
      return [...held, ...fresh];
    });
    return this.views(await repo.taskDetails(this.db, ids));
  }

  async getTask(id: string): Promise<TaskView> {
    const [t] = await repo.taskDetails(this.db, [id]);
    if (!t) throw notFound('review task', id);
    return (await this.views([t]))[0];
  }

  private async views(tasks: TaskRow[]): Promise<TaskView[]> {
    const appealed = tasks.filter((t) => t.reason === 'appeal').map((t) => t.decision_id);
    const earlier = await repo.earlierReviews(this.db, appealed);
    const histories = await Promise.all(
      tasks.map((t) => repo.subjectHistory(this.db, { itemId: t.item_id, authorId: t.author_id, threadId: t.thread_id, before: t.item_created_at }, HISTORY_ITEMS)),
    );
    const comments = await repo.subjectComments(this.db, tasks.map((t) => ({ itemId: t.item_id, authorId: t.author_id, threadId: t.thread_id })), HISTORY_ITEMS);
    const highlights = await Promise.all(
      tasks.map(async (t) => {
        const blind = isBlind(t.reason, this.policies.settingsFor(t.policy_name).review.blind);
        const policy = this.policies.find(t.policy_name);
        if (blind || !this.highlighter || !t.text || !policy) return null;
        // The categories the model flagged, and those the task is queued for (near a threshold).
        const cats = [...t.task_categories.filter((c) => t.model_categories[c] === true), ...whyQueued(t, policy, false).categories.map((c) => c.category)];
        return cats.length ? this.highlighter({ headId: t.head_id, policyName: t.policy_name, text: t.text, categories: [...new Set(cats)] }).catch(() => null) : null;
      }),
    );
    return tasks.map((t, i) =>
      view(t, earlier, this.policies.settingsFor(t.policy_name).review.blind, this.policies.find(t.policy_name), histories[i], comments[i], highlights[i]),
    );
  }

  async verdict(
    p: Principal,
    taskId: string,
    input: { categories: Record<string, unknown>; notes?: string | null },
    requestId: string,
    idempotency?: IdempotencyRef,
  ): Promise<VerdictOutcome & { replayed?: boolean }> {
    // Read (or make) the salt before the transaction: a salt made inside one that rolls back must not be remembered.
    const salt = await this.splitSalt();
    const out = await this.db.transaction().execute(async (trx): Promise<VerdictOutcome & { replayed?: boolean }> => {
      const task = await repo.lockTask(trx, taskId);
      if (!task) throw notFound('review task', taskId);
      // Checked under the task's row lock: a retry racing its original sees the original's answer.
      if (idempotency) {
        const stored = await findStored(trx, idempotency);
        if (stored) return { ...(stored.body as VerdictOutcome), replayed: true };
      }
      if (task.status !== 'open') throw conflict('task_closed', `review task ${taskId} is ${task.status}; it takes no more verdicts`);
      if (task.leased_to !== p.keyId) {
        throw conflict(
          'not_leaseholder',
          task.leased_to
            ? `review task ${taskId} is leased to another moderator`
            : `you do not hold a lease on review task ${taskId}; claim it first`,
        );
      }
      const labels = checkLabels(task.categories, input.categories);
      const reviewId = uuidv7();
      const settings = this.policies.settingsFor(task.policy_name);
      await repo.insertReview(trx, {
        id: reviewId,
        taskId,
        itemId: task.item_id,
        decisionId: task.decision_id,
        moderator: p.keyId,
        labels,
        notes: input.notes ?? null,
        handlingMs: task.leased_at ? Math.max(0, epochMs(this.clock) - task.leased_at.getTime()) : null,
        blind: isBlind(task.reason, settings.review.blind),
        requiredBefore: task.required_reviews,
      });
      const done = task.reviews_done + 1;
      const outcome: VerdictOutcome = { review_id: reviewId, task_status: 'open', preference_pairs: 0, disagreements: 0 };
      let conflictSeen = false;
      let requiredReviews = task.required_reviews;
      const verdicts = done >= task.required_reviews ? await repo.taskVerdicts(trx, taskId) : [];
      // An even split under `ties: escalate` asks one more moderator before anything is settled.
      if (done >= task.required_reviews && settings.review.ties === 'escalate' && hasTie(task.categories, verdicts) && done < MAX_REVIEWS) {
        requiredReviews = done + 1;
        outcome.escalated = true;
      } else if (done >= task.required_reviews) {
        const modelCategories = await repo.decisionCategories(trx, task.decision_id);
        const split = await repo.ensureSplit(trx, task.item_id, salt, settings.review.eval_fraction);
        // A tie left at MAX_REVIEWS (or under `flag`) is flagged; under `drop` it gets no label.
        const resolved = resolveLabels(task.categories, verdicts, modelCategories, settings.review.ties === 'drop' ? 'drop' : 'flag');
        await settledStore.insertLabels(trx, { taskId, itemId: task.item_id, decisionId: task.decision_id, split }, resolved);
        conflictSeen = resolved.some((l) => l.conflict);
        Object.assign(outcome, {
          task_status: 'done',
          split,
          preference_pairs: resolved.filter((l) => l.label !== null).length,
          disagreements: disagreements(resolved).length,
          labels: resolved.map((l) => ({ category: l.category, label: l.label, model_label: l.modelLabel, conflict: l.conflict })),
        });
      }
      await repo.recordVerdictOnTask(trx, taskId, {
        reviewsDone: done,
        requiredReviews,
        done: outcome.task_status === 'done' ? { conflict: conflictSeen } : null,
      });
      await recordAudit(trx, {
        actor: p.name,
        actorKeyId: p.keyId,
        action: 'review.verdict',
        subjectType: 'review_task',
        subjectId: taskId,
        requestId,
        details: { review_id: reviewId, labels, task_status: outcome.task_status, preference_pairs: outcome.preference_pairs, disagreements: outcome.disagreements, conflict: conflictSeen },
      });
      if (idempotency) await store(trx, idempotency, { statusCode: 200, body: outcome });
      if (outcome.escalated) {
        await recordAudit(trx, {
          actor: 'system',
          action: 'review.escalated',
          subjectType: 'review_task',
          subjectId: taskId,
          requestId,
          details: { reviews: done, required_reviews: requiredReviews },
        });
      }
      if (conflictSeen) {
        await recordAudit(trx, {
          actor: 'system',
          action: 'review.conflict',
          subjectType: 'review_task',
          subjectId: taskId,
          requestId,
          details: { categories: outcome.labels!.filter((l) => l.conflict).map((l) => l.category) },
        });
      }
      return outcome;
    });
    if (out.task_status === 'done' && !out.replayed) void this.events.emit('review.task_completed', { taskId });
    return out;
  }

  /**
   * Sends a task the moderator holds up to a senior moderator (an admin, or a moderator an admin trusts)
   * with why: it leaves the ordinary queue, comes first for seniors, and the lease is given up. Audited.
   */
  async escalate(p: Principal, taskId: string, comment: string, requestId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const task = await repo.lockTask(trx, taskId);
      if (!task) throw notFound('review task', taskId);
      if (task.status !== 'open') throw conflict('task_closed', `review task ${taskId} is ${task.status}`);
      if (task.leased_to !== p.keyId) throw conflict('not_leaseholder', `you do not hold a lease on review task ${taskId}; claim it first`);
      await repo.escalateTask(trx, taskId, { by: p.keyId, comment, priority: ESCALATED_PRIORITY });
      await recordAudit(trx, { actor: p.name, actorKeyId: p.keyId, action: 'review.escalated_to_senior', subjectType: 'review_task', subjectId: taskId, requestId, details: { comment } });
    });
  }

  /** A comment on the task's subject (the item, and through it its author and thread): other tasks on them show it. */
  async comment(p: Principal, taskId: string, text: string, requestId: string): Promise<TaskView['comments'][number]> {
    const [t] = await repo.taskDetails(this.db, [taskId]);
    if (!t) throw notFound('review task', taskId);
    const id = uuidv7();
    await this.db.transaction().execute(async (trx) => {
      await repo.insertComment(trx, { id, itemId: t.item_id, authorId: t.author_id, threadId: t.thread_id, moderator: p.keyId, text });
      await recordAudit(trx, { actor: p.name, actorKeyId: p.keyId, action: 'review.commented', subjectType: 'content_item', subjectId: t.item_id, requestId, details: { comment_id: id } });
    });
    return { id, about: 'this item', moderator: p.name, text, created_at: this.clock.date() };
  }

  /**
   * A moderator's own numbers: verdicts in the last day and week, median handling time, and how often
   * their verdicts matched the settled label on tasks that others reviewed too (agreement with peers).
   */
  async myStats(p: Principal) {
    const now = epochMs(this.clock);
    const { rows, settled } = await repo.moderatorVerdicts(this.db, p.keyId, new Date(now - 7 * 86_400_000), 10_000);
    const final = new Map(settled.map((l) => [`${l.task_id}\u0000${l.category}`, l.label]));
    let cells = 0;
    let agree = 0;
    for (const r of rows) {
      if (r.reviews_done < 2) continue;
      for (const [category, v] of Object.entries(r.labels)) {
        const f = final.get(`${r.task_id}\u0000${category}`);
        if (f === undefined || f === null) continue;
        cells++;
        if (f === v) agree++;
      }
    }
    const handling = rows.map((r) => r.handling_ms).filter((h): h is number => h !== null);
    return {
      key_id: p.keyId,
      name: p.name,
      verdicts: { last_24h: rows.filter((r) => r.created_at.getTime() > now - 86_400_000).length, last_7_days: rows.length },
      median_handling_ms: median(handling),
      agreement_with_settled: { cells, rate: cells ? agree / cells : null },
    };
  }

  /**
   * Takes back the moderator's last verdict on a task, as long as it is the task's latest and training has
   * not read what it settled: the review goes, the labels it settled go, and the task is open again,
   * leased back to the moderator with a fresh lease. Audited.
   */
  async undo(p: Principal, taskId: string, requestId: string): Promise<TaskView> {
    await this.db.transaction().execute(async (trx) => {
      const task = await repo.lockTask(trx, taskId);
      if (!task) throw notFound('review task', taskId);
      const last = await repo.lastReview(trx, taskId);
      if (!last || last.moderator_key_id !== p.keyId) {
        throw conflict('nothing_to_undo', `your verdict is not the latest on review task ${taskId}; only the latest verdict can be taken back`);
      }
      if (last.required_before === null) throw conflict('nothing_to_undo', `the verdict on review task ${taskId} predates undo and cannot be taken back`);
      if (task.leased_to && task.leased_to !== p.keyId && task.lease_expires_at && task.lease_expires_at.getTime() > epochMs(this.clock)) {
        throw conflict('not_leaseholder', `another moderator is reviewing task ${taskId} now; your verdict can no longer be taken back`);
      }
      if (last.first_label_id !== null) {
        const first = Number(last.first_label_id);
        if (await settledStore.labelsTrained(trx, first)) {
          throw conflict('already_trained', `a training run has already read the labels this verdict settled on review task ${taskId}; it can no longer be taken back (appeal the decision instead)`);
        }
        if (await settledStore.laterLabels(trx, task.item_id, first)) {
          throw conflict('superseded', `labels settled on this item after your verdict (an appeal); it can no longer be taken back`);
        }
        await settledStore.deleteTaskLabels(trx, taskId);
      }
      await repo.deleteReview(trx, last.id);
      const leaseSeconds = this.policies.settingsFor(task.policy_name).review.lease_seconds;
      await repo.reopenTask(trx, taskId, { moderator: p.keyId, reviewsDone: Math.max(0, task.reviews_done - 1), requiredReviews: last.required_before, leaseSeconds });
      await recordAudit(trx, {
        actor: p.name,
        actorKeyId: p.keyId,
        action: 'review.undone',
        subjectType: 'review_task',
        subjectId: taskId,
        requestId,
        details: { review_id: last.id, labels_removed: last.first_label_id !== null },
      });
    });
    return this.getTask(taskId);
  }

  async release(p: Principal, taskId: string, requestId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const task = await repo.lockTask(trx, taskId);
      if (!task) throw notFound('review task', taskId);
      if (task.status !== 'open') throw conflict('task_closed', `review task ${taskId} is ${task.status}`);
      if (task.leased_to !== p.keyId) throw conflict('not_leaseholder', `you do not hold a lease on review task ${taskId}`);
      await repo.releaseTask(trx, taskId);
      await recordAudit(trx, { actor: p.name, actorKeyId: p.keyId, action: 'review.released', subjectType: 'review_task', subjectId: taskId, requestId });
    });
  }

  /** An appeal of a decision opens a high-priority task; one open appeal per decision. */
  async appeal(p: Principal, decisionId: string, reason: string, requestId: string): Promise<{ taskId: string }> {
    return this.db.transaction().execute(async (trx) => {
      const d = await repo.decisionToAppeal(trx, decisionId);
      // Clients see only their own decisions; to anyone else this one does not exist.
      if (!d || (p.role === 'client' && d.client_key_id !== p.keyId)) throw notFound('decision', decisionId);
      const open = await repo.openAppealId(trx, decisionId);
      if (open) throw conflict('appeal_open', `decision ${decisionId} already has an open appeal (review task ${open})`);
      const settings = this.policies.settingsFor(d.policy_name);
      const taskId = uuidv7();
      await repo.insertTasks(trx, [
        {
          id: taskId,
          itemId: d.item_id,
          decisionId,
          reason: 'appeal',
          priority: PRIORITY.appeal,
          policyName: d.policy_name,
          policyVersion: d.policy_version,
          // The policy's order (jsonb keeps keys in its own order, not the policy's): the keys a moderator
          // presses must name the same categories on every task.
          categories: this.categoryOrder(d.policy_name, Object.keys(d.categories)),
          requiredReviews: settings.review.reviews_per_task,
          leaseSeconds: settings.review.lease_seconds,
          appealReason: reason,
          appealedBy: p.keyId,
        },
      ]);
      await recordAudit(trx, {
        actor: p.name,
        actorKeyId: p.keyId,
        action: 'review.appealed',
        subjectType: 'decision',
        subjectId: decisionId,
        requestId,
        details: { review_task_id: taskId },
      });
      return { taskId };
    });
  }

  /** `categories` in the named policy's order (any it does not list last, in their given order). */
  private categoryOrder(policyName: string, categories: string[]): string[] {
    const policy = this.policies.names.includes(policyName) ? this.policies.get(policyName) : null;
    if (!policy) return categories;
    return [...policy.categories.filter((c) => categories.includes(c)), ...categories.filter((c) => !policy.categories.includes(c))];
  }

  /** Queue depth, handling time and agreement over the last `days` days of reviews. */
  async stats(days: number) {
    const byReason = await repo.queueDepth(this.db);
    const handling = await repo.handlingTimes(this.db, days);
    const multi = await repo.multiReviewVerdicts(this.db, days);
    const settled = await settledStore.labelsSettledSince(this.db, days);


    const handlingByReason: Record<string, number | null> = {};
    for (const r of REVIEW_REASONS) handlingByReason[r] = median(handling.filter((h) => h.reason === r).map((h) => h.handlingMs));

    // Moderator vs moderator: per category, the ratings each multi-reviewed task received.
    const tasks = new Map<string, { categories: string[]; verdicts: Record<string, boolean>[] }>();
    for (const r of multi) {
      const t = tasks.get(r.taskId) ?? { categories: r.categories, verdicts: [] };
      t.verdicts.push(r.labels);
      tasks.set(r.taskId, t);
    }
    const categories = [...new Set([...[...tasks.values()].flatMap((t) => t.categories), ...settled.map((s) => s.category)])].sort();
    const moderators: Record<string, unknown> = {};
    const model: Record<string, unknown> = {};
    for (const c of categories) {
      const units = [...tasks.values()].filter((t) => t.categories.includes(c)).map((t) => t.verdicts.map((v) => v[c] === true));
      const twoRaters = units.length > 0 && units.every((u) => u.length === 2);
      moderators[c] = {
        items: units.length,
        cohen_kappa: twoRaters ? cohenKappa(units.map((u) => [u[0], u[1]] as [boolean, boolean])).kappa : null,
        krippendorff_alpha: krippendorffAlpha(units).alpha,
      };
      const rows = settled.filter((s) => s.category === c);
      const k = cohenKappa(rows.map((s) => [s.label, s.modelLabel] as [boolean, boolean]));
      model[c] = { items: rows.length, agreement: rows.length ? k.observed : null, cohen_kappa: k.kappa };
    }
    return {
      window_days: days,
      queue: byReason,
      queue_total: Object.values(byReason).reduce((n, q) => n + q.open, 0),
      median_handling_ms: { all: median(handling.map((h) => h.handlingMs)), by_reason: handlingByReason },
      agreement: { moderators, moderators_vs_model: model },
    };
  }

  /**
   * Preference pairs in settlement order, a page at a time (keyset pagination works the same on both
   * drivers): the latest settled label of each item × category, the same data training reads.
   */
  async *pairs(filter: { split?: Split; category?: string; afterId?: number; limit?: number; withText: boolean }): AsyncGenerator<PairRow> {
    let after = filter.afterId ?? 0;
    let left = filter.limit ?? Infinity;
    const page = 1000;
    while (left > 0) {
      const rows = await settledStore.settledLabels(this.db, { afterId: after, limit: Math.min(page, left), split: filter.split, category: filter.category, withItem: true });
      for (const r of rows) {
        yield {
          id: Number(r.id),
          item_id: r.item_id,
          decision_id: r.decision_id,
          task_id: r.task_id,
          category: r.category,
          chosen: r.label,
          rejected: !r.label,
          model_label: r.model_label,
          agrees: r.label === r.model_label,
          split: r.split,
          reason: r.reason,
          reviewers: r.reviewers,
          votes_yes: r.votes_yes,
          votes_total: r.votes_total,
          backbone_id: r.backbone_id,
          head_id: r.head_id,
          created_at: r.created_at,
          external_id: r.external_id ?? null,
          ...(filter.withText ? { text: r.text, context: r.context } : {}),
        };
      }
      if (rows.length < Math.min(page, left)) return;
      after = Number(rows[rows.length - 1].id);
      left -= rows.length;
    }
  }
}

/** A verdict must give a boolean for exactly the task's categories. */
function checkLabels(categories: string[], given: Record<string, unknown>): Record<string, boolean> {
  const missing = categories.filter((c) => !(c in given));
  const unknown = Object.keys(given).filter((c) => !categories.includes(c));
  const notBool = Object.entries(given).filter(([c, v]) => categories.includes(c) && typeof v !== 'boolean').map(([c]) => c);
  const problems: string[] = [];
  if (missing.length) problems.push(`missing ${missing.map((c) => `'${c}'`).join(', ')}`);
  if (unknown.length) problems.push(`unknown ${unknown.map((c) => `'${c}'`).join(', ')}`);
  if (notBool.length) problems.push(`not true/false: ${notBool.map((c) => `'${c}'`).join(', ')}`);
  if (problems.length) {
    throw badRequest('invalid_verdict', `categories must give true or false for every category of the task's policy (${categories.join(', ')}): ${problems.join('; ')}`);
  }
  return Object.fromEntries(categories.map((c) => [c, given[c] as boolean]));
}

