// The server side of one HTTP/2 connection, framed in JavaScript straight
// off the socket: preface and SETTINGS, HPACK (hpack.ts), streams opened by
// HEADERS (+CONTINUATION), DATA with flow control both ways, PING, RST_STREAM,
// WINDOW_UPDATE, GOAWAY. Streams are stream.ts.
//
// Why not node:http2: its per-stream work (nghttp2 callbacks into JS, a
// Duplex per stream, a write request per frame) was the balancer's floor. A
// no-routing node:http2 front cost ~74 us of CPU per proxied unary call where
// HAProxy cost 36-44 us (bench:cost, 2 cores, 2026-12-01); here one socket
// read yields every frame in it, and every frame written in one tick leaves
// in one socket write.
//
// What it is not: a client, a TLS endpoint (the balancer serves h2c, like the
// sidecar), or a general web server (no priorities, no push).
import type * as net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http2';
import {
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  Flag,
  Frame,
  FRAME_HEADER,
  goawayFrame,
  H2Error,
  headersFrames,
  MAX_WINDOW,
  pingAckFrame,
  pingFrame,
  PREFACE,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  windowUpdateFrame,
  writeFrameHeader,
} from './frames';
import { HpackDecoder, HpackError } from './hpack';
import { H2Stream, type StreamSession } from './stream';

/** Limits this side advertises and enforces. */
export interface SessionLimits {
  /** Streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxConcurrentStreams: number;
  /** Per-stream receive window (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly streamWindow: number;
  /** Connection receive window, opened with a WINDOW_UPDATE at start. */
  readonly connectionWindow: number;
  /** Header list size advertised (RFC 9113 6.5.2); a stream's headerBytes tells its owner when a client sent more. */
  readonly maxHeaderListSize: number;
  /**
   * Streams a client may reset at once, and how fast that allowance refills (per second): past
   * it the connection ends with ENHANCE_YOUR_CALM. A client opening and resetting streams in a loop
   * (HTTP/2 "rapid reset", CVE-2023-44487) makes the balancer route every one of them while the
   * concurrency limit never binds. nghttp2's defaults, which node:http2 applied to our front before.
   */
  readonly resetBurst: number;
  readonly resetsPerSecond: number;
}

export const DEFAULT_LIMITS: SessionLimits = {
  maxConcurrentStreams: 4096,
  // Large tensors share connections: 64 KiB windows would crawl. The sidecar's node:http2 server (sidecar/server/h2-server.ts WINDOWS) uses the same two.
  streamWindow: 4 * 1024 * 1024,
  connectionWindow: 16 * 1024 * 1024,
  maxHeaderListSize: 64 * 1024,
  resetBurst: 1000,
  resetsPerSecond: 33,
};

/** A header block larger than this (bytes, across CONTINUATION frames) ends the connection. */
const MAX_HEADER_BLOCK = 1024 * 1024;
/** Pending output past which writers are told to wait (socket backpressure). */
const HIGH_WATER = 1024 * 1024;
/** Output at most this large is copied into one buffer per flush; larger goes out as a writev. */
const CONCAT_LIMIT = 64 * 1024;
/**
 * Bytes waiting in the socket past which the client is not read until they drain: a client that
 * sends (PINGs, calls) and never reads would otherwise grow our output without bound (the
 * CVE-2019-9512/9515 class, which node:http2 bounds with maxSessionMemory).
 */
const MAX_UNREAD_OUTPUT = 8 * 1024 * 1024;
/** Bytes held for paused streams past which the connection window is not credited: bounds a connection's buffered input. */
const MAX_BUFFERED_INPUT = 32 * 1024 * 1024;
/** How long a connection we ended may stay half-open before it is cut (a client ignoring our FIN). */
const LINGER_MS = 5_000;
/** The PING that marks our first GOAWAY as read, and how long we wait for its answer. */
const DRAIN_PING = 0x696e666572676174n; // "infergat"
const DRAIN_PING_WAIT_MS = 1_000;
/** A dynamic table size update to 0 (RFC 7541 6.3): we never index, so 0 suits any table size the client sets. */
const TABLE_SIZE_ZERO = Buffer.from([0x20]);

