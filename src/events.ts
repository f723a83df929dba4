/**
 * Domain events: what one feature tells the others after it has committed something. The publisher
 * does not know who listens (review does not know the promotion guard exists; training does not know
 * about shadow scoring or the serving runtime): the composition root (context.ts) and the background
 * jobs (src/jobs/) subscribe, never a feature. Events are notifications of committed facts: a listener
 * that fails is logged and does not undo or fail the publisher's work (every listener also has a slower
 * path — polling — that catches up).
 */
import type { Logger } from './logger.js';

export interface DomainEvents {
  /** A review task reached `done` (the promotion guard re-checks live agreement). */
  'review.task_completed': { taskId: string };
  /** An admin asked for a training run through the API; it is queued (a process that runs the jobs trains it). */
  'training.requested': { runId: string };
  /** A training run promoted a head: this process should serve it now (other processes hear NOTIFY). */
  'head.promoted': { headId: string; runId: string };
  /** A training run produced a head that was not promoted (or was): shadow scoring follows the newest. */
  'head.candidate': { headId: string; runId: string };
}

export type EventName = keyof DomainEvents;
type Listener<K extends EventName> = (payload: DomainEvents[K]) => void | Promise<void>;

export class EventBus {
  private readonly listeners = new Map<EventName, Listener<EventName>[]>();

  constructor(private readonly log: Logger | null = null) {}

  /** Subscribes; returns the unsubscribe function. */
  on<K extends EventName>(name: K, listener: Listener<K>): () => void {
    const list = this.listeners.get(name) ?? [];
    list.push(listener as Listener<EventName>);
    this.listeners.set(name, list);
    return () => {
      const l = this.listeners.get(name);
      if (l) this.listeners.set(name, l.filter((x) => x !== listener));
    };
  }

  /**
   * Calls every listener and waits for them all (a promoted head is served by this process before the
   * run that promoted it reports back). A listener's failure is logged, never thrown to the publisher.
   */
  async emit<K extends EventName>(name: K, payload: DomainEvents[K]): Promise<void> {
    const list = this.listeners.get(name) ?? [];
    const results = await Promise.allSettled(list.map(async (l) => l(payload)));
    for (const r of results) {
      if (r.status === 'rejected') {
        this.log?.warn({ event: name, err: r.reason instanceof Error ? r.reason.message : String(r.reason) }, 'event listener failed');
      }
    }
  }
}
