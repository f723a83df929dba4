/**
 * Prometheus metrics. One registry per application context (no prom-client global), so tests and
 * several servers in one process do not share counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'modtune_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'modtune_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly decisions = new Counter({
    name: 'modtune_decisions_total',
    help: 'Moderation decisions by policy and action',
    labelNames: ['policy', 'action'] as const,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'modtune_inference_batch_size',
    help: 'Sequences per inference batch',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });

  readonly batchWait = new Histogram({
    name: 'modtune_inference_batch_wait_seconds',
    help: 'Time the oldest sequence of a batch waited before the batch ran',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });

  readonly batchRun = new Histogram({
    name: 'modtune_inference_batch_seconds',
    help: 'ONNX Runtime time per batch',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly commitRequests = new Histogram({
    name: 'modtune_decision_commit_requests',
    help: 'Requests whose decisions were committed together in one transaction (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  readonly commitSeconds = new Histogram({
    name: 'modtune_decision_commit_seconds',
    help: 'Time to commit one group of decisions',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  /** Set by whoever owns the batcher; read at scrape time. */
  queueSource: () => number = () => 0;

  readonly queueLength: Gauge = new Gauge({
    name: 'modtune_inference_queue_length',
    help: 'Sequences waiting to be batched',
    registers: [this.registry],
    collect: (): void => this.queueLength.set(this.queueSource()),
  });

  readonly provider = new Gauge({
    name: 'modtune_inference_provider',
    help: 'Execution provider in use (1 for the one in use)',
    labelNames: ['provider'] as const,
    registers: [this.registry],
  });

  readonly activeHead = new Gauge({
    name: 'modtune_active_head_info',
    help: 'The head serving decisions (value 1)',
    labelNames: ['backbone', 'head_id', 'head_version'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'modtune_' });
  }
}
