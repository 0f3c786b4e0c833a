import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../common/log';
import { rankerWeights } from '../../../scripts/gen-models';
import type { ExecutionProvider, ModelConfig } from '../../../sidecar/repository/config-types';
import { createOnnxRunner } from '../../../sidecar/runtime/session-onnx';
import { assertClose, randomFeatures, referenceScores } from '../../helpers/reference-mlp';
import { captureLogger, generatedModels, repoConfig } from '../../helpers/ranker-models';

let repo: ReturnType<typeof generatedModels>;
let ranker: ModelConfig;

before(async () => {
  repo = generatedModels();
  // The committed config prefers tensorrt; most cases here are not about providers.
  ranker = { ...(await repoConfig('ranker')), execution_providers: ['cpu'] };
});
after(() => repo.remove());

for (const version of [1, 2]) {
  for (const batch of [1, 17]) {
    test(`ranker v${version} at batch ${batch} matches the float64 reference`, async () => {
      const runner = await createOnnxRunner(repo.modelPath(version), ranker, silentLogger);
      try {
        const features = randomFeatures(1000 + batch, batch);
        const [score] = await runner.run([{ name: 'features', datatype: 'FP32', shape: [batch, 256], data: features }]);
        assert.equal(score.name, 'score');
        assert.equal(score.datatype, 'FP32');
        assert.deepEqual(score.shape, [batch, 1]);
        assert.ok(score.data instanceof Float32Array);
        assertClose(score.data, referenceScores(rankerWeights(version), features, batch));
      } finally {
        await runner.close();
      }
    });
  }
}

test('ranker versions score the same features differently', async () => {
  const features = randomFeatures(7, 4);
  const scores = [];
  for (const v of [1, 2]) {
    const runner = await createOnnxRunner(repo.modelPath(v), ranker, silentLogger);
    scores.push((await runner.run([{ name: 'features', datatype: 'FP32', shape: [4, 256], data: features }]))[0].data);
    await runner.close();
  }
  assert.notDeepEqual(scores[0], scores[1]);
});

const mismatches: [string, (c: ModelConfig) => ModelConfig, RegExp][] = [
  [
    'input name',
    (c) => ({ ...c, inputs: [{ ...c.inputs[0], name: 'feats' }] }),
    /config input 'feats' is not a model input.*model input 'features' is missing from the config/,
  ],
  ['output name', (c) => ({ ...c, outputs: [{ ...c.outputs[0], name: 'scores' }] }), /config output 'scores' is not a model output/],
  [
    'extra input',
    (c) => ({ ...c, inputs: [...c.inputs, { name: 'mask', datatype: 'BOOL', dims: [1] }] }),
    /config input 'mask' is not a model input/,
  ],
  [
    'datatype',
    (c) => ({ ...c, inputs: [{ ...c.inputs[0], datatype: 'FP64' }] }),
    /input 'features' is float32 in the model, FP64 in the config/,
  ],
  [
    'dims',
    (c) => ({ ...c, inputs: [{ ...c.inputs[0], dims: [128] }] }),
    /input 'features' has shape \[batch, 256\] in the model; the config implies \[-1, 128\]/,
  ],
  [
    'no batch dim',
    (c) => ({ ...c, max_batch_size: 0 }),
    /input 'features' has shape \[batch, 256\] in the model; the config implies \[256\]/,
  ],
];

for (const [name, edit, pattern] of mismatches) {
  test(`a config whose ${name} differs from the model fails naming the file and tensor`, async () => {
    const file = repo.modelPath(1);
    await assert.rejects(createOnnxRunner(file, edit(ranker), silentLogger), (e: Error) => {
      assert.ok(e.message.startsWith(`${file} does not match the config of model ranker: `), e.message);
      assert.match(e.message, pattern);
      return true;
    });
  });
}

const providerCases: [ExecutionProvider[], 'info' | 'warn', ExecutionProvider][] = [
  [['cpu'], 'info', 'cpu'],
  [['cuda', 'cpu'], 'warn', 'cuda'],
  [['tensorrt', 'cuda', 'cpu'], 'warn', 'tensorrt'],
];

for (const [providers, level, requested] of providerCases) {
  test(`providers [${providers}] open on cpu here and log exactly one ${level} line`, async () => {
    const log = captureLogger();
    const runner = await createOnnxRunner(repo.modelPath(1), { ...ranker, execution_providers: providers }, log);
    try {
      assert.equal(log.lines.length, 1, JSON.stringify(log.lines));
      const [line] = log.lines;
      assert.equal(line.level, level);
      assert.equal(line.fields.requested, requested);
      assert.equal(line.fields.used, 'cpu');
      assert.match(line.msg, level === 'warn' ? new RegExp(`${requested} unavailable; onnx session opened on cpu`) : /opened on cpu/);
      const [score] = await runner.run([{ name: 'features', datatype: 'FP32', shape: [1, 256], data: randomFeatures(1, 1) }]);
      assert.equal(score.data.length, 1);
    } finally {
      await runner.close();
    }
  });
}

test('without cpu among the providers, a host lacking them fails naming the file and providers', async () => {
  const file = repo.modelPath(1);
  await assert.rejects(createOnnxRunner(file, { ...ranker, execution_providers: ['cuda'] }, silentLogger), (e: Error) =>
    e.message.startsWith(`${file}: cannot open ONNX model for ranker on any of [cuda]: cuda: `),
  );
});

test('a missing model file fails naming it', async () => {
  const file = `${repo.dir}/ranker/9/model.onnx`;
  await assert.rejects(createOnnxRunner(file, ranker, silentLogger), (e: Error) => e.message.includes(file));
});
