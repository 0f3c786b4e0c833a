// Per model-version counters in Triton's shape: what ModelStatistics reports
// over the protocol and the REST stats endpoint. Prometheus metrics are fed
// from the same events (sidecar/metrics.ts) so the two never disagree.
import type { ModelStatistics } from '../../proto/gen/inference/ModelStatistics';

interface Duration {
  count: number;
  ns: number;
}

const zero = (): Duration => ({ count: 0, ns: 0 });
const ns = (ms: number) => Math.round(ms * 1e6);

/** Triton-style statistics for one model version. */
export class ModelStats {
  private success = zero();
  private fail = zero();
  private queue = zero();
  private computeInfer = zero();
  private inferenceCount = 0;
  private executionCount = 0;
  private lastInference = 0;
  private readonly batches = new Map<number, Duration>();

  constructor(
    readonly name: string,
    readonly version: string,
  ) {}

  /** A request finished well: end-to-end and queue time (ms), its rows. */
  recordSuccess(totalMs: number, queueMs: number, computeMs: number, rows: number): void {
    this.success.count++;
    this.success.ns += ns(totalMs);
    this.queue.count++;
    this.queue.ns += ns(queueMs);
    this.computeInfer.count++;
    this.computeInfer.ns += ns(computeMs);
    this.inferenceCount += rows;
    this.lastInference = Date.now(); // reported, not timed: ModelStatistics.last_inference is ms since the epoch
  }

  /** A request failed, at any stage. */
  recordFailure(totalMs: number): void {
    this.fail.count++;
    this.fail.ns += ns(totalMs);
  }

  /** A batch executed (one model execution). */
  recordExecution(rows: number, computeMs: number): void {
    this.executionCount++;
    let d = this.batches.get(rows);
    if (!d) this.batches.set(rows, (d = zero()));
    d.count++;
    d.ns += ns(computeMs);
  }

  /** Items inferred (Triton's inference_count). */
  get inferences(): number {
    return this.inferenceCount;
  }

  /** Model executions (Triton's execution_count). */
  get executions(): number {
    return this.executionCount;
  }

  /** The protocol message. */
  toProto(): ModelStatistics {
    return {
      name: this.name,
      version: this.version,
      last_inference: this.lastInference,
      inference_count: this.inferenceCount,
      execution_count: this.executionCount,
      inference_stats: {
        success: this.success,
        fail: this.fail,
        queue: this.queue,
        compute_input: zero(),
        compute_infer: this.computeInfer,
        compute_output: zero(),
        cache_hit: zero(),
        cache_miss: zero(),
      },
      batch_stats: [...this.batches.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([size, d]) => ({ batch_size: size, compute_infer: d, compute_input: zero(), compute_output: zero() })),
    };
  }
}
