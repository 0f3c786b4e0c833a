// Prometheus metrics for one sidecar process. A Registry of our own (not
// prom-client's global) so tests can run several sidecars in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Scheduler } from './scheduler/types';

// Latency buckets in seconds: 100 µs to 5 s, dense where batching lives (sub-ms to tens of ms).
const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/**
 * What watch() reads at scrape time: every served version's scheduler.
 * ModelRegistry is one; named by shape, not imported, because the registry
 * imports VersionMetrics from here.
 */
export interface ScrapedModels {
  list(): readonly {
    readonly config: { readonly name: string };
    readonly versions: ReadonlyMap<string, { readonly version: string; readonly scheduler: Pick<Scheduler, 'queueDepth' | 'inFlight'> }>;
  }[];
}

/** The sidecar's metric families. */
export class SidecarMetrics {
  readonly registry = new Registry();
  /** Requests finished, by model, version and gRPC status name. */
  readonly requests = new Counter({
    name: 'infergate_sidecar_requests_total',
    help: 'Inference requests finished, by model, version and status',
    labelNames: ['model', 'version', 'status'],
    registers: [this.registry],
  });
  /** End-to-end latency inside the sidecar. */
  readonly latency = new Histogram({
    name: 'infergate_sidecar_request_seconds',
    help: 'Request latency inside the sidecar, arrival to response',
    labelNames: ['model', 'version'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Time spent queued before its batch started. */
  readonly queueTime = new Histogram({
    name: 'infergate_sidecar_queue_seconds',
    help: 'Time a request waited in the batcher queue',
    labelNames: ['model', 'version'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Compute time per batch. */
  readonly computeTime = new Histogram({
    name: 'infergate_sidecar_compute_seconds',
    help: 'Model execution time per batch',
    labelNames: ['model', 'version'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Rows per executed batch. */
  readonly batchSize = new Histogram({
    name: 'infergate_sidecar_batch_size',
    help: 'Rows per executed batch',
    labelNames: ['model', 'version'],
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  /** Requests rejected before running, by reason. */
  readonly rejected = new Counter({
    name: 'infergate_sidecar_rejected_total',
    help: 'Requests rejected before execution, by reason',
    labelNames: ['model', 'version', 'reason'],
    registers: [this.registry],
  });
  /** Breaker state per instance: 0 closed, 1 half-open, 2 open. */
  readonly breakerState = new Gauge({
    name: 'infergate_sidecar_breaker_state',
    help: 'Circuit breaker state per model instance (0 closed, 1 half-open, 2 open)',
    labelNames: ['model', 'version', 'instance'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Adds gauges read from the schedulers at scrape time; call once the models are loaded. */
  watch(models: ScrapedModels): void {
    const depth = (fn: 'queueDepth' | 'inFlight') =>
      function (this: Gauge) {
        for (const m of models.list()) {
          for (const v of m.versions.values()) this.set({ model: m.config.name, version: v.version }, v.scheduler[fn]());
        }
      };
    new Gauge({
      name: 'infergate_sidecar_queue_depth',
      help: 'Requests waiting in the batcher queue',
      labelNames: ['model', 'version'],
      registers: [this.registry],
      collect: depth('queueDepth'),
    });
    new Gauge({
      name: 'infergate_sidecar_batches_in_flight',
      help: 'Batches executing now',
      labelNames: ['model', 'version'],
      registers: [this.registry],
      collect: depth('inFlight'),
    });
  }
}

/**
 * Metric children for one model version, resolved once: prom-client hashes
 * the label set on every labelled call, and the request path makes several
 * observations per request.
 */
export class VersionMetrics {
  private readonly byStatus = new Map<string, Counter.Internal>();
  readonly ok: Counter.Internal;
  readonly latency: Histogram.Internal<string>;
  readonly queueTime: Histogram.Internal<string>;
  readonly computeTime: Histogram.Internal<string>;
  readonly batchSize: Histogram.Internal<string>;

  constructor(
    private readonly m: SidecarMetrics,
    readonly model: string,
    readonly version: string,
  ) {
    this.ok = m.requests.labels(model, version, 'OK');
    this.latency = m.latency.labels(model, version);
    this.queueTime = m.queueTime.labels(model, version);
    this.computeTime = m.computeTime.labels(model, version);
    this.batchSize = m.batchSize.labels(model, version);
  }

  /** The request counter for a status name. */
  requests(status: string): Counter.Internal {
    let c = this.byStatus.get(status);
    if (!c) this.byStatus.set(status, (c = this.m.requests.labels(this.model, this.version, status)));
    return c;
  }

  /** Counts a rejection before execution. */
  rejected(reason: string): void {
    this.m.rejected.inc({ model: this.model, version: this.version, reason });
  }

  /** Records a breaker state change for one instance. */
  breaker(instance: number, state: 'closed' | 'half_open' | 'open'): void {
    this.m.breakerState.set(
      { model: this.model, version: this.version, instance: String(instance) },
      state === 'closed' ? 0 : state === 'half_open' ? 1 : 2,
    );
  }
}
