import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { PROTO_DIR } from '../../../protocol/proto';
import { MalformedRequest, peekParameter, peekRoute } from '../../../balancer/routing/peek-request';

const T = new protobuf.Root()
  .loadSync(path.join(PROTO_DIR, 'inference.proto'), { keepCase: true })
  .lookupType('inference.ModelInferRequest');
const encode = (o: Record<string, unknown>) => T.encode(T.fromObject(o)).finish();

test('reads model and version from requests as encoders write them', () => {
  const big = Buffer.alloc(1 << 20, 7);
  const table: { name: string; msg: Record<string, unknown>; want: { model: string; version: string } }[] = [
    { name: 'both', msg: { model_name: 'ranker', model_version: '2' }, want: { model: 'ranker', version: '2' } },
    { name: 'no version', msg: { model_name: 'ranker' }, want: { model: 'ranker', version: '' } },
    { name: 'empty', msg: {}, want: { model: '', version: '' } },
    { name: 'unicode', msg: { model_name: 'ränker-ü' }, want: { model: 'ränker-ü', version: '' } },
    {
      name: 'with tensors and parameters',
      msg: {
        model_name: 'm',
        model_version: '10',
        id: 'x',
        parameters: { priority: { int64_param: 1 } },
        inputs: [{ name: 'f', datatype: 'FP32', shape: [1, 262144] }],
        raw_input_contents: [big],
      },
      want: { model: 'm', version: '10' },
    },
  ];
  for (const c of table) assert.deepEqual(peekRoute(encode(c.msg)), c.want, c.name);
});

test('fields in any order are found', () => {
  // id (3), then version (2), then a varint-typed unknown field 15, then name (1).
  const w = protobuf.Writer.create();
  w.uint32((3 << 3) | 2).string('req');
  w.uint32((2 << 3) | 2).string('7');
  w.uint32((15 << 3) | 0).uint64(123456789);
  w.uint32((16 << 3) | 1).fixed64(1);
  w.uint32((17 << 3) | 5).fixed32(1);
  w.uint32((1 << 3) | 2).string('late');
  assert.deepEqual(peekRoute(w.finish()), { model: 'late', version: '7' });
});

test('malformed bytes are rejected, never misread', () => {
  const table: [string, Uint8Array][] = [
    ['length past the end', Uint8Array.from([0x0a, 0x10, 0x61])],
    ['truncated varint', Uint8Array.from([0x80])],
    ['wire type 3 (groups)', Uint8Array.from([0x0b])],
  ];
  for (const [name, buf] of table) assert.throws(() => peekRoute(buf), MalformedRequest, name);
});

test('peekParameter reads one request parameter as text, whatever its type, past large tensors', () => {
  const big = Buffer.alloc(1 << 16, 3);
  const table: { name: string; params: Record<string, unknown>; want: string | undefined }[] = [
    { name: 'string', params: { tenant: { string_param: 'acme' } }, want: 'acme' },
    { name: 'int64', params: { tenant: { int64_param: 42 } }, want: '42' },
    { name: 'int64 past 2^53 stays exact', params: { tenant: { int64_param: '9007199254740993' } }, want: '9007199254740993' },
    { name: 'uint64', params: { tenant: { uint64_param: 7 } }, want: '7' },
    { name: 'bool', params: { tenant: { bool_param: true } }, want: 'true' },
    {
      name: 'among others',
      params: { priority: { int64_param: 1 }, tenant: { string_param: 't-9' }, timeout: { int64_param: 5 } },
      want: 't-9',
    },
    { name: 'absent', params: { priority: { int64_param: 1 } }, want: undefined },
    { name: 'no parameters', params: {}, want: undefined },
  ];
  for (const c of table) {
    const bytes = encode({
      model_name: 'm',
      parameters: c.params,
      inputs: [{ name: 'f', datatype: 'FP32', shape: [1, 16384] }],
      raw_input_contents: [big],
    });
    assert.equal(peekParameter(bytes, 'tenant'), c.want, c.name);
  }
  assert.throws(() => peekParameter(Buffer.from([0x22, 0x05, 0x0a]), 'tenant'), MalformedRequest);
});

test('a repeated model or version field routes on its last occurrence, as the decoder reads it', () => {
  const first = encode({ model_name: 'a', model_version: '1' });
  const override = encode({ model_name: 'b', model_version: '2' });
  assert.deepEqual(peekRoute(Buffer.concat([first, override])), { model: 'b', version: '2' });
  const decoded = T.decode(Buffer.concat([first, override])) as unknown as { model_name: string; model_version: string };
  assert.deepEqual([decoded.model_name, decoded.model_version], ['b', '2']);
});
