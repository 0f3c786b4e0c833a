// An independent float64 forward pass over the ranker's generated weights,
// the yardstick ONNX Runtime's float32 outputs are checked against.
import assert from 'node:assert/strict';
import { seededRandom } from '../../common/clock';
import type { MlpWeights } from '../../scripts/gen-models';

/** Scores of batch rows of features (row-major [batch, inputs]): dense layers with ReLU between, in float64. */
export function referenceScores(weights: MlpWeights, features: Float32Array, batch: number): Float64Array {
  let x: Float64Array = Float64Array.from(features);
  weights.layers.forEach((layer, l) => {
    assert.equal(x.length, batch * layer.inputs, `layer ${l} input size`);
    const y = new Float64Array(batch * layer.outputs);
    const relu = l < weights.layers.length - 1;
    for (let r = 0; r < batch; r++) {
      for (let o = 0; o < layer.outputs; o++) {
        let s = layer.bias[o];
        for (let i = 0; i < layer.inputs; i++) s += x[r * layer.inputs + i] * layer.weight[i * layer.outputs + o];
        y[r * layer.outputs + o] = relu && s < 0 ? 0 : s;
      }
    }
    x = y;
  });
  return x;
}

/** batch rows of width uniform features in [-1, 1), from a seed. */
export function randomFeatures(seed: number, batch: number, width = 256): Float32Array {
  const rand = seededRandom(seed);
  return Float32Array.from({ length: batch * width }, () => rand() * 2 - 1);
}

/**
 * Asserts |actual - expected| <= abs + rel·|expected| element-wise, naming the first element outside.
 * Scores are O(1) and float32 sums over 512 terms err by ~1e-6 absolute, so
 * the absolute floor keeps scores near zero from failing on relative error alone.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rel = 1e-4, abs = 1e-5): void {
  assert.equal(actual.length, expected.length, 'lengths differ');
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    if (!(diff <= abs + rel * Math.abs(expected[i]))) {
      assert.fail(
        `element ${i}: ${actual[i]} vs expected ${expected[i]} (diff ${diff.toExponential(2)}, allowed ${(abs + rel * Math.abs(expected[i])).toExponential(2)})`,
      );
    }
  }
}
