/**
 * Scoring: text → features (ONNX backbone) → logits (active head) → per-label probabilities →
 * policy categories → action. Every decision is committed before the caller gets it.
 */
import { v7 as uuidv7 } from 'uuid';
import type { DB } from '../db/database.js';
import { float32ToBytes, int32ToBytes, probabilities, type Head } from '../inference/head.js';
import { ngramKey, ngramSource } from '../inference/ngrams.js';
import type { Embedded, ModelRuntime, TextInput } from '../inference/runtime.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { ModelService } from '../models/model.service.js';
import { probabilityKind, Scorer, type ProbabilityKind } from '../models/scorer.js';
import type { LabelMapping } from '../policy/label-mapping.js';
import { decide, type Action } from '../policy/policy.js';
import type { PolicyRegistry } from '../policy/registry.js';
import { DecisionWriter, type DecisionRows } from './decision-writer.js';
import { findStored, isUniqueViolation, type IdempotencyRef, type StoredResponse } from '../idempotency/idempotency.js';
import { getDecision, type NewDecision, type NewItem } from './moderation.repository.js';
import { notFound } from '../errors.js';
import type { NewTask } from '../review/review.repository.js';
import { routeDecision } from '../review/routing.js';
import { textSha256Bytes } from '../review/split.js';
import { explainCategory, occlusionWords, textNgrams, withoutWord, type CategoryExplanation } from './explain.js';
import type { ShadowScorer } from './shadow.js';

/** How many items of a request get the backbone's occlusion explanation (each costs one embedding per word). */
export const EXPLAIN_OCCLUSION_ITEMS = 8;

export interface ModerationInput extends TextInput {
  externalId?: string | null;
  /** The platform's ids for who wrote it and where: a reviewer sees the subject's history. */
  authorId?: string | null;
  threadId?: string | null;
}

export interface ModerationRequest {
  inputs: ModerationInput[];
  policy?: string;
  /** Answer, per result and category, why the score is what it is (src/moderation/explain.ts). */
  explain?: boolean;
  requestId: string;
  clientKeyId: string | null;
}

export interface ModerationResult {
  decisionId: string;
  itemId: string;
  externalId: string | null;
  action: Action;
  flagged: boolean;
  categories: Record<string, boolean>;
  categoryScores: Record<string, number>;
  truncated: boolean;
  /** Set when the decision was routed to human review. */
  reviewTaskId: string | null;
  /** With `explain`: per category, the deciding label's logit, its parts and the words that moved it. */
  explanation?: Record<string, CategoryExplanation>;
}

export interface ModerationOutcome {
  requestId: string;
  model: string;
  policy: { name: string; version: string };
  results: ModerationResult[];
}

export interface ModerationDeps {
  db: DB;
  models: ModelService;
  policies: PolicyRegistry;
  metrics: Metrics;
  /** The audit and confirmation draws; injectable so tests can route deterministically. */
  random?: () => number;
  /** New item ids (UUIDv7). The train/eval split hashes them: tests inject a seeded source so it is the same every run. */
  itemIds?: () => string;
  shadow?: ShadowScorer | null;
  writer?: DecisionWriter;
  /** Per-decision logging; `content` says whether moderated text may be logged (LOG_CONTENT). */
  log?: { logger: Logger; content: boolean } | null;
}

export class ModerationService {
  private readonly db: DB;
  private readonly models: ModelService;
  private readonly policies: PolicyRegistry;
  private readonly metrics: Metrics;
  private readonly random: () => number;
  private readonly itemIds: () => string;
  private readonly shadow: ShadowScorer | null;
  private readonly writer: DecisionWriter;
  private readonly log: { logger: Logger; content: boolean } | null;

  constructor(deps: ModerationDeps) {
    this.db = deps.db;
    this.models = deps.models;
    this.policies = deps.policies;
    this.metrics = deps.metrics;
    this.random = deps.random ?? Math.random;
    this.itemIds = deps.itemIds ?? (() => uuidv7());
    this.shadow = deps.shadow ?? null;
    this.writer = deps.writer ?? new DecisionWriter(deps.db);
    this.log = deps.log ?? null;
  }

