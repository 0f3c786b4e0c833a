// ModelConfig fixtures for unit tests that do not read YAML.
import type { ModelConfig } from '../../sidecar/repository/config-types';

/** A ranker-like config: FP32 [-1,4] → FP32 [-1,1], batching up to 8, 2 priority levels. */
export function rankerConfig(over: Partial<ModelConfig> = {}): ModelConfig {
  return {
    name: 'ranker',
    platform: 'onnx',
    max_batch_size: 8,
    inputs: [{ name: 'features', datatype: 'FP32', dims: [4] }],
    outputs: [{ name: 'score', datatype: 'FP32', dims: [1] }],
    dynamic_batching: {
      preferred_batch_size: [4, 8],
      max_queue_delay_microseconds: 1000,
      max_queue_size: 16,
      priority_levels: 2,
      default_priority_level: 2,
      default_timeout_microseconds: 0,
      allow_timeout_override: true,
      preserve_ordering: false,
    },
    instances: 1,
    execution_providers: ['cpu'],
    intra_op_threads: 1,
    breaker: { timeout_ms: 1000, error_threshold_percentage: 50, volume_threshold: 4, reset_timeout_ms: 200, rolling_window_ms: 10000 },
    versions: [],
    ...over,
  };
}

/** A two-input config with a variable dim: ids INT64 [-1,-1], mask BOOL [-1,-1]. */
export function seqConfig(): ModelConfig {
  return rankerConfig({
    name: 'seq',
    inputs: [
      { name: 'ids', datatype: 'INT64', dims: [-1] },
      { name: 'mask', datatype: 'BOOL', dims: [-1] },
    ],
    outputs: [{ name: 'pooled', datatype: 'FP32', dims: [2] }],
  });
}
