// The method paths and REST routes every process shares (protocol/paths.ts),
// against the literal paths clients send.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METHOD, methodPath, MODEL_PATH, modelPath, REST_PATH } from '../../protocol/paths';
import { loadInferenceProto } from '../../protocol/proto';

test('METHOD holds the `:path` of every method inference.proto defines', () => {
  assert.equal(METHOD.ModelInfer, '/inference.GRPCInferenceService/ModelInfer');
  assert.equal(METHOD.ModelStreamInfer, '/inference.GRPCInferenceService/ModelStreamInfer');
  const service = loadInferenceProto().inference.GRPCInferenceService.service;
  for (const [name, def] of Object.entries(service)) {
    assert.equal(methodPath(name), def.path, name);
    assert.equal((METHOD as Record<string, string>)[name], def.path, name);
  }
});

test('MODEL_PATH reads back what modelPath writes, and the routes without a model are not model paths', () => {
  const table: Array<[string, string | undefined, '' | 'ready' | 'infer' | 'stats', string]> = [
    ['ranker', undefined, 'infer', '/v2/models/ranker/infer'],
    ['ranker', '2', 'ready', '/v2/models/ranker/versions/2/ready'],
    ['a/b c', '', '', '/v2/models/a%2Fb%20c'],
    ['m', 'v 1', 'stats', '/v2/models/m/versions/v%201/stats'],
  ];
  for (const [model, version, action, path] of table) {
    assert.equal(modelPath(model, version, action), path);
    const m = MODEL_PATH.exec(path)!;
    assert.deepEqual([decodeURIComponent(m[1]), m[2] ? decodeURIComponent(m[2]) : '', m[3] ?? ''], [model, version ?? '', action], path);
  }
  for (const p of Object.values(REST_PATH)) assert.equal(MODEL_PATH.exec(p), null, p);
  assert.equal(MODEL_PATH.exec('/v2/models/m/explain'), null);
});