  /**
   * Scores and commits. With an Idempotency-Key, `shape` turns the outcome into the HTTP response, which
   * is committed with the decisions; a retry (same key, same request) gets that response back and
   * nothing is scored or stored again.
   */
  async moderate(req: ModerationRequest): Promise<ModerationOutcome>;
  async moderate(req: ModerationRequest, idem: { ref: IdempotencyRef; shape: (o: ModerationOutcome) => StoredResponse }): Promise<StoredResponse & { replayed: boolean }>;
  async moderate(
    req: ModerationRequest,
    idem?: { ref: IdempotencyRef; shape: (o: ModerationOutcome) => StoredResponse },
  ): Promise<ModerationOutcome | (StoredResponse & { replayed: boolean })> {
    if (idem) {
      const stored = await findStored(this.db, idem.ref);
      if (stored) return { ...stored, replayed: true };
    }
    const { outcome, rows } = await this.score(req);
    const response = idem ? idem.shape(outcome) : null;
    try {
      await this.writer.write(idem ? { ...rows, idempotency: { ref: idem.ref, response: response! } } : rows);
    } catch (err) {
      // The same key raced in from a retry that committed first: answer with what it stored.
      if (idem && isUniqueViolation(err)) {
        const stored = await findStored(this.db, idem.ref);
        if (stored) return { ...stored, replayed: true };
      }
      throw err;
    }
    for (const r of outcome.results) this.metrics.decisions.inc({ policy: outcome.policy.name, action: r.action });
    if (this.log?.logger.isLevelEnabled('debug')) {
      // Moderated text reaches the logs only when an operator turned LOG_CONTENT on.
      this.log.logger.debug(
        {
          requestId: req.requestId,
          decisions: outcome.results.map((r, i) => ({ id: r.decisionId, action: r.action, ...(this.log!.content ? { text: req.inputs[i].text, context: req.inputs[i].context } : {}) })),
        },
        'moderated',
      );
    }
    return idem ? { ...response!, replayed: false } : outcome;
  }

  private async score(req: ModerationRequest): Promise<{ outcome: ModerationOutcome; rows: DecisionRows }> {
    // One snapshot of the serving model for the whole request, even if a new head is activated meanwhile.
    const { backbone, head, runtime, id: model, policies } = this.models.active;
    const { policy, mapping } = policies.resolve(req.policy);
    const n = req.inputs.length;
    // Shadow: the newest candidate head scores the same features (one more small matrix product).
    const shadowHead = this.shadow?.head && this.policies.get().settings.training.shadow ? this.shadow.head : null;
    // The workers compute the texts' n-gram rows in each config a serving head reads.
    const configs = new Map([head, shadowHead].flatMap((h) => (h?.ngrams ? [[ngramKey(h.ngrams.config), h.ngrams.config] as const] : [])));
    const embedded = await runtime.embed(req.inputs, [...configs.values()]);
    const kind = probabilityKind(backbone.problemType);
    const input = {
      features: embedded.features,
      tokens: embedded.tokens,
      ngrams: ngramSource(
        req.inputs.map((i) => i.text),
        embedded.ngrams,
      ),
      n,
    };
    const scorer = new Scorer(head, kind, mapping);
    const logits = scorer.logits(input);
    const shadowScorer = shadowHead ? new Scorer(shadowHead, kind, mapping) : null;
    const shadowLogits = shadowScorer ? shadowScorer.logits(input) : null;
    const items: NewItem[] = [];
    const decisions: NewDecision[] = [];
    const results: ModerationResult[] = [];
    const tasks: NewTask[] = [];
    for (let r = 0; r < n; r++) {
      const input = req.inputs[r];
      const d = decide(policy, scorer.categoryScoresAt(logits, r));
      if (shadowScorer && shadowLogits) this.shadow!.record(head.id, d, decide(policy, shadowScorer.categoryScoresAt(shadowLogits, r)));
      const itemId = this.itemIds();
      const decisionId = uuidv7();
      items.push({
        id: itemId,
        externalId: input.externalId ?? null,
        authorId: input.authorId ?? null,
        threadId: input.threadId ?? null,
        text: input.text,
        context: input.context ?? null,
        textSha256: textSha256Bytes(input.text),
        clientKeyId: req.clientKeyId,
      });
      const route = routeDecision(d, policy, this.random);
      decisions.push({
        id: decisionId,
        itemId,
        requestId: req.requestId,
        policyName: policy.name,
        policyVersion: policy.version,
        backboneId: backbone.id,
        headId: head.id,
        action: d.action,
        flagged: d.flagged,
        categoryScores: d.categoryScores,
        categories: d.categories,
        // What training reads, kept only for what can be trained on: an item that goes to review. An appeal
        // of another item has them recomputed from its text by the run that first needs them.
        features: route ? float32ToBytes(embedded.features.subarray(r * embedded.dim, (r + 1) * embedded.dim)) : null,
        tokenIds: route ? int32ToBytes(embedded.tokens.ids.subarray(embedded.tokens.offsets[r], embedded.tokens.offsets[r + 1])) : null,
        tokenCount: embedded.tokenCounts[r],
        truncated: embedded.truncated[r],
      });
      const reviewTaskId = route ? uuidv7() : null;
      if (route) {
        tasks.push({
          id: reviewTaskId!,
          itemId,
          decisionId,
          reason: route.reason,
          priority: route.priority,
          policyName: policy.name,
          policyVersion: policy.version,
          categories: policy.categories,
          requiredReviews: route.requiredReviews,
          leaseSeconds: policy.settings.review.lease_seconds,
          inclusion: route.inclusion,
        });
      }
      results.push({
        decisionId,
        reviewTaskId,
        itemId,
        externalId: input.externalId ?? null,
        action: d.action,
        flagged: d.flagged,
        categories: d.categories,
        categoryScores: d.categoryScores,
        truncated: embedded.truncated[r],
        ...(req.explain ? { explanation: await this.explain(r, req.inputs[r].text, { head, runtime, mapping, labels: backbone.labels, kind }, logits, embedded) } : {}),
      });
    }
    return {
      outcome: { requestId: req.requestId, model, policy: { name: policy.name, version: policy.version }, results },
      rows: { items, decisions, tasks },
    };
  }

