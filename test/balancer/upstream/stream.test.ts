// UpstreamStream over a fake upstream call (an EventEmitter that records
// writes): correlation of out-of-order answers, the client's id restored,
// sidecar errors mapped to statuses, stream loss failing only the messages
// that were on it, cancellation, deadlines and the idle end, on a fake clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as path from 'node:path';

import * as protobuf from 'protobufjs';
import { PROTO_DIR } from '../../../protocol/proto';
import { Status } from '../../../protocol/status';
import { IDLE_END_MS, UpstreamStream, type MessageStream } from '../../../balancer/upstream/stream';
import type { UpstreamResult } from '../../../balancer/upstream/types';
import { FakeClock } from '../../helpers/fake-clock';
import { stringField } from '../../../protocol/wire-fields';

const root = new protobuf.Root().loadSync(path.join(PROTO_DIR, 'inference.proto'), { keepCase: true });
const Req = root.lookupType('inference.ModelInferRequest');
const Res = root.lookupType('inference.ModelInferResponse');
const StreamRes = root.lookupType('inference.ModelStreamInferResponse');
const enc = (t: protobuf.Type, o: Record<string, unknown>): Buffer => Buffer.from(t.encode(t.fromObject(o)).finish());
const dec = (t: protobuf.Type, b: Uint8Array) => t.toObject(t.decode(b), { defaults: true }) as Record<string, unknown>;

/** A ModelStreamInfer call as the sidecar side of the test sees it. */
class FakeCall extends EventEmitter {
  readonly writes: Buffer[] = [];
  usable = true;
  ended = false;
  cancelled = false;
  writeWithId(req: Buffer, key: string): void {
    this.writes.push(Buffer.concat([req, stringField(3, key)]));
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.cancelled = true;
  }
  /** The sidecar's answer to the i-th write: echo its (correlation) id with the given fields. */
  answer(i: number, fields: Record<string, unknown>, error = ''): void {
    const id = dec(Req, this.writes[i]).id;
    this.emit('data', enc(StreamRes, { error_message: error, infer_response: { id, ...fields } }));
  }
  /** The stream ends with a status, as grpc-js reports it. */
  finish(code: Status, details = ''): void {
    this.emit('status', { code, details, metadata: {} });
  }
}

function setup() {
  const clock = new FakeClock();
  const calls: FakeCall[] = [];
  const s = new UpstreamStream(
    () => {
      const c = new FakeCall();
      calls.push(c);
      return c as unknown as MessageStream;
    },
    'k.',
    clock,
  );
  const results = new Map<string, UpstreamResult>();
  const send = (id: string, deadline = Infinity) => s.send(enc(Req, { model_name: 'ranker', id }), deadline, (r) => results.set(id, r));
  return { clock, calls, s, results, send };
}

test('answers out of order reach their own callers with the client id restored and the rest of the response untouched', () => {
  const { calls, results, send } = setup();
  for (const id of ['a', 'b', '']) send(id);
  assert.equal(calls.length, 1, 'one upstream stream carries every message');
  const keys = calls[0].writes.map((w) => dec(Req, w).id);
  assert.equal(new Set(keys).size, 3, 'each message went out under its own correlation key');
  assert.ok(keys.every((k) => String(k).startsWith('k.')));
  calls[0].answer(2, { model_name: 'ranker', model_version: '2' });
  calls[0].answer(0, { model_name: 'ranker', model_version: '1', raw_output_contents: [Buffer.from([1, 2, 3])] });
  calls[0].answer(1, { model_name: 'ranker', model_version: '1' });
  const table: Array<[string, string]> = [
    ['a', '1'],
    ['b', '1'],
    ['', '2'],
  ];
  for (const [id, version] of table) {
    const r = results.get(id)!;
    assert.equal(r.code, Status.OK);
    const res = dec(Res, r.response!);
    assert.equal(res.id, id, `id '${id}' restored`);
    assert.equal(res.model_version, version);
  }
  assert.deepEqual([...(dec(Res, results.get('a')!.response!).raw_output_contents as Uint8Array[])[0]], [1, 2, 3]);
});

test('sidecar errors in error_message become statuses (retryable ones stay retryable); unknown text is UNKNOWN', () => {
  const cases: Array<{ message: string; code: Status; details: string }> = [
    { message: '[RESOURCE_EXHAUSTED] queue of ranker:1 is full', code: Status.RESOURCE_EXHAUSTED, details: 'queue of ranker:1 is full' },
    { message: '[UNAVAILABLE] breaker open', code: Status.UNAVAILABLE, details: 'breaker open' },
    { message: '[INVALID_ARGUMENT] input nope is unknown', code: Status.INVALID_ARGUMENT, details: 'input nope is unknown' },
    { message: 'something broke', code: Status.UNKNOWN, details: 'something broke' },
  ];
  const { calls, results, send } = setup();
  cases.forEach((_, i) => send(`e${i}`));
  cases.forEach((c, i) => calls[0].answer(i, {}, c.message));
  cases.forEach((c, i) => {
    const r = results.get(`e${i}`)!;
    assert.deepEqual([r.code, r.details, r.connectionFailure, r.response], [c.code, c.details, false, undefined], c.message);
  });
});

test('a stream that ends fails only its own messages, as connection failures; the next message opens a new stream', () => {
  const { calls, results, send } = setup();
  send('a');
  send('b');
  calls[0].finish(Status.UNAVAILABLE, 'sidecar went away');
  for (const id of ['a', 'b']) assert.deepEqual([results.get(id)!.code, results.get(id)!.connectionFailure], [Status.UNAVAILABLE, true]);
  send('c');
  assert.equal(calls.length, 2);
  calls[0].finish(Status.UNAVAILABLE); // a late second status of the old call must not touch the new stream's messages
  assert.equal(results.has('c'), false);
  calls[1].answer(0, {});
  assert.equal(results.get('c')!.code, Status.OK);
});

test('a cancelled message is answered CANCELLED once; a deadline answers DEADLINE_EXCEEDED; an idle stream ends', () => {
  const { clock, calls, results, send } = setup();
  const cancel = send('gone');
  send('late', clock.now() + 50);
  cancel();
  calls[0].answer(0, {});
  // Cancelling answers CANCELLED at once (so the router releases the endpoint's slot); the sidecar's late answer is dropped.
  assert.equal(results.get('gone')!.code, Status.CANCELLED);
  assert.equal(results.get('gone')!.connectionFailure, false);
  clock.advance(100);
  assert.equal(results.get('late')!.code, Status.DEADLINE_EXCEEDED);
  calls[0].answer(1, {});
  assert.equal(results.get('late')!.code, Status.DEADLINE_EXCEEDED, 'a late answer does not call back twice');
  assert.equal(calls[0].ended, false);
  clock.advance(IDLE_END_MS);
  assert.equal(calls[0].ended, true, 'nothing pending for IDLE_END_MS: the stream is half-closed so a draining sidecar can stop');
  send('again');
  assert.equal(calls.length, 2, 'and the next message opens a fresh one');
});

test('a stream whose connection is going away takes no new messages; what is on it is still answered', () => {
  const { calls, results, send } = setup();
  send('old');
  calls[0].usable = false; // GOAWAY from a draining sidecar
  send('new');
  assert.equal(calls.length, 2, 'the new message opened a fresh stream');
  assert.equal(calls[0].ended, true, 'the old one was half-closed so the sidecar can finish and stop');
  calls[0].answer(0, {});
  calls[1].answer(0, {});
  assert.deepEqual([results.get('old')!.code, results.get('new')!.code], [Status.OK, Status.OK]);
});
