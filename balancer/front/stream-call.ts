// ModelStreamInfer at the balancer's front: each message is routed on its
// own (per_message, the default) or, under `stream_routing: per_stream`, the
// first one pins the stream to an endpoint and the rest follow it, framing
// read but not routed (stream-pinned.ts). Listeners are module functions with the stream as
// `this`: no closures per stream beyond the router's completion callback per
// message.
import type * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../common/clock';
import { Status } from '../../protocol/status';
import type { StreamRouting } from '../../routing-config/types';
import { frame, MessageReader } from '../../protocol/grpc-wire';
import type { H2Stream } from '../../http2/stream';
import { replyStatus } from '../../protocol/grpc-answer';
import { routeCall } from './grpc-call';
import { PinnedStream } from './stream-pinned';
import type { RouteOutcome } from '../routing/route-call';
import type { Router } from '../routing/router';
import { streamKeyOf } from '../upstream/pool';
import type { CancelFn } from '../upstream/types';
import { bytesField, lastBytesField, stringField } from '../../protocol/wire-fields';

/**
 * Messages of one client stream routed and not yet answered past which the stream is not read
 * until half of them are answered; HTTP/2 flow control then holds the client back, so a client
 * sending faster than the sidecars answer costs the balancer bounded memory.
 */
export const MAX_STREAM_IN_FLIGHT = 1024;

const STREAM = Symbol('infergate.front.stream');

/** One client stream's state. */
export interface StreamCall {
  /** The client stream it hangs off (the reader's per-message callback gets the state, not the stream). */
  readonly stream: CallStream;
  readonly router: Router;
  /** What its deadline is on. */
  readonly clock: Clock;
  readonly md: grpc.Metadata;
  readonly deadline: number;
  readonly reader: MessageReader;
  /** streamKeyOf(md): messages of streams with equal metadata share upstream streams. */
  readonly streamKey: string;
  /** The messages routed and not yet answered. */
  readonly open: Set<CancelFn>;
  /** The client half-closed. */
  ended: boolean;
  /** How it is balanced, decided by its first well-formed message. */
  routing: StreamRouting | undefined;
  /** Under per_stream: where its messages go. */
  pin: PinnedStream | undefined;
  /** Its grpc-encoding header (MessageReader: the status of a compressed message). */
  readonly encoding: string | string[] | undefined;
}

type CallStream = H2Stream & { [STREAM]: StreamCall };

/**
 * Takes a ModelStreamInfer call whose headers were accepted and answered (with OK trailers set):
 * from here on its messages are routed, or its bytes passed through once pinned. encoding: its grpc-encoding header.
 */
export function startStreamCall(
  h2: H2Stream,
  router: Router,
  clock: Clock,
  md: grpc.Metadata,
  deadline: number,
  encoding?: string | string[],
): void {
  const stream = h2 as CallStream;
  stream[STREAM] = {
    stream,
    router,
    clock,
    md,
    deadline,
    reader: new MessageReader(encoding),
    streamKey: streamKeyOf(md),
    open: new Set(),
    ended: false,
    routing: undefined,
    pin: undefined,
    encoding,
  };
  stream.on('data', onStreamData);
  stream.on('end', onStreamEnd);
  stream.on('close', onStreamClose);
  stream.on('drain', onStreamDrain);
}

/** Reads a paused stream again once it has room on both sides: few enough open messages, and its answers flushed. */
function resumeIfRoom(stream: CallStream): void {
  if (stream.isPaused() && !stream.destroyed && !stream.writableNeedDrain && stream[STREAM].open.size <= MAX_STREAM_IN_FLIGHT / 2)
    stream.resume();
}

/** 'drain' of a client stream: answers that waited for a slow reader have gone out. */
function onStreamDrain(this: CallStream): void {
  // A pinned stream resumes on its upstream's 'drain' (stream-pinned.ts), unless it paused before it was pinned.
  if (!this[STREAM].pin || !this[STREAM].pin!.holdsClient) resumeIfRoom(this);
}

function onStreamMessage(msg: Buffer, ctx: StreamCall): void {
  streamMessage(ctx.stream, ctx, msg);
}

