import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJsonBody, encodeJsonResponse } from '../../protocol/codec-json';

test('flat and nested data decode to the same typed array', () => {
  const flat = decodeJsonBody(JSON.stringify({ inputs: [{ name: 'f', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] }] }));
  const nested = decodeJsonBody(
    JSON.stringify({
      inputs: [
        {
          name: 'f',
          shape: [2, 2],
          datatype: 'FP32',
          data: [
            [1, 2],
            [3, 4],
          ],
        },
      ],
    }),
  );
  assert.deepEqual(flat.inputs[0].data, Float32Array.from([1, 2, 3, 4]));
  assert.deepEqual(nested.inputs[0].data, flat.inputs[0].data);
});

test('ids, parameters and requested outputs are read', () => {
  const b = decodeJsonBody(
    JSON.stringify({
      id: 'q',
      parameters: { priority: 1, timeout: 2000 },
      inputs: [{ name: 'u', shape: [1], datatype: 'INT64', data: [42] }],
      outputs: [{ name: 'scores' }],
    }),
  );
  assert.equal(b.id, 'q');
  assert.deepEqual(b.params, { priority: 1, timeoutUs: 2000 });
  assert.deepEqual(b.outputs, ['scores']);
  assert.deepEqual(b.inputs[0].data, BigInt64Array.from([42n]));
});

test('bad bodies are rejected naming the field', () => {
  const table: [string, RegExp][] = [
    ['{', /not valid JSON/],
    ['[]', /must be a JSON object/],
    ['{}', /"inputs" must be an array/],
    ['{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}', /inputs\[0\].name must be a non-empty string/],
    ['{"inputs":[{"name":"f","shape":[-1],"datatype":"FP32","data":[1]}]}', /input 'f' shape must be an array of non-negative integers/],
    ['{"inputs":[{"name":"f","shape":[1],"datatype":"F32","data":[1]}]}', /datatype is "F32"; expected one of/],
    ['{"inputs":[{"name":"f","shape":[1],"datatype":"INT32","data":[1.5]}]}', /data\[0\] is 1.5; expected an integer for INT32/],
    ['{"inputs":[{"name":"f","shape":[1],"datatype":"BOOL","data":[1]}]}', /expected true or false/],
    ['{"inputs":[{"name":"f","shape":[1],"datatype":"FP16","data":[1]}]}', /FP16, which JSON cannot carry/],
    ['{"inputs":[],"parameters":{"priority":"high"}}', /parameter 'priority' is "high"; expected an integer/],
    ['{"inputs":[],"outputs":[{}]}', /outputs\[0\].name must be a string/],
  ];
  for (const [body, want] of table) assert.throws(() => decodeJsonBody(body), want, body);
});

test('responses render bigints as numbers and BOOL as booleans', () => {
  const text = encodeJsonResponse('rec', '1', 'q', [
    { name: 'ids', datatype: 'INT64', shape: [2], data: BigInt64Array.from([7n, 3n]) },
    { name: 'ok', datatype: 'BOOL', shape: [1], data: Uint8Array.from([1]) },
  ]);
  assert.deepEqual(JSON.parse(text), {
    model_name: 'rec',
    model_version: '1',
    id: 'q',
    outputs: [
      { name: 'ids', datatype: 'INT64', shape: [2], data: [7, 3] },
      { name: 'ok', datatype: 'BOOL', shape: [1], data: [true] },
    ],
  });
});
