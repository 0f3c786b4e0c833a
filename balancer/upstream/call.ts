// Upstream gRPC calls on a bare HTTP/2 stream: one unary call (request bytes
// out, response bytes and status back, nothing decoded), and a message stream
// for ModelStreamInfer that stream.ts multiplexes on. Per-call state
// hangs off the stream object and the listeners are shared module functions
// (`this` is the stream), so a call allocates no closures of its own.
import { EventEmitter } from 'node:events';
import * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../../common/clock';
import { Status } from '../../protocol/status';
import { frame, frameWithField, headersFromMetadata, MessageReader, timeoutHeader, writeCoalesced } from '../../protocol/grpc-wire';
import { takeStatus } from '../../protocol/grpc-answer';
import type { H2Connection } from './connection';
import type { UpstreamResult } from './types';
import { noop } from '../../common/noop';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;
const CTX = Symbol('infergate.call');

/**
 * True when a stream that closed without a status was never processed by the peer (UpstreamResult.refused):
 * no response headers came, and it was refused (REFUSED_STREAM, also how node ends streams beyond a GOAWAY's
 * last-stream-id) or its connection never came up.
 */
export function wasRefused(stream: http2.ClientHttp2Stream, session: http2.ClientHttp2Session, answered: boolean): boolean {
  return !answered && (stream.rstCode === NGHTTP2_REFUSED_STREAM || session.connecting);
}

interface UnaryCtx {
  readonly done: (r: UpstreamResult) => void;
  readonly conn: H2Connection;
  readonly session: http2.ClientHttp2Session;
  readonly authority: string;
  readonly reader: MessageReader;
  readonly clock: Clock;
  response: Buffer | undefined;
  /** Response headers came: the sidecar took the call. */
  answered: boolean;
  code: Status | undefined;
  details: string;
  orca: Buffer | undefined;
  timer: TimerHandle | undefined;
}

type UnaryStream = http2.ClientHttp2Stream & { [CTX]: UnaryCtx };

