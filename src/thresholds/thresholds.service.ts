/**
 * The threshold advisor: per category, precision and recall of a head on the blind audit sample with
 * their intervals, the threshold that meets a target, and a what-if of proposed thresholds over the
 * stored decisions of the last days, written out as the change to the policy file. It changes nothing:
 * the policy file stays the source of truth, and a new threshold takes effect when the file does.
 */
import { epochMs, systemClock, type Clock } from '../clock.js';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { DB } from '../db/database.js';
import { trustedKeyIds } from '../auth/api-key.repository.js';
import { badRequest, notFound } from '../errors.js';
import { bytesToFloat32, bytesToInt32, tokenRows } from '../inference/head.js';
import { ngramSource } from '../inference/ngrams.js';
import * as heads from '../models/head.repository.js';
import type { ModelService } from '../models/model.service.js';
import { probabilityKind, Scorer } from '../models/scorer.js';
import { decisionsSince } from '../moderation/moderation.repository.js';
import { decide, type Policy } from '../policy/policy.js';
import * as reviews from '../review/settled-labels.repository.js';
import { isTrusted } from '../tuning/math/dataset.js';
import { decisionInputs } from '../tuning/training.repository.js';
import { candidateThresholds, curve, pointAt, suggest, type CurvePoint, type Scored, type Suggestion, type Target } from './advisor.js';

export const CONFIDENCE = 0.95;
/** The most stored decisions a what-if reads. */
export const WHAT_IF_LIMIT = 200_000;

export interface CategoryAdvice {
  category: string;
  flag: number;
  block: number | null;
  /**
   * The audited items this rests on (blind audits the head never trained on: the eval split, and labels
   * settled after its training data): how many, how many the moderators flagged, and how many audited
   * items another backbone scored (their stored features mean nothing to this head), and how many of the
   * audited items are in the trusted set (`trusted_items`: the gate's trusted eval set, {@link isTrusted}:
   * eval-split blind audits two or more reviewers agreed on, or a trusted moderator settled).
   */
  sample: { audited_items: number; positives: number; trusted_items: number; left_out_other_backbone: number };
  at_flag: CurvePoint;
  curve: CurvePoint[];
  suggestion?: Suggestion;
}

