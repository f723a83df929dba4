/**
 * The loaded policies, each bound to the serving model's labels. Binding happens at start and again
 * whenever the serving backbone changes; a policy with a category no label feeds is refused then.
 */
import type { Executor } from '../db/database.js';
import { badRequest } from '../errors.js';
import { mapLabels, type LabelMapping } from './label-mapping.js';
import type { Policy } from './policy.js';

export interface BoundPolicy {
  policy: Policy;
  mapping: LabelMapping;
}

export class PolicyRegistry {
  private bound = new Map<string, BoundPolicy>();

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

  /** Binds every policy to a model's labels; all problems are reported together. Returns unmapped labels per policy. */
  bind(labels: string[], problemType: 'multi_label' | 'single_label'): Record<string, string[]> {
    const next = new Map<string, BoundPolicy>();
    const problems: string[] = [];
    const unmapped: Record<string, string[]> = {};
    for (const policy of this.policies.values()) {
      try {
        const mapping = mapLabels(policy, labels, problemType);
        next.set(policy.name, { policy, mapping });
        if (mapping.unmapped.length) unmapped[policy.name] = mapping.unmapped;
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    if (problems.length) throw new Error(problems.join('\n'));
    this.bound = next;
    return unmapped;
  }

  /** The named policy (default when omitted), or a 400 that lists the ones that exist. */
  resolve(name?: string): BoundPolicy {
    const key = name ?? this.defaultName;
    const b = this.bound.get(key);
    if (!b) {
      if (!this.policies.has(key)) {
        throw badRequest('unknown_policy', `policy '${key}' does not exist; available: ${this.names.join(', ')}`);
      }
      throw new Error(`policy '${key}' is not bound to the model`);
    }
    return b;
  }

  /** A policy's settings by name; the default policy's if that name is no longer loaded. */
  settingsFor(name: string): Policy['settings'] {
    return (this.policies.get(name) ?? this.policies.get(this.defaultName)!).settings;
  }

  /** Stores each policy's exact source under its version, so decisions can be traced to the rules used. */
  async record(db: Executor): Promise<void> {
    for (const p of this.policies.values()) {
      await db
        .insertInto('policy_versions')
        .values({ name: p.name, version: p.version, source: p.source })
        .onConflict((oc) => oc.columns(['name', 'version']).doNothing())
        .execute();
    }
  }
}
