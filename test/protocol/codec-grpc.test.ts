import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeGrpcInputs, encodeGrpcResponse, fromRaw, schedulingParams, toRaw } from '../../protocol/codec-grpc';
import type { ModelInferRequest__Output } from '../../proto/gen/inference/ModelInferRequest';
import type { InferTensorContents__Output } from '../../proto/gen/inference/InferTensorContents';

const emptyContents = (): InferTensorContents__Output => ({
  bool_contents: [],
  int_contents: [],
  int64_contents: [],
  uint_contents: [],
  uint64_contents: [],
  fp32_contents: [],
  fp64_contents: [],
  bytes_contents: [],
});

function request(
  inputs: { name: string; datatype: string; shape: number[]; contents?: Partial<InferTensorContents__Output> }[],
  raw: Buffer[] = [],
): ModelInferRequest__Output {
  return {
    model_name: 'm',
    model_version: '',
    id: 'r1',
    parameters: {},
    outputs: [],
    raw_input_contents: raw,
    inputs: inputs.map((t) => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape,
      parameters: {},
      contents: { ...emptyContents(), ...t.contents },
    })),
  };
}

test('raw FP32 is viewed in place when aligned and copied when not', () => {
  const backing = Buffer.alloc(4 * 3 + 1);
  const aligned = backing.subarray(0, 12);
  aligned.writeFloatLE(1.5, 0);
  const view = fromRaw('x', 'FP32', aligned, 3) as Float32Array;
  assert.equal(view[0], 1.5);
  assert.equal(view.buffer, backing.buffer, 'aligned raw input shares the received buffer');
  const odd = backing.subarray(1, 13);
  odd.writeFloatLE(2.5, 0);
  const copied = fromRaw('x', 'FP32', odd, 3) as Float32Array;
  assert.equal(copied[0], 2.5);
  assert.notEqual(copied.buffer, backing.buffer);
  assert.throws(() => fromRaw('x', 'FP32', aligned, 4), /raw_input_contents has 12 bytes; expected 16/);
});

test('BYTES raw encoding round-trips through toRaw/fromRaw', () => {
  const t = { name: 's', datatype: 'BYTES' as const, shape: [3], data: ['a', '', 'héllo'] };
  const raw = toRaw(t);
  assert.deepEqual(fromRaw('s', 'BYTES', raw, 3), ['a', '', 'héllo']);
  assert.throws(() => fromRaw('s', 'BYTES', raw.subarray(0, raw.length - 1), 3), /claims 6 bytes/);
  assert.throws(() => fromRaw('s', 'BYTES', raw, 2), /holds 3 elements; its shape needs 2/);
});

test('typed contents decode for every datatype that has a field', () => {
  const table: { datatype: string; contents: Partial<InferTensorContents__Output>; want: unknown }[] = [
    { datatype: 'BOOL', contents: { bool_contents: [true, false] }, want: Uint8Array.from([1, 0]) },
    { datatype: 'INT8', contents: { int_contents: [-1, 2] }, want: Int8Array.from([-1, 2]) },
    { datatype: 'INT16', contents: { int_contents: [-300, 2] }, want: Int16Array.from([-300, 2]) },
    { datatype: 'INT32', contents: { int_contents: [-70000, 2] }, want: Int32Array.from([-70000, 2]) },
    { datatype: 'INT64', contents: { int64_contents: [-5, 9] }, want: BigInt64Array.from([-5n, 9n]) },
    { datatype: 'UINT8', contents: { uint_contents: [255, 1] }, want: Uint8Array.from([255, 1]) },
    { datatype: 'UINT32', contents: { uint_contents: [4e9, 1] }, want: Uint32Array.from([4e9, 1]) },
    { datatype: 'UINT64', contents: { uint64_contents: [7, 8] }, want: BigUint64Array.from([7n, 8n]) },
    { datatype: 'FP32', contents: { fp32_contents: [0.5, -1] }, want: Float32Array.from([0.5, -1]) },
    { datatype: 'FP64', contents: { fp64_contents: [0.1, -1] }, want: Float64Array.from([0.1, -1]) },
    { datatype: 'BYTES', contents: { bytes_contents: [Buffer.from('ab'), Buffer.from('c')] }, want: ['ab', 'c'] },
  ];
  for (const c of table) {
    const [d] = decodeGrpcInputs(request([{ name: 'x', datatype: c.datatype, shape: [2], contents: c.contents }]));
    assert.deepEqual(d.data, c.want, c.datatype);
  }
});

test('decode errors name the input and what was expected', () => {
  const table: { name: string; req: ModelInferRequest__Output; want: RegExp }[] = [
    {
      name: 'unknown datatype',
      req: request([{ name: 'x', datatype: 'FLOAT', shape: [1] }]),
      want: /datatype 'FLOAT'; expected one of BOOL/,
    },
    {
      name: 'no data',
      req: request([{ name: 'x', datatype: 'FP32', shape: [1] }]),
      want: /input 'x' has no data; expected contents.fp32_contents/,
    },
    { name: 'FP16 contents', req: request([{ name: 'x', datatype: 'FP16', shape: [1] }]), want: /FP16.*raw_input_contents/ },
    {
      name: 'raw count',
      req: request(
        [
          { name: 'x', datatype: 'FP32', shape: [1] },
          { name: 'y', datatype: 'FP32', shape: [1] },
        ],
        [Buffer.alloc(4)],
      ),
      want: /raw_input_contents has 1 entries; expected one per input \(2\)/,
    },
    {
      name: 'raw and contents',
      req: request([{ name: 'x', datatype: 'FP32', shape: [1], contents: { fp32_contents: [1] } }], [Buffer.alloc(4)]),
      want: /sets contents while raw_input_contents is used/,
    },
  ];
  for (const c of table) assert.throws(() => decodeGrpcInputs(c.req), c.want, c.name);
});

test('scheduling parameters must be integers', () => {
  assert.deepEqual(schedulingParams({}), { priority: undefined, timeoutUs: undefined });
  assert.deepEqual(
    schedulingParams({
      priority: { parameter_choice: 'int64_param', int64_param: 1 },
      timeout: { parameter_choice: 'uint64_param', uint64_param: 500 },
    }),
    { priority: 1, timeoutUs: 500 },
  );
  assert.throws(
    () => schedulingParams({ priority: { parameter_choice: 'string_param', string_param: 'high' } }),
    /parameter 'priority' is a string_param; expected int64_param/,
  );
});

test('responses carry raw outputs as views over the output tensors', () => {
  const data = Float32Array.from([1, 2, 3]);
  const res = encodeGrpcResponse('m', '2', 'id7', [{ name: 'score', datatype: 'FP32', shape: [3, 1], data }]);
  assert.equal(res.model_version, '2');
  assert.equal(res.id, 'id7');
  assert.deepEqual(res.outputs, [{ name: 'score', datatype: 'FP32', shape: [3, 1] }]);
  const raw = res.raw_output_contents![0] as Buffer;
  assert.equal(raw.buffer, data.buffer);
  assert.equal(raw.readFloatLE(8), 3);
});