/** What a session hands its owner. */
export interface SessionEvents {
  /** A new stream with its request headers; an exception it throws resets only that stream. */
  onStream(stream: H2Stream, headers: IncomingHttpHeaders): void;
  /** The connection is gone. */
  onClose(session: H2Session): void;
  /** A stream listener threw (the stream was reset): for the owner's log. */
  onError?(err: unknown): void;
}

class ConnectionError extends Error {
  constructor(
    readonly code: H2Error,
    message: string,
  ) {
    super(message);
  }
}

function flushSession(s: H2Session): void {
  s.flush();
}

function finishDrain(s: H2Session): void {
  s.finishDrain();
}

function destroySocket(socket: net.Socket): void {
  socket.destroy();
}

export class H2Session implements StreamSession {
  readonly streams = new Map<number, H2Stream>();
  private readonly hpack = new HpackDecoder(4096);
  private readonly headerFields: string[] = [];
  private buffered: Buffer | undefined;
  private prefaceSeen = false;
  private settingsSeen = false;
  private lastStreamId = 0;
  /** HEADERS without END_HEADERS: the block so far, and whose it is. */
  private headerParts: Buffer[] | undefined;
  private headerPartsBytes = 0;
  private headerStream = 0;
  private headerFlags = 0;
  private peerWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvUnacked = 0;
  private readonly blocked = new Set<H2Stream>();
  private readonly waitingDrain = new Set<H2Stream>();
  private out: Buffer[] = [];
  private outBytes = 0;
  private flushScheduled = false;
  private socketFull = false;
  private goingAway = false;
  private ended = false;
  private readsPaused = false;
  /** close() sent the first GOAWAY and its PING; finishDrain() follows. */
  private draining = false;
  private drainTimer: NodeJS.Timeout | undefined;
  /** Bytes in paused streams' inboxes. */
  private bufferedInput = 0;
  /**
   * The next header block starts with a table size update: on the first block (so the client's
   * decoder knows our table is empty whatever its SETTINGS say) and after every HEADER_TABLE_SIZE
   * the client sets (nghttp2 requires one after a decrease, RFC 7541 4.2).
   */
  private tableSizeUpdate = true;
  /** The rapid-reset allowance (SessionLimits.resetBurst), refilled as time passes. */
  private resetTokens: number;
  private resetRefilledAt = performance.now();

