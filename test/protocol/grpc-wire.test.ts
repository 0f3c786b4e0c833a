// gRPC framing and header helpers of the balancer's HTTP/2 data path, table-driven.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  deadlineFromTimeout,
  encodeGrpcMessage,
  decodeGrpcMessage,
  frame,
  MessageReader,
  metadataFromHeaders,
  timeoutHeader,
} from '../../protocol/grpc-wire';
import { Status } from '../../protocol/status';

test('timeoutHeader stays within 8 digits and never rounds a deadline down', () => {
  const table: Array<[number, string]> = [
    [0, '0m'],
    [1.2, '2m'],
    [99_999_999, '99999999m'],
    [1e8, '100000S'],
    [1e11 + 1, '1666667M'],
    [1e14, '27777778H'],
  ];
  for (const [ms, want] of table) assert.equal(timeoutHeader(ms), want, `${ms} ms`);
  for (const [ms] of table) {
    const back = deadlineFromTimeout(timeoutHeader(ms), 0);
    assert.ok(back >= ms && /^\d{1,8}[HMSmun]$/.test(timeoutHeader(ms)), `${ms} ms -> ${timeoutHeader(ms)}`);
  }
});

test('deadlineFromTimeout reads every unit; junk means no deadline', () => {
  const table: Array<[string | undefined, number]> = [
    ['5S', 5000],
    ['250m', 250],
    ['2M', 120_000],
    ['1H', 3_600_000],
    ['1500u', 1.5],
    ['7n', 7e-6],
    [undefined, Infinity],
    ['5', Infinity],
    ['xS', Infinity],
    ['-5S', Infinity],
  ];
  for (const [h, want] of table) assert.equal(deadlineFromTimeout(h, 0), want, String(h));
});

test('grpc-message escaping round-trips and leaves plain text alone', () => {
  for (const s of ['plain text', 'café ☕', '100% done', 'line\nbreak']) assert.equal(decodeGrpcMessage(encodeGrpcMessage(s)), s);
  assert.equal(encodeGrpcMessage('no escaping needed'), 'no escaping needed');
  // Only bytes outside printable ASCII and '%' are escaped: grpc-js reads the header with decodeURI, which keeps '%3B' as is.
  assert.equal(encodeGrpcMessage('has 12 bytes; expected 1024 (256 × 4)'), 'has 12 bytes; expected 1024 (256 %C3%97 4)');
  assert.equal(decodeURI(encodeGrpcMessage('a; b, c = 100% ×')), 'a; b, c = 100% ×');
});

test('MessageReader yields whole messages however the bytes are chunked, and refuses oversized ones', () => {
  const msgs = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(70_000, 7), Buffer.from('last')];
  const wire = Buffer.concat(msgs.map(frame));
  for (const size of [1, 3, 5, 6, 1000, wire.length]) {
    const r = new MessageReader();
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i += size)
      assert.ok(r.push(wire.subarray(i, i + size), (m: Buffer) => got.push(Buffer.from(m)), undefined));
    assert.deepEqual(got, msgs, `chunks of ${size}`);
    assert.equal(r.partial, false);
  }
  const huge = Buffer.from([0, 0xff, 0xff, 0xff, 0xff]);
  const h = new MessageReader();
  assert.equal(
    h.push(huge, () => undefined, undefined),
    false,
  );
  assert.equal(h.error?.code, Status.RESOURCE_EXHAUSTED);
});

test("a compressed message gets the spec's status: INTERNAL without grpc-encoding (or identity), UNIMPLEMENTED for an encoding named", () => {
  const table: Array<{ flag: number; encoding: string | undefined; code: Status | undefined; says?: RegExp }> = [
    { flag: 0, encoding: undefined, code: undefined },
    { flag: 0, encoding: 'gzip', code: undefined }, // an encoding named but the message sent uncompressed is fine
    { flag: 1, encoding: undefined, code: Status.INTERNAL, says: /compressed flag set but the call's grpc-encoding is absent/ },
    { flag: 1, encoding: 'identity', code: Status.INTERNAL, says: /grpc-encoding is identity/ },
    { flag: 1, encoding: 'gzip', code: Status.UNIMPLEMENTED, says: /grpc-encoding 'gzip' is not supported/ },
    { flag: 1, encoding: 'Deflate', code: Status.UNIMPLEMENTED, says: /'deflate'/ },
    { flag: 2, encoding: 'gzip', code: Status.INTERNAL, says: /compressed flag is 2; expected 0 or 1/ },
  ];
  for (const { flag, encoding, code, says } of table) {
    const msg = frame(Buffer.from('x'));
    msg[0] = flag;
    const r = new MessageReader(encoding);
    const got: Buffer[] = [];
    const ok = r.push(msg, (m: Buffer) => got.push(m), undefined);
    const what = `flag ${flag}, grpc-encoding ${encoding}`;
    assert.equal(ok, code === undefined, what);
    assert.equal(r.error?.code, code, what);
    if (says) assert.match(r.error!.message, says, what);
    assert.equal(got.length, code === undefined ? 1 : 0, what);
  }
});

test('metadataFromHeaders forwards what gRPC metadata can carry and drops the rest without throwing', () => {
  const md = metadataFromHeaders({
    ':path': '/x',
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': '1S',
    'x-tenant-id': 't1',
    'x-val': 'café',
    'x-odd!name': 'v',
    'trace-bin': Buffer.from([1, 2, 3]).toString('base64'),
  });
  assert.deepEqual(Object.keys(md.getMap()).sort(), ['trace-bin', 'x-tenant-id']);
  assert.deepEqual(md.get('trace-bin'), [Buffer.from([1, 2, 3])]);
});
