// How a call of the balancer's gRPC face (grpc-front.ts) is answered: a
// message with status OK, or a status alone. Shared by the unary
// (unary-call.ts) and stream (stream-call.ts) paths.
import { Status } from '../../protocol/status';
import { frame } from '../../protocol/grpc-wire';
import { replyStatus, RESPONSE_HEADERS, WITH_TRAILERS } from '../../protocol/grpc-answer';
import { preEncoded, type H2Stream } from '../../http2/stream';
import type { RouteOutcome } from '../routing/route-call';

// Every call's answer headers and OK trailers are these two objects: encoded once.
preEncoded(RESPONSE_HEADERS);
const OK_TRAILERS = preEncoded({ 'grpc-status': '0' });

export function sendOkTrailers(this: H2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** Answers a unary call with one message and status OK. */
export function replyMessage(stream: H2Stream, msg: Buffer): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(RESPONSE_HEADERS, WITH_TRAILERS);
  // 'wantTrailers' fires once per stream: on() spares the wrapper once() allocates.
  stream.on('wantTrailers', sendOkTrailers);
  stream.end(frame(msg));
}

export function reply(stream: H2Stream, o: RouteOutcome): void {
  if (o.code === Status.OK && o.response) replyMessage(stream, o.response);
  else replyStatus(stream, o.code, o.details);
}