  constructor(
    readonly socket: net.Socket,
    private readonly events: SessionEvents,
    private readonly limits: SessionLimits = DEFAULT_LIMITS,
  ) {
    this.resetTokens = limits.resetBurst;
    socket.setNoDelay(true);
    // A client host that vanished without FIN or RST (a partition) is found by the kernel, not kept forever.
    socket.setKeepAlive(true, 30_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onSocketDrain());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.onSocketClose());
    this.queue(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, limits.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, limits.streamWindow],
        [Setting.MAX_HEADER_LIST_SIZE, limits.maxHeaderListSize],
      ]),
    );
    if (limits.connectionWindow > DEFAULT_WINDOW) this.queue(windowUpdateFrame(0, limits.connectionWindow - DEFAULT_WINDOW));
  }

  /** True while output waits on the socket: writers should pause until their 'drain'. */
  get backedUp(): boolean {
    return this.socketFull || this.outBytes > HIGH_WATER;
  }

  /** Stops taking streams (GOAWAY); the connection ends once the open ones have. */
  close(): void {
    if (this.ended || this.draining || this.goingAway) return;
    // Two steps (RFC 9113 6.8): a GOAWAY naming no limit plus a PING, so calls the client sent before
    // it read the GOAWAY are still served; the final GOAWAY, after the PING's answer (or a second),
    // names the last stream taken. One GOAWAY at once would refuse calls already on the wire.
    this.draining = true;
    this.queue(goawayFrame(MAX_WINDOW, H2Error.NO_ERROR, 'server shutting down'));
    this.queue(pingFrame(DRAIN_PING));
    this.drainTimer = setTimeout(finishDrain, DRAIN_PING_WAIT_MS, this);
    this.drainTimer.unref();
  }

  /** @internal The client has seen our first GOAWAY: take no new streams, and end once the open ones have. */
  finishDrain(): void {
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.ended || this.goingAway) return;
    this.goingAway = true;
    this.queue(goawayFrame(this.lastStreamId, H2Error.NO_ERROR, 'server shutting down'));
    if (this.streams.size === 0) this.endSocket();
  }

  /** Ends the connection now: open streams close with CANCEL. */
  destroy(): void {
    this.socket.destroy();
  }

  // ---- output -------------------------------------------------------------

  /** @internal Queues bytes for the next flush (this tick). */
  queue(buf: Buffer): void {
    this.out.push(buf);
    this.outBytes += buf.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(flushSession, this);
    }
  }

  /** @internal Writes what was queued, as one buffer when it is small. */
  flush(): void {
    this.flushScheduled = false;
    const out = this.out;
    if (out.length === 0 || this.socket.destroyed || this.socket.writableEnded) {
      this.out = [];
      this.outBytes = 0;
      return;
    }
    let ok: boolean;
    if (out.length === 1) ok = this.socket.write(out[0]);
    else if (this.outBytes <= CONCAT_LIMIT) ok = this.socket.write(Buffer.concat(out, this.outBytes));
    else {
      this.socket.cork();
      for (const b of out) this.socket.write(b);
      this.socket.uncork();
      ok = !this.socket.writableNeedDrain;
    }
    this.out = [];
    this.outBytes = 0;
    if (!ok) {
      this.socketFull = true;
      if (this.socket.writableLength > MAX_UNREAD_OUTPUT && !this.readsPaused) {
        this.readsPaused = true;
        this.socket.pause();
      }
    } else if (this.waitingDrain.size > 0) this.drainPass();
  }

  /** @internal */
  sendHeaders(s: H2Stream, block: Buffer, endStream: boolean): void {
    if (this.tableSizeUpdate) {
      this.tableSizeUpdate = false;
      block = Buffer.concat([TABLE_SIZE_ZERO, block]);
    }
    this.queue(headersFrames(s.id, block, endStream, this.peerMaxFrame));
  }

  /** @internal A stream whose write() returned false with nothing waiting for window: it hears 'drain' when the socket has room. */
  waitForDrain(s: H2Stream): void {
    this.waitingDrain.add(s);
  }

  /** @internal Bytes entering (n > 0) or leaving (n < 0) paused streams' inboxes. */
  buffering(n: number): void {
    this.bufferedInput += n;
    if (n < 0) this.creditConnection();
  }

  /** @internal Frames data as far as both windows allow; the rest waits on the stream. */
  sendData(s: H2Stream, data: Buffer): void {
    if (s.queued > 0) {
      s.queue.push(data);
      s.queued += data.length;
      return;
    }
    const rest = this.frameData(s, data);
    if (rest) {
      s.queue.push(rest);
      s.queued += rest.length;
      this.blocked.add(s);
    }
  }

  /** @internal An empty DATA frame with END_STREAM. */
  sendEndStream(s: H2Stream): void {
    const f = Buffer.allocUnsafe(FRAME_HEADER);
    writeFrameHeader(f, 0, 0, Frame.DATA, Flag.END_STREAM, s.id);
    this.queue(f);
  }

  /** @internal Sends RST_STREAM and closes the stream. */
  resetStream(s: H2Stream, code: H2Error): void {
    this.queue(rstStreamFrame(s.id, code));
    this.closeStream(s, code);
  }

  /** @internal Forgets a stream: both sides ended, or reset. */
  closeStream(s: H2Stream, code: number): void {
    if (!this.streams.delete(s.id)) return;
    this.blocked.delete(s);
    this.waitingDrain.delete(s);
    s.markClosed(code);
    if (this.goingAway && this.streams.size === 0) this.endSocket();
  }

  /** @internal A stream's listener took n DATA bytes: credit them back once half its window is used. */
  consumed(s: H2Stream, n: number): void {
    if (s.remoteEnded || s.closed) return;
    s.unacked += n;
    if (s.unacked >= this.limits.streamWindow >>> 1) {
      this.queue(windowUpdateFrame(s.id, s.unacked));
      s.recvWindow += s.unacked;
      s.unacked = 0;
    }
  }

  /** Writes DATA frames from data within the windows; returns what did not fit. */
  private frameData(s: H2Stream, data: Buffer): Buffer | undefined {
    let off = 0;
    while (off < data.length) {
      const room = Math.min(s.sendWindow, this.connSendWindow, this.peerMaxFrame, data.length - off);
      if (room <= 0) break;
      // Header and payload go out as two pieces: a large tensor is copied at most once (in flush), never here.
      const h = Buffer.allocUnsafe(FRAME_HEADER);
      writeFrameHeader(h, 0, room, Frame.DATA, 0, s.id);
      this.queue(h);
      this.queue(room === data.length ? data : data.subarray(off, off + room));
      s.sendWindow -= room;
      this.connSendWindow -= room;
      off += room;
    }
    return off === data.length ? undefined : data.subarray(off);
  }

  /** Sends what blocked streams hold, as the windows now allow. */
  private pump(): void {
    for (const s of this.blocked) {
      while (s.queue.length > 0) {
        const head = s.queue[0];
        const rest = this.frameData(s, head);
        s.queued -= head.length - (rest?.length ?? 0);
        if (rest) {
          s.queue[0] = rest;
          break;
        }
        s.queue.shift();
      }
      if (s.queue.length === 0) {
        this.blocked.delete(s);
        s.queueSent();
        this.noteDrain(s);
      }
      if (this.connSendWindow <= 0) break;
    }
  }

  private noteDrain(s: H2Stream): void {
    if (!s.needDrain) return;
    if (this.backedUp) this.waitingDrain.add(s);
    else s.drained();
  }

  private onSocketDrain(): void {
    this.socketFull = false;
    if (this.readsPaused) {
      this.readsPaused = false;
      this.socket.resume();
    }
    this.drainPass();
  }

  /** Tells streams waiting on the socket that it has room, while it does. */
  private drainPass(): void {
    for (const s of this.waitingDrain) {
      if (this.backedUp) break;
      this.waitingDrain.delete(s);
      if (s.queued === 0) s.drained();
    }
  }

  private endSocket(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    this.socket.end();
    setTimeout(destroySocket, LINGER_MS, this.socket).unref();
  }

  private onSocketClose(): void {
    this.ended = true;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    for (const s of [...this.streams.values()]) this.closeStream(s, H2Error.CANCEL);
    this.events.onClose(this);
  }

  // ---- input --------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    let buf = chunk;
    if (this.buffered) {
      buf = Buffer.concat([this.buffered, chunk]);
      this.buffered = undefined;
    }
    let off = 0;
    try {
      if (!this.prefaceSeen) {
        const n = Math.min(buf.length, PREFACE.length);
        if (buf.compare(PREFACE, 0, n, 0, n) !== 0)
          throw new ConnectionError(
            H2Error.PROTOCOL_ERROR,
            'expected the HTTP/2 client preface (prior knowledge h2c; this port speaks gRPC)',
          );
        if (buf.length < PREFACE.length) {
          this.buffered = buf;
          return;
        }
        this.prefaceSeen = true;
        off = PREFACE.length;
      }
      while (buf.length - off >= FRAME_HEADER) {
        const length = (buf[off] << 16) | (buf[off + 1] << 8) | buf[off + 2];
        // Our SETTINGS_MAX_FRAME_SIZE is the default: anything longer is a FRAME_SIZE_ERROR.
        if (length > DEFAULT_MAX_FRAME)
          throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, `frame of ${length} bytes; at most ${DEFAULT_MAX_FRAME}`);
        if (buf.length - off < FRAME_HEADER + length) break;
        const type = buf[off + 3];
        const flags = buf[off + 4];
        const id = buf.readUInt32BE(off + 5) & 0x7fffffff;
        const start = off + FRAME_HEADER;
        off = start + length;
        try {
          this.onFrame(type, flags, id, buf, start, off);
        } catch (e) {
          if (e instanceof ConnectionError) throw e;
          // A stream listener threw: that stream is reset; the connection and its other streams go on.
          const s = this.streams.get(id);
          if (s) this.resetStream(s, H2Error.INTERNAL_ERROR);
          this.events.onError?.(e);
        }
        if (this.ended) return;
      }
    } catch (e) {
      if (e instanceof ConnectionError) return this.fail(e.code, e.message);
      throw e;
    }
    if (off < buf.length) this.buffered = buf.subarray(off);
  }

  private onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.headerParts && type !== Frame.CONTINUATION)
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, `frame type ${type} inside a header block`);
    if (!this.settingsSeen && type !== Frame.SETTINGS)
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'the first frame must be SETTINGS');
    switch (type) {
      case Frame.DATA:
        return this.onDataFrame(flags, id, buf, start, end);
      case Frame.HEADERS:
        return this.onHeadersFrame(flags, id, buf, start, end);
      case Frame.CONTINUATION:
        return this.onContinuation(flags, id, buf, start, end);
      case Frame.SETTINGS:
        return this.onSettings(flags, id, buf, start, end);
      case Frame.WINDOW_UPDATE:
        return this.onWindowUpdate(id, buf, start, end);
      case Frame.RST_STREAM: {
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (end - start !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'RST_STREAM payload must be 4 bytes');
        if (id > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
        const s = this.streams.get(id);
        if (!s) return;
        if (!this.takeResetToken())
          throw new ConnectionError(
            H2Error.ENHANCE_YOUR_CALM,
            `more than ${this.limits.resetBurst} streams reset by the client faster than ${this.limits.resetsPerSecond}/s`,
          );
        this.closeStream(s, buf.readUInt32BE(start));
        return;
      }
      case Frame.PING:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PING on a stream');
        if (end - start !== 8) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PING payload must be 8 bytes');
        if (!(flags & Flag.ACK)) this.queue(pingAckFrame(buf, start));
        else if (this.draining && buf.readBigUInt64BE(start) === DRAIN_PING) this.finishDrain();
        return;
      case Frame.GOAWAY:
        if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'GOAWAY on a stream');
        // The client opens no more streams; those open finish, then the connection ends.
        this.goingAway = true;
        if (this.streams.size === 0) this.endSocket();
        return;
      case Frame.PRIORITY:
        if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (end - start !== 5) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'PRIORITY payload must be 5 bytes');
        return; // priorities are advice; every stream is served as it comes
      case Frame.PUSH_PROMISE:
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'a client must not send PUSH_PROMISE');
      default:
        return; // unknown frame types are ignored (RFC 9113 4.1)
    }
  }

  /** One client reset from the token bucket; false when it is empty. */
  private takeResetToken(): boolean {
    const now = performance.now();
    this.resetTokens = Math.min(
      this.limits.resetBurst,
      this.resetTokens + ((now - this.resetRefilledAt) / 1000) * this.limits.resetsPerSecond,
    );
    this.resetRefilledAt = now;
    if (this.resetTokens < 1) return false;
    this.resetTokens -= 1;
    return true;
  }

  /** Sends the connection's WINDOW_UPDATE once half its window is used, unless paused streams already hold too much. */
  private creditConnection(): void {
    if (this.connRecvUnacked < this.limits.connectionWindow >>> 1 || this.bufferedInput > MAX_BUFFERED_INPUT || this.ended) return;
    this.queue(windowUpdateFrame(0, this.connRecvUnacked));
    this.connRecvUnacked = 0;
  }

  /** Strips padding (PADDED flag): the payload's [start, end). */
  private unpad(flags: number, buf: Buffer, start: number, end: number): number {
    if (!(flags & Flag.PADDED)) return end;
    if (end - start < 1) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    const pad = buf[start];
    if (pad >= end - start) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'padding longer than the frame');
    return end - pad;
  }

  private onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'DATA on stream 0');
    const length = end - start;
    // Padding counts against flow control too. The connection window is credited as frames are read;
    // holding a client back is the stream window's job (a paused stream credits nothing).
    this.connRecvUnacked += length;
    if (this.connRecvUnacked > this.limits.connectionWindow)
      throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.creditConnection();
    const s = this.streams.get(id);
    if (!s) {
      if (id > this.lastStreamId) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      return; // a stream we reset or finished: frames the client sent before it knew
    }
    if (s.remoteEnded) return this.resetStream(s, H2Error.STREAM_CLOSED);
    if (length > s.recvWindow) return this.resetStream(s, H2Error.FLOW_CONTROL_ERROR);
    s.recvWindow -= length;
    const dataStart = flags & Flag.PADDED ? start + 1 : start;
    const dataEnd = this.unpad(flags, buf, start, end);
    // Known ended before its data is handed over, so an answer given from 'data' is not followed by a needless RST_STREAM.
    const ending = (flags & Flag.END_STREAM) !== 0;
    if (ending) s.remoteEnded = true;
    if (dataEnd > dataStart || length > 0) s.received(buf.subarray(dataStart, dataEnd), length);
    if (ending && !s.closed) s.receivedEnd();
  }

  private onHeadersFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'HEADERS on stream 0');
    let from = flags & Flag.PADDED ? start + 1 : start;
    const to = this.unpad(flags, buf, start, end);
    if (flags & Flag.PRIORITY) from += 5;
    if (from > to) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'HEADERS shorter than its padding and priority');
    if (flags & Flag.END_HEADERS) return this.onHeaderBlock(id, flags, buf, from, to);
    this.headerParts = [buf.subarray(from, to)];
    this.headerPartsBytes = to - from;
    this.headerStream = id;
    this.headerFlags = flags;
  }

  private onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (!this.headerParts || id !== this.headerStream)
      throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'CONTINUATION without HEADERS before it');
    this.headerPartsBytes += end - start;
    if (this.headerPartsBytes > MAX_HEADER_BLOCK)
      throw new ConnectionError(H2Error.ENHANCE_YOUR_CALM, `header block over ${MAX_HEADER_BLOCK} bytes`);
    this.headerParts.push(buf.subarray(start, end));
    if (!(flags & Flag.END_HEADERS)) return;
    const block = Buffer.concat(this.headerParts, this.headerPartsBytes);
    this.headerParts = undefined;
    this.onHeaderBlock(id, this.headerFlags, block, 0, block.length);
  }

  /** A whole header block: a new stream's request headers, or a client's trailers. */
  private onHeaderBlock(id: number, flags: number, block: Buffer, start: number, end: number): void {
    const fields = this.headerFields;
    fields.length = 0;
    let listBytes = 0;
    try {
      // Decoded in full even when the stream is refused: the HPACK table must stay in step with the client's.
      this.hpack.decode(block, start, end, fields, MAX_HEADER_BLOCK * 2);
    } catch (e) {
      if (e instanceof HpackError) throw new ConnectionError(H2Error.COMPRESSION_ERROR, `header block: ${e.message}`);
      throw e;
    }
    const existing = this.streams.get(id);
    if (existing) {
      // Trailers: they must end the stream; their fields mean nothing to a gRPC server.
      if (!(flags & Flag.END_STREAM) || existing.remoteEnded) return this.resetStream(existing, H2Error.PROTOCOL_ERROR);
      return existing.receivedEnd();
    }
    if (id <= this.lastStreamId) return; // trailers of a stream we already closed
    if ((id & 1) === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, `client stream ids are odd; got ${id}`);
    this.lastStreamId = id;
    if (this.goingAway || this.streams.size >= this.limits.maxConcurrentStreams) {
      this.queue(rstStreamFrame(id, H2Error.REFUSED_STREAM));
      return;
    }
    const headers: IncomingHttpHeaders = Object.create(null) as IncomingHttpHeaders;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      const value = fields[i + 1];
      listBytes += name.length + value.length + 32;
      const had = headers[name];
      if (had === undefined) headers[name] = value;
      else if (name === 'set-cookie') (headers[name] as string[]).push(value);
      else headers[name] = `${had as string}, ${value}`;
    }
    const s = new H2Stream(this, id, headers, this.peerWindow, this.limits.streamWindow, listBytes);
    this.streams.set(id, s);
    // Oversized header lists still reach the owner (headerBytes says how large), so it can answer in its own protocol's terms.
    if (headers[':method'] === undefined || headers[':path'] === undefined) return this.resetStream(s, H2Error.PROTOCOL_ERROR);
    // Known ended before the owner sees it: an answer given at once (415, UNIMPLEMENTED) needs no RST_STREAM.
    if (flags & Flag.END_STREAM) s.remoteEnded = true;
    try {
      this.events.onStream(s, headers);
    } catch {
      return this.resetStream(s, H2Error.INTERNAL_ERROR);
    }
    if (flags & Flag.END_STREAM && !s.closed) s.receivedEnd();
  }

  private onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (end !== start) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if ((end - start) % 6 !== 0) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'SETTINGS payload not a multiple of 6 bytes');
    this.settingsSeen = true;
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} over 2^31-1`);
        const delta = value - this.peerWindow;
        this.peerWindow = value;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (s.sendWindow > MAX_WINDOW)
            throw new ConnectionError(
              H2Error.FLOW_CONTROL_ERROR,
              `stream ${s.id} window over 2^31-1 after SETTINGS_INITIAL_WINDOW_SIZE ${value}`,
            );
        }
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 0xffffff)
          throw new ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
        this.peerMaxFrame = value;
      } else if (key === Setting.ENABLE_PUSH && value > 1) {
        throw new ConnectionError(H2Error.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value}`);
      } else if (key === Setting.HEADER_TABLE_SIZE) this.tableSizeUpdate = true;
      // The rest limit the client's side.
    }
    this.queue(SETTINGS_ACK);
    this.pump();
  }

  private onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) throw new ConnectionError(H2Error.FRAME_SIZE_ERROR, 'WINDOW_UPDATE payload must be 4 bytes');
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) throw new ConnectionError(H2Error.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW) throw new ConnectionError(H2Error.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
    } else {
      const s = this.streams.get(id);
      if (!s) return;
      if (inc === 0) return this.resetStream(s, H2Error.PROTOCOL_ERROR);
      s.sendWindow += inc;
      if (s.sendWindow > MAX_WINDOW) return this.resetStream(s, H2Error.FLOW_CONTROL_ERROR);
    }
    if (this.blocked.size > 0) this.pump();
  }

  /** Ends the connection for a protocol violation: GOAWAY with the code, then close. */
  private fail(code: H2Error, message: string): void {
    if (this.ended) return;
    this.goingAway = true;
    this.out = [];
    this.outBytes = 0;
    this.queue(goawayFrame(this.lastStreamId, code, message));
    this.endSocket();
    for (const s of [...this.streams.values()]) this.closeStream(s, code);
  }
}