export class ThresholdService {
  constructor(
    private readonly db: DB,
    private readonly models: ModelService,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The audit sample of each category scored by a head (the active one, or `headId` of the same backbone). */
  private async evidence(policy: Policy, headId?: string): Promise<{ cells: Map<string, (Scored & { trusted: boolean })[]>; otherBackbone: number; head: { id: string; version: number } }> {
    const active = this.models.active;
    const head = headId ? await heads.getHead(this.db, headId) : active.head;
    if (!head) throw notFound('head version', headId!);
    if (head.backboneId !== active.backbone.id) throw badRequest('invalid_request', `head ${head.id} belongs to another backbone than the active head's; the advisor scores stored features of the active backbone`);
    // Only labels the head never trained on: the eval split, and what was settled after its training data
    // (a base head trained on none of them). In-sample labels would flatter a tuned head.
    const trainedUpTo = Number((head.dataSnapshot as { max_label_id?: number } | null)?.max_label_id ?? -1);
    const labels = (await reviews.settledLabels(this.db, { reason: 'audit', withItem: true })).filter(
      (l) => l.blind && policy.categories.includes(l.category) && (l.split === 'eval' || Number(l.id) > trainedUpTo),
    );
    const decisionIds = [...new Set(labels.map((l) => l.decision_id))];
    // Audited items went to review, so their features were stored; anything without them is not scored here.
    const inputs = (await decisionInputs(this.db, decisionIds)).filter(
      (d): d is typeof d & { features: Uint8Array } => d.backbone_id === active.backbone.id && d.features !== null,
    );
    const index = new Map(inputs.map((d, i) => [d.id, i]));
    const dim = head.dim;
    const features = new Float32Array(inputs.length * dim);
    inputs.forEach((d, i) => features.set(bytesToFloat32(d.features), i * dim));
    const input = {
      features,
      tokens: tokenRows(inputs.map((d) => (d.token_ids ? bytesToInt32(d.token_ids) : new Int32Array(0)))),
      ngrams: ngramSource(inputs.map((d) => d.text)),
      n: inputs.length,
    };
    const scores = new Scorer(head, probabilityKind(active.backbone.problemType), active.policies.resolve(policy.name).mapping).score(input);
    const trustedKeys = new Set(await trustedKeyIds(this.db));
    const cells = new Map<string, (Scored & { trusted: boolean })[]>(policy.categories.map((c) => [c, []]));
    let otherBackbone = 0;
    for (const l of labels) {
      const i = index.get(l.decision_id);
      if (i === undefined) {
        otherBackbone++;
        continue;
      }
      const trusted = isTrusted(
        {
          id: Number(l.id),
          itemId: l.item_id,
          taskId: l.task_id,
          decisionId: l.decision_id,
          category: l.category,
          label: l.label,
          modelLabel: l.model_label,
          split: l.split,
          reason: l.reason,
          reviewers: l.reviewers,
          blind: l.blind,
          votesYes: l.votes_yes,
          votesTotal: l.votes_total,
        },
        trustedKeys,
      );
      cells.get(l.category)!.push({ score: scores[i][l.category] ?? 0, truth: l.label, trusted });
    }
    return { cells, otherBackbone, head: { id: head.id, version: head.version } };
  }

  async advise(o: { policy?: string; category?: string; headId?: string; target?: Target }): Promise<{ policy: string; head: { id: string; version: number }; confidence: number; categories: CategoryAdvice[] }> {
    const { policy } = this.models.active.policies.resolve(o.policy);
    if (o.category && !policy.categories.includes(o.category)) throw badRequest('invalid_request', `policy '${policy.name}' has no category '${o.category}' (it has ${policy.categories.join(', ')})`);
    const { cells, otherBackbone, head } = await this.evidence(policy, o.headId);
    const categories = (o.category ? [o.category] : policy.categories).map((cat) => {
      const c = cells.get(cat)!;
      const rule = policy.rules[cat];
      const thresholds = candidateThresholds(c, 40, [rule.flag]);
      return {
        category: cat,
        flag: rule.flag,
        block: rule.block,
        sample: { audited_items: c.length, positives: c.filter((x) => x.truth).length, trusted_items: c.filter((x) => x.trusted).length, left_out_other_backbone: otherBackbone },
        at_flag: pointAt(c, rule.flag, CONFIDENCE),
        curve: curve(c, thresholds, CONFIDENCE),
        ...(o.target ? { suggestion: suggest(c, o.target, CONFIDENCE, candidateThresholds(c, 60, [rule.flag]), rule.flag) } : {}),
      };
    });
    return { policy: policy.name, head, confidence: CONFIDENCE, categories };
  }

  /**
   * Proposed thresholds against the stored decisions of the last `days`: each decision decided again on
   * its stored scores, how many change action and how (with a few decision ids each), and the policy
   * file's text with the change, as a diff.
   */
  async whatIf(o: { policy?: string; days: number; thresholds: Record<string, { flag?: number; block?: number | null }> }) {
    const { policy } = this.models.active.policies.resolve(o.policy);
    const proposed: Policy = { ...policy, rules: { ...policy.rules } };
    for (const [cat, t] of Object.entries(o.thresholds)) {
      const rule = policy.rules[cat];
      if (!rule) throw badRequest('invalid_request', `policy '${policy.name}' has no category '${cat}' (it has ${policy.categories.join(', ')})`);
      const flag = t.flag ?? rule.flag;
      const block = t.block === undefined ? rule.block : t.block;
      if (block !== null && block < flag) throw badRequest('invalid_request', `${cat}: block ${block} is below flag ${flag}`);
      proposed.rules[cat] = { ...rule, flag, block };
    }
    const since = new Date(epochMs(this.clock) - o.days * 86_400_000);
    const rows = await decisionsSince(this.db, policy.name, since, WHAT_IF_LIMIT);
    const actions = ['allow', 'review', 'block'] as const;
    const before = Object.fromEntries(actions.map((a) => [a, 0])) as Record<(typeof actions)[number], number>;
    const after = { ...before };
    const moves = new Map<string, { count: number; examples: string[] }>();
    for (const r of rows) {
      const now = decide(policy, r.category_scores).action;
      const then = decide(proposed, r.category_scores).action;
      before[now]++;
      after[then]++;
      if (now !== then) {
        const key = `${now}→${then}`;
        const m = moves.get(key) ?? { count: 0, examples: [] };
        m.count++;
        if (m.examples.length < 5) m.examples.push(r.id);
        moves.set(key, m);
      }
    }
    return {
      policy: policy.name,
      days: o.days,
      decisions: rows.length,
      truncated: rows.length === WHAT_IF_LIMIT,
      actions: { current: before, proposed: after },
      changes: [...moves.entries()].map(([move, m]) => ({ move, decisions: m.count, example_decision_ids: m.examples })),
      policy_diff: policyDiff(policy, proposed),
      note: 'Nothing changed: edit the policy file as the diff shows (policy as code); the service reads it at its next start.',
    };
  }
}

/**
 * The policy file with the proposed thresholds, as a line diff of the file's own text: each changed value
 * is replaced where it stands in the source (its node's range), so comments, alignment and every other
 * line stay as they are. A threshold the file leaves to its default is added to the category's rule.
 */
export function policyDiff(current: Policy, proposed: Policy): string {
  const doc = parseDocument(current.source);
  const edits: { from: number; to: number; text: string }[] = [];
  const format = (v: number | null) => (v === null ? 'null' : Number.isInteger(v * 100) ? v.toFixed(2) : String(v));
  for (const cat of current.categories) {
    const a = current.rules[cat];
    const b = proposed.rules[cat];
    for (const key of ['flag', 'block'] as const) {
      if (a[key] === b[key]) continue;
      const node = doc.getIn(['categories', cat, key], true) as { range?: [number, number, number] } | undefined;
      if (node?.range) {
        edits.push({ from: node.range[0], to: node.range[1], text: format(b[key]) });
      } else {
        const rule = doc.getIn(['categories', cat], true) as { range?: [number, number, number]; flow?: boolean } | undefined;
        if (!rule?.range || !rule.flow) throw badRequest('invalid_request', `categories.${cat} of ${path.basename(current.file)} does not set ${key}: add it to the file by hand`);
        // A flow map { … }: add after its last entry.
        let at = current.source.lastIndexOf('}', rule.range[1]);
        while (at > 0 && current.source[at - 1] === ' ') at--;
        edits.push({ from: at, to: at, text: `, ${key}: ${format(b[key])}` });
      }
    }
  }
  let text = current.source;
  for (const e of edits.sort((x, y) => y.from - x.from)) text = text.slice(0, e.from) + e.text + text.slice(e.to);
  const before = current.source.split('\n');
  const after = text.split('\n');
  const name = path.basename(current.file);
  const out = [`--- ${name}`, `+++ ${name} (proposed)`];
  before.forEach((line, i) => {
    if (line !== after[i]) out.push(`@@ line ${i + 1} @@`, `-${line}`, `+${after[i]}`);
  });
  return out.length === 2 ? '' : `${out.join('\n')}\n`;
}
