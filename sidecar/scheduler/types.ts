// The contract between the protocol surfaces (gRPC, REST), the dynamic
// batcher, and model execution. Surfaces decode and validate a request into a
// QueuedRequest; a Scheduler runs it on a ModelRunner; done() is called once.
import type { InferError } from '../../protocol/status';
import type { Tensor } from '../../protocol/tensor';

/** A validated request, ready to queue. Built by the protocol decoders. */
export interface QueuedRequest {
  /** Caller's request id (may be empty); echoed in the response. */
  readonly id: string;
  /** Inputs in the model config's input order. With batching, dim 0 is the batch dim. */
  readonly inputs: readonly Tensor[];
  /** Rows this request contributes to a batch (dim 0); 1 when the model does not batch. */
  readonly batchSize: number;
  /** Non-batch dims of every input, joined; only requests with equal keys share a batch. */
  readonly shapeKey: string;
  /** Priority level, 1 = highest, already defaulted and range-checked. */
  readonly priority: number;
  /** Clock time (ms) the request entered the sidecar. */
  readonly arrivedAt: number;
  /** Clock time (ms) after which it must not start computing; Infinity for none. */
  readonly deadline: number;
  /** Output names requested, in response order; undefined means all, in config order. */
  readonly outputs?: readonly string[];
  /**
   * Completion: called exactly once, with an error or the outputs (one tensor
   * per requested output, this request's rows only).
   */
  done(err: InferError | null, outputs?: Tensor[], timing?: RequestTiming): void;
}

/** Where a request's time went (ms), for statistics and load reports. */
export interface RequestTiming {
  readonly queueMs: number;
  readonly computeMs: number;
  /** Size (rows) of the batch it ran in. */
  readonly batchRows: number;
}

/** One execution instance of a model version (an ONNX Runtime session, a workflow). */
export interface ModelRunner {
  /** Runs one batch: inputs in config order; resolves to outputs in config order. */
  run(inputs: readonly Tensor[]): Promise<Tensor[]>;
  /** Frees native resources. */
  close(): Promise<void>;
}

/** Receives what the scheduler did, for metrics and ModelStatistics. */
export interface SchedulerObserver {
  /** A batch finished (ok or not): requests in it, total rows, compute time. */
  onBatch(requests: number, rows: number, computeMs: number, ok: boolean): void;
  /** A request left the queue without running (timeout, full queue, breaker). */
  onRejected(reason: 'queue_full' | 'deadline' | 'unavailable'): void;
}

/** Accepts requests for one model version and runs them. */
export interface Scheduler {
  /** Queues a request; done() is called later (or synchronously on immediate rejection). */
  submit(req: QueuedRequest): void;
  /** Requests waiting, not yet in a running batch. */
  queueDepth(): number;
  /** Batches executing now. */
  inFlight(): number;
  /** Whether at least one instance can take work (its breaker is not open). */
  ready(): boolean;
  /** Stops taking work; resolves when queued and running requests are done. */
  drain(): Promise<void>;
}
