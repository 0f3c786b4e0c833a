// ModelStreamInfer at the balancer's front: each message is routed on its
// own (per_message, the default) or, under `stream_routing: per_stream`, the
// first one pins the stream to an endpoint and the rest pass through as bytes
// (stream-pinned.ts). Listeners are module functions with the stream as
// `this`: no closures per stream beyond the router's completion callback per
// message.
import { Status } from '../../protocol/status';
import { frame } from '../../protocol/grpc-wire';
import type { H2Stream } from '../../http2/stream';
import { CTX, replyStatus, routeCall, streamError, type CallCtx, type FrontStream } from './answer';
import { PinnedStream } from './stream-pinned';
import type { CancelFn } from '../upstream/types';

/**
 * Messages of one client stream routed and not yet answered past which the stream is not read
 * until half of them are answered; HTTP/2 flow control then holds the client back, so a client
 * sending faster than the sidecars answer costs the balancer bounded memory.
 */
export const MAX_STREAM_IN_FLIGHT = 1024;

/** Reads a paused stream again once it has room on both sides: few enough open messages, and its answers flushed. */
function resumeIfRoom(stream: FrontStream): void {
  if (stream.isPaused() && !stream.destroyed && !stream.writableNeedDrain && stream[CTX].open!.size <= MAX_STREAM_IN_FLIGHT / 2) stream.resume();
}

/** 'drain' of a client stream: answers that waited for a slow reader have gone out. */
export function onStreamDrain(this: FrontStream): void {
  // A pinned stream resumes on its upstream's 'drain' (stream-pinned.ts), unless it paused before it was pinned.
  if (!this[CTX].pin || !this[CTX].pin!.waitingForUpstream) resumeIfRoom(this);
}

function onStreamMessage(msg: Buffer, ctx: CallCtx & { stream?: FrontStream }): void {
  streamMessage(ctx.stream!, ctx, msg);
}

export function onStreamData(this: FrontStream, chunk: Buffer): void {
  const ctx = this[CTX] as CallCtx & { stream?: FrontStream };
  if (ctx.pin) return ctx.pin.fromClient(chunk);
  ctx.stream = this;
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

export function onStreamEnd(this: FrontStream): void {
  const ctx = this[CTX];
  ctx.ended = true;
  if (ctx.pin) ctx.pin.clientEnded();
  else if (ctx.open!.size === 0) this.end();
}

export function onStreamClose(this: FrontStream): void {
  this[CTX].pin?.clientClosed();
  const open = this[CTX].open!;
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
function streamMessage(stream: FrontStream, ctx: CallCtx, msg: Buffer): void {
  if (ctx.pin) return ctx.pin.fromMessage(msg);
  if (stream.writableEnded) return; // ended because no endpoint could be pinned
  const rc = routeCall(msg, ctx);
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
      ctx.pin = new PinnedStream(stream, pinned, ctx.md, ctx.deadline);
      return ctx.pin.fromMessage(msg);
    }
  }
  const open = ctx.open!;
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
