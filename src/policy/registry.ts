/**
 * The loaded policies. A policy becomes usable for scoring once bound to a model's label space; the
 * binding (one per serving backbone) travels with the model snapshot, so a request never combines one
 * backbone's scores with another's label mapping.
 */
import type { Executor } from '../db/database.js';
import { badRequest } from '../errors.js';
import { mapLabels, type LabelMapping, type LabelSpace } from './label-mapping.js';
import type { Policy } from './policy.js';
import { recordPolicyVersion } from './policy.repository.js';

export interface BoundPolicy {
  policy: Policy;
  mapping: LabelMapping;
}

export class PolicyBinding {
  constructor(
    private readonly bound: Map<string, BoundPolicy>,
    private readonly defaultName: string,
    /** Model labels no category uses, per policy. */
    readonly unmapped: Record<string, string[]>,
  ) {}

  resolve(name?: string): BoundPolicy {
    const key = name ?? this.defaultName;
    const b = this.bound.get(key);
    if (!b) throw badRequest('unknown_policy', `policy '${key}' does not exist; available: ${[...this.bound.keys()].join(', ')}`);
    return b;
  }
}

export class PolicyRegistry {
  constructor(
    private readonly policies: Map<string, Policy>,
    readonly defaultName: string,
  ) {
    if (!policies.has(defaultName)) {
      throw new Error(`DEFAULT_POLICY is '${defaultName}' but the policies are: ${[...policies.keys()].join(', ')}`);
    }
  }

  get names(): string[] {
    return [...this.policies.keys()];
  }

  get all(): Policy[] {
    return [...this.policies.values()];
  }

  /** The named policy (the default when omitted), or a 400 listing the ones that exist. */
  get(name?: string): Policy {
    const key = name ?? this.defaultName;
    const p = this.policies.get(key);
    if (!p) throw badRequest('unknown_policy', `policy '${key}' does not exist; available: ${this.names.join(', ')}`);
    return p;
  }

  /** The named policy if it is still loaded (a task may outlive its policy), else null. */
  find(name: string): Policy | null {
    return this.policies.get(name) ?? null;
  }

  /** A policy's settings by name; the default policy's if that name is no longer loaded. */
  settingsFor(name: string): Policy['settings'] {
    return (this.policies.get(name) ?? this.policies.get(this.defaultName)!).settings;
  }

  /** Binds every policy to a model's labels; all problems are reported together. */
  bind(space: LabelSpace): PolicyBinding {
    const bound = new Map<string, BoundPolicy>();
    const problems: string[] = [];
    const unmapped: Record<string, string[]> = {};
    for (const policy of this.policies.values()) {
      try {
        const mapping = mapLabels(policy, space);
        bound.set(policy.name, { policy, mapping });
        if (mapping.unmapped.length) unmapped[policy.name] = mapping.unmapped;
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    if (problems.length) throw new Error(problems.join('\n'));
    return new PolicyBinding(bound, this.defaultName, unmapped);
  }

  /** Stores each policy's exact source under its version, so decisions can be traced to the rules used. */
  async record(db: Executor): Promise<void> {
    for (const p of this.policies.values()) await recordPolicyVersion(db, p);
  }
}
