import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { encodeModel } from '../../scripts/onnx-writer';
import { main, RANKER_VERSIONS, RANKER_WIDTHS, rankerModel, rankerWeights } from '../../scripts/gen-models';
import { generatedModels } from '../helpers/ranker-models';

test('rankerWeights is deterministic per version', () => {
  for (const v of RANKER_VERSIONS) assert.deepEqual(rankerWeights(v), rankerWeights(v));
});

test('ranker versions have different weights', () => {
  const [a, b] = [rankerWeights(1), rankerWeights(2)];
  a.layers.forEach((layer, l) => assert.notDeepEqual(layer.weight, b.layers[l].weight, `layer ${l}`));
});

test('rankerWeights has the documented layer shapes and He-uniform ranges', () => {
  const { layers } = rankerWeights(1);
  assert.deepEqual(
    layers.map((l) => [l.inputs, l.outputs]),
    RANKER_WIDTHS.slice(1).map((w, i) => [RANKER_WIDTHS[i], w]),
  );
  for (const [l, layer] of layers.entries()) {
    assert.equal(layer.weight.length, layer.inputs * layer.outputs);
    assert.equal(layer.bias.length, layer.outputs);
    const limit = Math.sqrt(6 / layer.inputs);
    const max = layer.weight.reduce((m, w) => Math.max(m, Math.abs(w)), 0);
    const mean = layer.weight.reduce((s, w) => s + w, 0) / layer.weight.length;
    assert.ok(max <= limit && max > 0.9 * limit, `layer ${l}: max |w| ${max} vs limit ${limit}`);
    // Only 256 weights in the last layer, so its mean is the noisiest: allow 4 standard errors.
    assert.ok(Math.abs(mean) < (4 * limit) / Math.sqrt(3 * layer.weight.length), `layer ${l}: mean ${mean}`);
  }
});

test('rankerWeights rejects non-positive or fractional versions', () => {
  for (const v of [0, -1, 1.5]) assert.throws(() => rankerWeights(v), /positive integer/);
});

test('writeModels writes byte-identical files on every run, one per version', () => {
  const repo = generatedModels();
  try {
    const first = RANKER_VERSIONS.map((v) => readFileSync(repo.modelPath(v)));
    const mtimes = RANKER_VERSIONS.map((v) => statSync(repo.modelPath(v)).mtimeMs);
    assert.ok(first[0].length > 4 * 256 * 512, 'weights are stored in the file');
    assert.notDeepEqual(first[0], first[1], 'versions differ');
    RANKER_VERSIONS.forEach((v, i) =>
      assert.deepEqual(Buffer.from(encodeModel(rankerModel(v))), first[i], `version ${v} re-encodes identically`),
    );

    assert.equal(main(['--models', repo.dir]), 0);
    RANKER_VERSIONS.forEach((v, i) => {
      assert.deepEqual(readFileSync(repo.modelPath(v)), first[i], `version ${v} unchanged`);
      assert.equal(statSync(repo.modelPath(v)).mtimeMs, mtimes[i], `version ${v} not rewritten`);
    });
  } finally {
    repo.remove();
  }
});

test('main rejects unknown arguments', () => {
  assert.equal(main(['--bogus']), 2);
});
