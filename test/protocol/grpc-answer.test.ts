// How a call is answered (protocol/grpc-answer.ts), on a stream that records
// what it was told: the same functions serve node:http2 streams (sidecar)
// and http2/'s H2Stream (balancer front).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeaders } from 'node:http2';
import {
  acceptGrpc,
  replyStatus,
  RESPONSE_HEADERS,
  statusTrailers,
  takeStatus,
  TRAILERS_ONLY,
  type AnswerOptions,
  type AnswerStream,
  type CallStatus,
} from '../../protocol/grpc-answer';
import { ORCA_TRAILER } from '../../protocol/load-report';
import { Status } from '../../protocol/status';

/** A stream that keeps what it was sent; end() asks for trailers as both servers do once respond() asked for them. */
class FakeStream extends EventEmitter implements AnswerStream {
  destroyed = false;
  closed = false;
  headersSent = false;
  writableEnded = false;
  resumed = false;
  readonly sent: Array<[string, OutgoingHttpHeaders | string | undefined, AnswerOptions?]> = [];
  private trailers = false;
  respond(headers: OutgoingHttpHeaders, options?: AnswerOptions): void {
    this.headersSent = true;
    this.trailers = options?.waitForTrailers === true;
    if (options?.endStream) this.writableEnded = true;
    this.sent.push(['respond', headers, options]);
  }
  sendTrailers(headers: OutgoingHttpHeaders): void {
    this.sent.push(['trailers', headers]);
  }
  end(data?: string): void {
    this.writableEnded = true;
    this.sent.push(['end', data]);
    if (this.trailers) this.emit('wantTrailers');
  }
  resume(): this {
    this.resumed = true;
    return this;
  }
}

test('replyStatus before any answer: one trailers-only HEADERS block, the message escaped, the load report when given', () => {
  const s = new FakeStream();
  replyStatus(s, Status.UNAVAILABLE, 'no endpoint ×', { trailerValue: () => 'b3JjYQ==' });
  assert.deepEqual(s.sent, [
    [
      'respond',
      { ...RESPONSE_HEADERS, 'grpc-status': '14', 'grpc-message': 'no endpoint %C3%97', [ORCA_TRAILER]: 'b3JjYQ==' },
      TRAILERS_ONLY,
    ],
  ]);
  assert.ok(s.resumed);
});

test('replyStatus on an answer already started: the status replaces the trailers it asked for', () => {
  const s = new FakeStream();
  s.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
  replyStatus(s, Status.DEADLINE_EXCEEDED, 'deadline exceeded');
  assert.deepEqual(s.sent.slice(1), [
    ['end', undefined],
    ['trailers', { 'grpc-status': '4', 'grpc-message': 'deadline exceeded' }],
  ]);
});

test('replyStatus does nothing on a stream that ended or closed', () => {
  for (const state of ['writableEnded', 'closed', 'destroyed'] as const) {
    const s = new FakeStream();
    s[state] = true;
    replyStatus(s, Status.INTERNAL, 'late');
    assert.deepEqual(s.sent, [], state);
  }
});

test('statusTrailers: OK carries no grpc-message', () => {
  assert.deepEqual(statusTrailers(Status.OK, 'ignored', 'x'), { 'grpc-status': '0', [ORCA_TRAILER]: 'x' });
  assert.deepEqual(statusTrailers(Status.NOT_FOUND, 'no model'), { 'grpc-status': '5', 'grpc-message': 'no model' });
});

test('acceptGrpc takes POST application/grpc[+proto] and answers anything else with 415', () => {
  for (const ct of ['application/grpc', 'application/grpc+proto', 'application/grpc; charset=utf-8']) {
    assert.equal(acceptGrpc(new FakeStream(), { ':method': 'POST', 'content-type': ct }), true, ct);
  }
  const s = new FakeStream();
  assert.equal(acceptGrpc(s, { ':method': 'GET', 'content-type': 'application/json' }), false);
  assert.deepEqual(s.sent[0], ['respond', { ':status': 415, 'content-type': 'text/plain' }, undefined]);
  assert.match(String(s.sent[1][1]), /this port speaks gRPC.*got GET application\/json/);
});

test('takeStatus reads code, message and load report, and leaves the status alone without grpc-status', () => {
  const st: CallStatus = { code: undefined, details: '' };
  takeStatus(st, { 'content-type': 'application/grpc' });
  assert.deepEqual(st, { code: undefined, details: '' });
  takeStatus(st, { 'grpc-status': '8', 'grpc-message': 'too%20busy', [ORCA_TRAILER]: Buffer.from('load').toString('base64') });
  assert.deepEqual(st, { code: Status.RESOURCE_EXHAUSTED, details: 'too busy', orca: Buffer.from('load') });
});