  /**
   * Item `r`'s explanation per category: the label that decides the category's score (its most probable
   * source), its logit's exact parts and the words by their n-gram share; for the first
   * EXPLAIN_OCCLUSION_ITEMS items, the backbone's words by occlusion too (one more embedding per word).
   */
  private async explain(
    r: number,
    text: string,
    m: { head: Head; runtime: ModelRuntime; mapping: LabelMapping; labels: string[]; kind: ProbabilityKind },
    logits: Float64Array,
    embedded: Embedded,
  ): Promise<Record<string, CategoryExplanation>> {
    const C = m.head.numLabels;
    const features = embedded.features.subarray(r * embedded.dim, (r + 1) * embedded.dim);
    const tokens = embedded.tokens.ids.subarray(embedded.tokens.offsets[r], embedded.tokens.offsets[r + 1]);
    const probs = probabilities(logits, r * C, C, m.kind);
    let occluded: { word: string; features: Float32Array }[] | undefined;
    if (r < EXPLAIN_OCCLUSION_ITEMS) {
      const words = occlusionWords(text);
      if (words.length > 1) {
        const e = await m.runtime.embed(words.map((_, i) => ({ text: withoutWord(text, i) })));
        occluded = words.map((word, i) => ({ word, features: e.features.slice(i * e.dim, (i + 1) * e.dim) }));
      }
    }
    // The text's n-grams once, for every category's label.
    const grams = m.head.ngrams ? textNgrams(m.head.ngrams.config, text) : undefined;
    const out: Record<string, CategoryExplanation> = {};
    for (const [cat, sources] of Object.entries(m.mapping.sources)) {
      const row = sources.reduce((best, s) => (probs[s] > probs[best] ? s : best), sources[0]);
      out[cat] = explainCategory(m.head, m.labels[row], row, text, logits[r * C + row], features, tokens, occluded, grams);
    }
    return out;
  }

  /** A stored decision; a client sees only the decisions it asked for. */
  async getDecision(id: string, viewer: { keyId: string; role: string }) {
    const d = await getDecision(this.db, id);
    if (!d || (viewer.role === 'client' && d.client_key_id !== viewer.keyId)) throw notFound('decision', id);
    return d;
  }
}
