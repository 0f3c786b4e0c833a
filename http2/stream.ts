// One server-side HTTP/2 stream of session.ts. Its surface is the part of
// node:http2's ServerHttp2Stream that gRPC serving uses (respond, write, end
// with trailers, pause/resume, 'data' 'end' 'close' 'drain' 'wantTrailers'),
// so the balancer's front reads the same either way; underneath it is a plain
// object: no Duplex machinery, no C++ handle, DATA payloads handed over as
// slices of the socket's read buffer.
//
// Semantics kept from node: 'end' comes after the last 'data'; 'close' once,
// after both sides ended or a reset; resume() delivers what arrived while
// paused on a later tick; write() returns false while the stream's data waits
// for flow-control window or the socket is backed up, and 'drain' follows.
// Differences: 'wantTrailers' is emitted synchronously from end() once the
// data is framed (listeners are registered before end() everywhere we serve);
// no 'error' events: a reset is a 'close' with rstCode set.
import { EventEmitter } from 'node:events';
import type { OutgoingHttpHeaders, IncomingHttpHeaders } from 'node:http2';
import { H2Error } from './frames';
import { encodeHeaders } from './hpack';

/** Options of respond(), as node:http2 names them. */
export interface RespondOptions {
  readonly endStream?: boolean;
  readonly waitForTrailers?: boolean;
}

/**
 * What a stream asks of its connection (session.ts's H2Session, which implements it): written
 * here so that this file does not import the session that creates its streams.
 */
export interface StreamSession {
  /** True while output waits on the socket. */
  readonly backedUp: boolean;
  sendHeaders(s: H2Stream, block: Buffer, endStream: boolean): void;
  sendData(s: H2Stream, data: Buffer): void;
  sendEndStream(s: H2Stream): void;
  waitForDrain(s: H2Stream): void;
  resetStream(s: H2Stream, code: H2Error): void;
  closeStream(s: H2Stream, code: number): void;
  consumed(s: H2Stream, n: number): void;
  buffering(n: number): void;
}

const ENCODED = new WeakMap<object, Buffer>();

/** Encodes a header object (pseudo-headers first). */
export function encodeHeaderObject(h: OutgoingHttpHeaders): Buffer {
  const fields: string[] = [];
  const rest: string[] = [];
  for (const name in h) {
    const v = h[name];
    if (v === undefined) continue;
    const into = name.charCodeAt(0) === 58 /* ':' */ ? fields : rest;
    if (Array.isArray(v)) for (const one of v) into.push(name.toLowerCase(), String(one));
    else into.push(name.toLowerCase(), String(v));
  }
  for (const f of rest) fields.push(f);
  return encodeHeaders(fields);
}

/**
 * Marks a constant header object as pre-encoded: respond() and sendTrailers() with this very
 * object reuse its block. The answer headers and OK trailers of every gRPC call are the same
 * two objects; encoding them per call was ~1.5 us of the front's ~12 (cpu profile, 2 cores).
 */
export function preEncoded<T extends OutgoingHttpHeaders>(h: T): T {
  ENCODED.set(h, encodeHeaderObject(h));
  return h;
}

function blockOf(h: OutgoingHttpHeaders): Buffer {
  return ENCODED.get(h) ?? encodeHeaderObject(h);
}

export class H2Stream extends EventEmitter {
  /** Set when the peer reset the stream or the connection ended it; 0 otherwise. */
  rstCode = 0;
  /** Flow-control window the peer granted for this stream's DATA (bytes). */
  sendWindow: number;
  /** DATA payload bytes received and not yet credited back with WINDOW_UPDATE. */
  unacked = 0;
  /** What the peer may still send before a WINDOW_UPDATE (bytes). */
  recvWindow: number;
  /** DATA payloads waiting for window, in order, and their bytes. */
  readonly queue: Buffer[] = [];
  queued = 0;
  /** A trailers block given while DATA still waited for window: it goes out after the DATA. */
  private pendingTrailers: Buffer | undefined;
  remoteEnded = false;
  localEnded = false;
  private ended = false;
  private isClosed = false;
  private sentHeaders = false;
  private trailers = false;
  private paused = false;
  /** What arrived while paused, and the window bytes (padding included) each piece is credited with once delivered. */
  private inbox: Buffer[] | undefined;
  private inboxCredit: number[] = [];
  private endPending = false;
  private endEmitted = false;
  needDrain = false;