/** Request headers for method with the call's metadata and what is left of its deadline (ms; Infinity: none). */
export function requestHeaders(method: string, metadata: grpc.Metadata, leftMs: number): http2.OutgoingHttpHeaders {
  const h: http2.OutgoingHttpHeaders = { ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' };
  if (Number.isFinite(leftMs)) h['grpc-timeout'] = timeoutHeader(leftMs);
  return headersFromMetadata(metadata, h);
}

/**
 * Ends a call whose status came while the stream may still be open on our side (a large request not
 * all sent). Not once our side ended: both sides are closed then, and a RST_STREAM on a closed stream
 * is a frame node's server counts as invalid; past its maxSessionInvalidFrames (1000) it tears the
 * connection down with GOAWAY INTERNAL_ERROR, failing every call on it, about every 1000 calls.
 */
function endIfOpen(stream: http2.ClientHttp2Stream): void {
  if (!stream.writableFinished) stream.close(NGHTTP2_CANCEL);
}

function onUnaryResponse(this: UnaryStream, h: http2.IncomingHttpHeaders): void {
  const ctx = this[CTX];
  ctx.answered = true;
  if (Number(h[':status']) !== 200) {
    ctx.code = Status.UNAVAILABLE;
    ctx.details = `${ctx.authority} answered HTTP ${h[':status']}, not gRPC`;
    this.close(NGHTTP2_CANCEL);
    return;
  }
  takeStatus(ctx, h);
  if (ctx.code !== undefined) endIfOpen(this); // trailers-only: nothing more will come
}

function keepResponse(msg: Buffer, ctx: UnaryCtx): void {
  ctx.response = msg;
}

function onUnaryData(this: UnaryStream, chunk: Buffer): void {
  const ctx = this[CTX];
  if (!ctx.reader.push(chunk, keepResponse, ctx)) this.close(NGHTTP2_CANCEL);
}

function onUnaryTrailers(this: UnaryStream, h: http2.IncomingHttpHeaders): void {
  takeStatus(this[CTX], h);
  // The status ends the call even if the sidecar answered before reading all of a large request.
  if (this[CTX].code !== undefined) endIfOpen(this);
}

function onUnaryClose(this: UnaryStream): void {
  const ctx = this[CTX];
  ctx.conn.release(ctx.session);
  if (ctx.timer) ctx.clock.clearTimeout(ctx.timer);
  let { code, details } = ctx;
  // No grpc-status and no bad response: the stream was reset or the connection died before the sidecar's handler answered.
  const connectionFailure = code === undefined && !ctx.reader.error;
  const refused = connectionFailure && wasRefused(this, ctx.session, ctx.answered);
  if (ctx.reader.error) {
    code = ctx.reader.error.code;
    details = `${ctx.authority} sent a response this balancer cannot read: ${ctx.reader.error.message}`;
  } else if (code === undefined) {
    code = Status.UNAVAILABLE;
    details = refused
      ? `${ctx.authority} refused the call before processing it (HTTP/2 stream closed with code ${this.rstCode}${ctx.session.connecting ? ', never connected' : ''})`
      : `connection to ${ctx.authority} failed (HTTP/2 stream closed with code ${this.rstCode})`;
  } else if (code === Status.OK && !ctx.response) {
    code = Status.INTERNAL;
    details = `${ctx.authority} answered OK without a response message`;
  }
  ctx.done({ code, details, response: code === Status.OK ? ctx.response : undefined, orca: ctx.orca, connectionFailure, refused });
}

function onDeadline(stream: UnaryStream): void {
  const ctx = stream[CTX];
  ctx.timer = undefined;
  if (ctx.code === undefined) {
    ctx.code = Status.DEADLINE_EXCEEDED;
    ctx.details = `deadline exceeded waiting for ${ctx.authority}`;
  }
  stream.close(NGHTTP2_CANCEL);
}

/** A failure before any stream existed (the session refused the request): it never left, so it is refused. Reported asynchronously like any other end. */
function failSoon(done: (r: UpstreamResult) => void, authority: string, e: unknown): () => void {
  const details = `connection to ${authority} failed: ${e instanceof Error ? e.message : String(e)}`;
  process.nextTick(done, {
    code: Status.UNAVAILABLE,
    details,
    response: undefined,
    orca: undefined,
    connectionFailure: true,
    refused: true,
  });
  return noop;
}

/** Sends one unary call on conn; deadline: on clock (Infinity: none); done is called once, asynchronously. Returns a cancel function. */
export function unaryCall(
  conn: H2Connection,
  method: string,
  req: Buffer,
  metadata: grpc.Metadata,
  deadline: number,
  done: (r: UpstreamResult) => void,
  clock: Clock,
): () => void {
  const authority = conn.authority;
  const leftMs = Number.isFinite(deadline) ? deadline - clock.now() : Infinity;
  let stream: UnaryStream;
  let session: http2.ClientHttp2Session;
  try {
    session = conn.acquire();
    try {
      stream = session.request(requestHeaders(method, metadata, leftMs), { endStream: false }) as UnaryStream;
    } catch (e) {
      conn.release(session);
      throw e;
    }
  } catch (e) {
    return failSoon(done, authority, e);
  }
  stream[CTX] = {
    done,
    conn,
    session,
    authority,
    reader: new MessageReader(),
    clock,
    response: undefined,
    answered: false,
    code: undefined,
    details: '',
    orca: undefined,
    timer: undefined,
  };
  stream.on('response', onUnaryResponse);
  stream.on('data', onUnaryData);
  stream.on('trailers', onUnaryTrailers);
  stream.on('error', noop); // 'close' follows and reports it
  stream.on('close', onUnaryClose);
  if (Number.isFinite(leftMs)) stream[CTX].timer = clock.setTimeout(onDeadline, Math.max(0, leftMs), stream);
  stream.end(frame(req));
  return () => {
    if (stream[CTX].code === undefined) stream[CTX].code = Status.CANCELLED;
    stream.close(NGHTTP2_CANCEL);
  };
}

/**
 * A ModelStreamInfer call as a message stream: write() sends one message,
 * 'data' gives one response message, 'status' comes once however it ended.
 * The shape stream.ts needs (and a test can fake).
 */
export class H2MessageStream extends EventEmitter {
  private readonly reader = new MessageReader();
  private readonly status = { code: undefined as Status | undefined, details: '' };
  private readonly stream: http2.ClientHttp2Stream | undefined;
  private readonly authority: string;
  private goingAway = false;

  constructor(conn: H2Connection, method: string, metadata: grpc.Metadata) {
    super();
    this.authority = conn.authority;
    let session: http2.ClientHttp2Session | undefined;
    try {
      session = conn.acquire();
      try {
        this.stream = session.request(requestHeaders(method, metadata, Infinity), { endStream: false }); // messages carry no deadline
      } catch (e) {
        conn.release(session);
        throw e;
      }
    } catch (e) {
      this.status.code = Status.UNAVAILABLE;
      this.status.details = `connection to ${this.authority} failed: ${e instanceof Error ? e.message : String(e)}`;
      process.nextTick(() => this.emit('status', { ...this.status, refused: true })); // it never left
      return;
    }
    const st = this.stream;
    // A status (trailers, or a trailers-only answer) ends the call even while our side is still
    // open: grpc-js servers send trailers and no RST, so without closing here the stream would sit
    // "usable" and swallow every later message.
    const ended = (h: http2.IncomingHttpHeaders): void => {
      takeStatus(this.status, h);
      if (this.status.code !== undefined) endIfOpen(st);
    };
    let answered = false;
    st.on('response', (h: http2.IncomingHttpHeaders) => {
      answered = true;
      if (Number(h[':status']) === 200) ended(h);
      else st.close(NGHTTP2_CANCEL);
    });
    st.on('data', (chunk: Buffer) => {
      if (!this.reader.push(chunk, emitMessage, this)) st.close(NGHTTP2_CANCEL);
    });
    st.on('trailers', ended);
    st.on('error', noop);
    const acquired = session;
    const onGoaway = (): void => {
      this.goingAway = true;
    };
    acquired.once('goaway', onGoaway);
    st.on('close', () => {
      acquired.off('goaway', onGoaway);
      conn.release(acquired);
      const code = this.reader.error?.code ?? this.status.code ?? Status.UNAVAILABLE;
      // Refused as a whole (never processed): so was every message written on it.
      const refused = !this.reader.error && this.status.code === undefined && wasRefused(st, acquired, answered);
      const details =
        this.reader.error?.message ??
        (this.status.code === undefined
          ? `stream to ${this.authority} ${refused ? 'refused before processing' : 'closed'} (HTTP/2 code ${st.rstCode})`
          : this.status.details);
      this.emit('status', { code, details, refused });
    });
  }

  /** False once the connection got GOAWAY or the stream closed: new messages belong on a new stream. */
  get usable(): boolean {
    return !!this.stream && !this.goingAway && this.status.code === undefined && !this.stream.closed && !this.stream.destroyed;
  }

  /** Sends req with its id (field 3) overridden by key, as one message. */
  writeWithId(req: Buffer, key: string): void {
    if (this.stream) writeCoalesced(this.stream, frameWithField(req, 3, key));
  }

  /** Half-closes: the sidecar answers what it has and ends the stream. */
  end(): void {
    this.stream?.end();
  }

  /** Resets the stream. */
  cancel(): void {
    this.stream?.close(NGHTTP2_CANCEL);
  }
}

function emitMessage(msg: Buffer, s: H2MessageStream): void {
  s.emit('data', msg);
}
