// The shape of models/<name>/config.yaml once validated. The parser
// (config.ts) produces exactly this; everything else reads only this.
import type { Datatype } from '../../protocol/tensor';

/** One input or output as the model declares it. */
export interface TensorSpec {
  /** Tensor name, as in the ONNX graph. */
  readonly name: string;
  readonly datatype: Datatype;
  /** Dims excluding the batch dim when max_batch_size > 0; -1 means variable. */
  readonly dims: readonly number[];
}

/** Dynamic batching, with Triton's semantics. */
export interface DynamicBatchingConfig {
  /** Batch sizes sent at once when one can be formed (ascending). */
  readonly preferred_batch_size: readonly number[];
  /** Longest a batch waits for more requests, from its oldest request (µs). */
  readonly max_queue_delay_microseconds: number;
  /** Requests queued beyond this are rejected with RESOURCE_EXHAUSTED; 0 = unbounded. */
  readonly max_queue_size: number;
  /** Number of priority levels (1 = highest); 0 or 1 means one level. */
  readonly priority_levels: number;
  /** Level used when a request names none (1..priority_levels). */
  readonly default_priority_level: number;
  /** Default queue timeout (µs) for requests with no deadline; 0 = none. */
  readonly default_timeout_microseconds: number;
  /** Whether a request's `timeout` parameter may shorten the default. */
  readonly allow_timeout_override: boolean;
  /** Responses leave in request order (Triton's preserve_ordering). */
  readonly preserve_ordering: boolean;
}

/** Circuit breaker thresholds for each instance's execution (opossum). */
export interface BreakerConfig {
  /** Execution longer than this counts as a failure (ms). */
  readonly timeout_ms: number;
  /** Failure percentage within the rolling window that opens the breaker. */
  readonly error_threshold_percentage: number;
  /** Minimum executions in the window before the breaker may open. */
  readonly volume_threshold: number;
  /** How long the breaker stays open before a half-open probe (ms). */
  readonly reset_timeout_ms: number;
  /** Rolling window length (ms). */
  readonly rolling_window_ms: number;
}

/** Execution providers in order of preference. */
export type ExecutionProvider = 'tensorrt' | 'cuda' | 'cpu';

export interface ModelConfig {
  /** Model name; equals its directory name. */
  readonly name: string;
  /** 'onnx' runs model.onnx per version; 'workflow' runs a TypeScript module (see sidecar/runtime/workflow.ts). */
  readonly platform: 'onnx' | 'workflow';
  /** 0 disables batching: inputs carry no batch dim. */
  readonly max_batch_size: number;
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** Absent: every request runs alone (no dynamic batcher). */
  readonly dynamic_batching?: DynamicBatchingConfig;
  /** Execution instances per version; batches are spread across them. */
  readonly instances: number;
  readonly execution_providers: readonly ExecutionProvider[];
  /** ONNX Runtime intra-op threads per instance (0 = ORT default). */
  readonly intra_op_threads: number;
  readonly breaker: BreakerConfig;
  /** Workflow models: module file relative to the model directory. */
  readonly workflow?: string;
  /** Versions to serve; empty means all version directories found. */
  readonly versions: readonly string[];
}