  /**
   * headerBytes: the request's header list size as RFC 9113 6.5.2 counts it (name + value + 32 per
   * field), for the owner to hold against its limit.
   */
  constructor(
    readonly session: StreamSession,
    readonly id: number,
    readonly headers: IncomingHttpHeaders,
    sendWindow: number,
    recvWindow: number,
    readonly headerBytes = 0,
  ) {
    super();
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  get closed(): boolean {
    return this.isClosed;
  }
  get destroyed(): boolean {
    return this.isClosed;
  }
  get headersSent(): boolean {
    return this.sentHeaders;
  }
  get writableEnded(): boolean {
    return this.ended;
  }
  get writableNeedDrain(): boolean {
    return this.needDrain;
  }
  isPaused(): boolean {
    return this.paused;
  }

  /** Sends the response headers; endStream makes it the whole answer (trailers-only). */
  respond(headers: OutgoingHttpHeaders, opts?: RespondOptions): void {
    if (this.isClosed || this.sentHeaders) return;
    this.sentHeaders = true;
    this.trailers = opts?.waitForTrailers === true;
    const end = opts?.endStream === true;
    this.session.sendHeaders(this, blockOf(headers), end);
    if (end) {
      this.ended = true;
      this.endedLocally();
    }
  }

  /** Queues DATA; false once it must wait (window or socket), with 'drain' to follow. */
  write(data: Buffer): boolean {
    if (this.isClosed || this.ended) return false;
    if (!this.sentHeaders) this.respond({ ':status': 200 });
    if (data.length > 0) this.session.sendData(this, data);
    if (this.queued > 0 || this.session.backedUp) {
      this.needDrain = true;
      // Waiting on the socket alone (no window wait, which pump() ends): the session's next drain pass tells it.
      if (this.queued === 0) this.session.waitForDrain(this);
      return false;
    }
    return true;
  }

  /** Ends the answer (after data, if given): trailers when respond() asked for them, else END_STREAM. */
  end(data?: Buffer | string): void {
    if (this.isClosed || this.ended) return;
    if (data !== undefined) this.write(typeof data === 'string' ? Buffer.from(data) : data);
    this.ended = true;
    if (!this.sentHeaders) this.respond({ ':status': 200 });
    if (this.queued === 0) this.finishData();
  }

  /** The trailers of an answer started with waitForTrailers. */
  sendTrailers(headers: OutgoingHttpHeaders): void {
    if (this.isClosed || this.localEnded || this.pendingTrailers) return;
    this.ended = true;
    if (this.queued > 0) {
      this.pendingTrailers = blockOf(headers);
      return;
    }
    this.session.sendHeaders(this, blockOf(headers), true);
    this.endedLocally();
  }

  /** @internal The DATA that waited for window has gone out: what end() or sendTrailers() asked for follows. */
  queueSent(): void {
    if (this.isClosed || this.localEnded) return;
    const t = this.pendingTrailers;
    if (t) {
      this.pendingTrailers = undefined;
      this.session.sendHeaders(this, t, true);
      this.endedLocally();
    } else if (this.ended) this.finishData();
  }

  /** Resets the stream with code (NO_ERROR: we are done, stop sending). */
  close(code: number = H2Error.NO_ERROR): void {
    if (this.isClosed) return;
    this.session.resetStream(this, code);
  }

  /** Resets the stream with CANCEL. */
  destroy(): void {
    this.close(H2Error.CANCEL);
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    if (this.inbox || this.endPending) process.nextTick(deliverInbox, this);
    return this;
  }

  /**
   * @internal A DATA payload from the session; credit is the frame's flow-controlled length
   * (padding included), given back to the peer once the payload is delivered.
   */
  received(chunk: Buffer, credit: number): void {
    if (this.paused || this.inbox) {
      // A slice pins its whole socket read: a small one held for long is copied out (one padded byte must not pin a chunk).
      const keep = chunk.length * 4 < chunk.buffer.byteLength ? Buffer.from(chunk) : chunk;
      (this.inbox ??= []).push(keep);
      this.inboxCredit.push(credit);
      this.session.buffering(keep.length);
      return;
    }
    if (chunk.length > 0) this.emit('data', chunk);
    this.session.consumed(this, credit);
  }

  /** @internal END_STREAM from the peer, after remoteEnded was set when its frame arrived: 'end' once the data before it is delivered. */
  receivedEnd(): void {
    this.remoteEnded = true;
    if (this.endEmitted || this.isClosed) return;
    if (this.paused || this.inbox) {
      this.endPending = true;
      return;
    }
    this.endEmitted = true;
    this.emit('end');
    if (this.localEnded) this.session.closeStream(this, 0);
  }

  /** @internal Called once the queue has gone out: ends it as end() asked. */
  finishData(): void {
    if (this.localEnded) return;
    if (this.trailers) {
      this.emit('wantTrailers');
      // A stream whose trailers no listener sent ends with an empty HEADERS block, as node does.
      if (!this.localEnded) this.sendTrailers({});
      return;
    }
    this.session.sendEndStream(this);
    this.endedLocally();
  }

  /** @internal The queue drained and the socket has room. */
  drained(): void {
    if (!this.needDrain || this.isClosed) return;
    this.needDrain = false;
    this.emit('drain');
  }

  /** @internal Marks the stream closed and tells listeners, once. */
  markClosed(code: number): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.rstCode = code;
    if (this.inbox) for (const b of this.inbox) this.session.buffering(-b.length);
    this.inbox = undefined;
    this.inboxCredit = [];
    this.queue.length = 0;
    this.queued = 0;
    this.emit('close');
  }

  /** @internal What arrived while paused, in order; stops if a 'data' listener pauses again. */
  deliverInbox(): void {
    const inbox = this.inbox;
    while (inbox && inbox.length > 0 && !this.paused && !this.isClosed) {
      const chunk = inbox.shift()!;
      const credit = this.inboxCredit.shift()!;
      this.session.buffering(-chunk.length);
      if (chunk.length > 0) this.emit('data', chunk);
      this.session.consumed(this, credit);
    }
    if (this.paused || this.isClosed) return;
    this.inbox = undefined;
    if (this.endPending) {
      this.endPending = false;
      this.receivedEnd();
    }
  }

  private endedLocally(): void {
    this.localEnded = true;
    this.ended = true;
    // Answered before the client finished sending: tell it to stop (RST_STREAM NO_ERROR, RFC 9113 8.1).
    if (!this.remoteEnded) this.session.resetStream(this, H2Error.NO_ERROR);
    else this.session.closeStream(this, 0);
  }
}

function deliverInbox(s: H2Stream): void {
  s.deliverInbox();
}