function onStreamData(this: CallStream, chunk: Buffer): void {
  const ctx = this[STREAM];
  if (ctx.pin) return ctx.pin.fromClient(chunk);
  if (ctx.reader.push(chunk, onStreamMessage, ctx)) {
    // A message in this chunk pinned the stream: it and the messages after it went to the pin as
    // messages; the unfinished one's bytes go as read, and every later chunk too.
    const pin = ctx.pin as PinnedStream | undefined; // set by streamMessage during push
    if (pin) for (const part of ctx.reader.takeBuffered()) pin.fromClient(part);
    return;
  }
  // A malformed stream ends with its status; what it had routed is cancelled, not answered after the end.
  replyStatus(this, ctx.reader.error!.code, ctx.reader.error!.message);
  onStreamClose.call(this);
}

function onStreamEnd(this: CallStream): void {
  const ctx = this[STREAM];
  ctx.ended = true;
  if (ctx.pin) ctx.pin.clientEnd();
  else if (ctx.open.size === 0) this.end();
}

function onStreamClose(this: CallStream): void {
  this[STREAM].pin?.clientClosed();
  const open = this[STREAM].open;
  for (const cancel of [...open]) cancel();
  open.clear();
}

/** Writes one ModelStreamInferResponse whose infer_response is msg, framed, in one allocation; false when the stream's buffer is full. */
function writeStreamResponse(stream: H2Stream, msg: Buffer): boolean {
  const lenBytes = msg.length < 0x80 ? 1 : msg.length < 0x4000 ? 2 : msg.length < 0x200000 ? 3 : msg.length < 0x10000000 ? 4 : 5;
  const body = 1 + lenBytes + msg.length;
  const out = Buffer.allocUnsafe(5 + body);
  out[0] = 0;
  out.writeUInt32BE(body, 1);
  out[5] = (2 << 3) | 2;
  let n = msg.length;
  let pos = 6;
  while (n > 0x7f) {
    out[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  out[pos++] = n;
  msg.copy(out, pos);
  return stream.write(out); // the session sends everything written in a tick in one socket write
}

/**
 * One message of a client stream. The first well-formed one decides the stream's routing; under
 * per_message each is routed on its own and its answer (or error) written back as it comes.
 */
function streamMessage(stream: CallStream, ctx: StreamCall, msg: Buffer): void {
  if (ctx.pin) return ctx.pin.fromMessage(msg);
  if (stream.writableEnded) return; // ended because no endpoint could be pinned
  const rc = routeCall(msg, ctx.md, ctx.deadline, ctx.streamKey);
  if (!('bytes' in rc)) {
    if (!stream.write(frame(streamError(msg, rc)))) stream.pause();
    return;
  }
  if (ctx.routing === undefined) {
    ctx.routing = ctx.router.streamRouting(rc);
    if (ctx.routing === 'per_stream') {
      const pinned = ctx.router.pinStream(rc);
      if (!('pool' in pinned)) {
        replyStatus(stream, pinned.code, pinned.details);
        return;
      }
      // A re-pin (a drain, a failed leg) keeps the route and version this first message chose.
      const repin = (avoid: readonly string[]) => ctx.router.pinStream(rc, { version: pinned.version, avoid });
      ctx.pin = new PinnedStream(stream, pinned, repin, ctx.md, ctx.deadline, ctx.clock, ctx.encoding);
      return ctx.pin.fromMessage(msg);
    }
  }
  const open = ctx.open;
  let cancel: CancelFn | undefined;
  let answered = false;
  cancel = ctx.router.infer(rc, (o) => {
    answered = true;
    if (cancel) open.delete(cancel);
    if (!stream.destroyed && !stream.closed && !stream.writableEnded) {
      const room = o.code === Status.OK && o.response ? writeStreamResponse(stream, o.response) : stream.write(frame(streamError(msg, o)));
      // A client that does not read its answers is not read either, until they have gone out ('drain').
      if (!room) stream.pause();
      else if (stream.isPaused()) resumeIfRoom(stream);
    }
    if (ctx.ended && open.size === 0 && !stream.destroyed) stream.end();
  });
  if (answered) return;
  open.add(cancel);
  if (open.size >= MAX_STREAM_IN_FLIGHT) stream.pause();
}

/**
 * A ModelStreamInferResponse carrying an error: error_message (field 1) with
 * the sidecar's `[STATUS] message` convention, and infer_response (field 2)
 * holding only the request's id (field 3), so clients can match it.
 */
function streamError(request: Buffer, o: RouteOutcome): Buffer {
  let id: Buffer | undefined;
  try {
    id = lastBytesField(request, 3);
  } catch {
    id = undefined; // a malformed request has no id to echo
  }
  return Buffer.concat([stringField(1, `[${Status[o.code]}] ${o.details}`), bytesField(2, id ? bytesField(3, id) : Buffer.alloc(0))]);
}
