// What one client call of the balancer's gRPC face (h2-front.ts) carries, and
// how a call is answered: a message with status OK, a status alone, or, in a
// stream, a message with error_message set. Shared by the unary and stream
// paths (h2-front-stream.ts).
import type * as grpc from '@grpc/grpc-js';
import { Status } from '../../protocol/status';
import type { StreamRouting } from '../../routing-config/types';
import { encodeGrpcMessage, frame, type MessageReader } from '../../protocol/grpc-wire';
import { RESPONSE_HEADERS, TRAILERS_ONLY, WITH_TRAILERS } from '../../sidecar/server/h2-server';
import { preEncoded, type H2Stream } from '../../http2/stream';
import type { Front } from './grpc-front';
import { MalformedRequest, peekRoute } from '../routing/peek-request';
import type { RouteCall, RouteOutcome } from '../routing/route-call';
import type { Router } from '../routing/router';
import type { PinnedStream } from './stream-pinned';
import type { CancelFn } from '../upstream/types';
import { bytesField, lastBytesField, stringField } from '../../protocol/wire-fields';

/** The methods the front serves. */
export type Kind = 'infer' | 'ready' | 'metadata' | 'live' | 'serverReady' | 'serverMetadata' | 'stream';

export const CTX = Symbol('infergate.front');

/** One client call's state. */
export interface CallCtx {
  readonly front: Front;
  readonly router: Router;
  readonly kind: Kind;
  readonly md: grpc.Metadata;
  readonly deadline: number;
  readonly reader: MessageReader;
  /** Unary: the request message. */
  request: Buffer | undefined;
  messages: number;
  /** Unary: cancels the routed call. Stream: the messages routed and not yet answered. */
  cancel: CancelFn | undefined;
  readonly open: Set<CancelFn> | undefined;
  readonly streamKey: string;
  ended: boolean;
  /** Stream: how it is balanced, decided by its first well-formed message. */
  routing: StreamRouting | undefined;
  /** Stream under per_stream: where its bytes go. */
  pin: PinnedStream | undefined;
}

export type FrontStream = H2Stream & { [CTX]: CallCtx };

// Every call's answer headers and OK trailers are these two objects: encoded once.
preEncoded(RESPONSE_HEADERS);
const OK_TRAILERS = preEncoded({ 'grpc-status': '0' });

export function noop(): void {}

export function sendOkTrailers(this: H2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** Ends a call with a status and no message (a trailers-only response). */
export function replyStatus(stream: H2Stream, code: Status, details: string): void {
  if (stream.destroyed || stream.closed) return;
  // Reading goes on (and is ignored): a stream paused for backpressure would otherwise never finish closing.
  stream.resume();
  if (stream.headersSent) {
    // A stream already answering: the status goes in its trailers.
    stream.removeAllListeners('wantTrailers');
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(details) }));
    stream.end();
    return;
  }
  stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(details) }, TRAILERS_ONLY);
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

/** The RouteCall for request bytes, or a status to answer with. */
export function routeCall(bytes: Buffer, ctx: CallCtx): RouteCall | RouteOutcome {
  try {
    const { model, version } = peekRoute(bytes);
    const objective = ctx.md.get('objective')[0];
    return {
      bytes, model, version, objective: objective === undefined ? undefined : String(objective), metadata: ctx.md, deadline: ctx.deadline,
      streamKey: ctx.kind === 'stream' ? ctx.streamKey : undefined,
    };
  } catch (e) {
    if (e instanceof MalformedRequest) return { code: Status.INVALID_ARGUMENT, details: `malformed request: ${e.message}` };
    throw e;
  }
}

/**
 * A ModelStreamInferResponse carrying an error: error_message (field 1) with
 * the sidecar's `[STATUS] message` convention, and infer_response (field 2)
 * holding only the request's id (field 3), so clients can match it.
 */
export function streamError(request: Buffer, o: RouteOutcome): Buffer {
  let id: Buffer | undefined;
  try {
    id = lastBytesField(request, 3);
  } catch {
    id = undefined; // a malformed request has no id to echo
  }
  return Buffer.concat([stringField(1, `[${Status[o.code]}] ${o.details}`), bytesField(2, id ? bytesField(3, id) : Buffer.alloc(0))]);
}
