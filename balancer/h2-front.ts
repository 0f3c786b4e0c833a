// The balancer's gRPC face on bare node:http2: inference.GRPCInferenceService
// as any KServe or Triton client calls it, with requests forwarded as the
// bytes they came in (why not grpc-js: grpc-wire.ts). ModelInfer,
// ModelReady and ModelMetadata are routed; ServerLive, ServerReady and
// ServerMetadata are answered here; ModelStreamInfer routes each message on
// its own. Per-call state hangs off the stream and listeners are shared
// module functions (`this` is the stream), so the front adds no closures
// beyond the one completion callback the router takes.
import * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import type { Clock } from '../common/clock';
import { Status } from '../common/status';
import type { Clusters } from './cluster';
import { deadlineFromTimeout, encodeGrpcMessage, frame, MessageReader, metadataFromHeaders, writeCoalesced } from './grpc-wire';
import { MalformedRequest, peekRoute } from './peek-request';
import type { RouteCall, RouteOutcome, Router } from './router';
import { isReady, serverMetadata } from './service-info';
import { PinnedStream } from './stream-pinned';
import type { StreamRouting } from '../discovery/routing-config-types';
import { INFER_METHODS, streamKeyOf, type CancelFn, type UpstreamMethod } from './upstream';
import { bytesField, lastBytesField, stringField } from './wire-fields';

const SERVICE = '/inference.GRPCInferenceService/';
/** Connection-level flow-control window for client connections (bytes). */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** How long a ModelMetadata answer is reused: metadata changes only when models are reloaded. */
const METADATA_TTL_MS = 5_000;

type Kind = 'infer' | 'ready' | 'metadata' | 'live' | 'serverReady' | 'serverMetadata' | 'stream';
const METHODS = new Map<string, Kind>([
  ['ModelInfer', 'infer'], ['ModelReady', 'ready'], ['ModelMetadata', 'metadata'], ['ServerLive', 'live'],
  ['ServerReady', 'serverReady'], ['ServerMetadata', 'serverMetadata'], ['ModelStreamInfer', 'stream'],
].map(([m, k]) => [SERVICE + m, k as Kind]));
const FORWARDED: Partial<Record<Kind, UpstreamMethod>> = { infer: INFER_METHODS.infer, ready: INFER_METHODS.ready, metadata: INFER_METHODS.metadata };

/** What the front needs. */
export interface FrontDeps {
  readonly router: Router;
  readonly clusters: Clusters;
  readonly clock: Clock;
}

const CTX = Symbol('infergate.front');

/** One client call's state. */
interface CallCtx {
  readonly front: Front;
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
  /** Stream: chunks read before its routing was decided (a per_stream pin forwards them whole). */
  early: Buffer[] | undefined;
}

type FrontStream = http2.ServerHttp2Stream & { [CTX]: CallCtx };

const OK_TRAILERS = { 'grpc-status': '0' };
const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' };

function noop(): void {}

function sendOkTrailers(this: http2.ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** Ends a call with a status and no message (a trailers-only response). */
function replyStatus(stream: http2.ServerHttp2Stream, code: Status, details: string): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    // A stream already answering: the status goes in its trailers.
    stream.removeAllListeners('wantTrailers');
    stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(details) }));
    stream.end();
    return;
  }
  stream.respond({ ...RESPONSE_HEADERS, 'grpc-status': String(code), 'grpc-message': encodeGrpcMessage(details) }, { endStream: true });
}

/** Answers a unary call with one message and status OK. */
function replyMessage(stream: http2.ServerHttp2Stream, msg: Buffer): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
  stream.once('wantTrailers', sendOkTrailers);
  stream.end(frame(msg));
}

function reply(stream: http2.ServerHttp2Stream, o: RouteOutcome): void {
  if (o.code === Status.OK && o.response) replyMessage(stream, o.response);
  else replyStatus(stream, o.code, o.details);
}

/** The RouteCall for request bytes, or a status to answer with. */
function routeCall(bytes: Buffer, ctx: CallCtx): RouteCall | RouteOutcome {
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

function keepRequest(msg: Buffer, ctx: CallCtx): void {
  ctx.request = msg;
  ctx.messages++;
}

function onUnaryData(this: FrontStream, chunk: Buffer): void {
  const ctx = this[CTX];
  if (!ctx.reader.push(chunk, keepRequest, ctx)) replyStatus(this, ctx.reader.error!.code, ctx.reader.error!.message);
}

function onUnaryEnd(this: FrontStream): void {
  const ctx = this[CTX];
  if (ctx.reader.error) return;
  if (ctx.messages !== 1 || ctx.reader.partial) {
    return replyStatus(this, Status.INTERNAL, `a unary call carries exactly one message; got ${ctx.messages}${ctx.reader.partial ? ' and a partial one' : ''}`);
  }
  ctx.front.unary(this, ctx, ctx.request!);
}

function onUnaryClose(this: FrontStream): void {
  // The client reset the call before its answer: stop the routed call too.
  const cancel = this[CTX].cancel;
  this[CTX].cancel = undefined;
  cancel?.();
}

function onStreamMessage(msg: Buffer, ctx: CallCtx & { stream?: FrontStream }): void {
  ctx.front.streamMessage(ctx.stream!, ctx, msg);
}

function onStreamData(this: FrontStream, chunk: Buffer): void {
  const ctx = this[CTX] as CallCtx & { stream?: FrontStream };
  if (ctx.pin) return ctx.pin.fromClient(chunk);
  ctx.stream = this;
  if (ctx.routing === undefined) (ctx.early ??= []).push(chunk);
  if (ctx.reader.push(chunk, onStreamMessage, ctx)) {
    // A message in this chunk decided the routing: a new pin takes every byte read so far, as read.
    const pin = ctx.pin as PinnedStream | undefined; // set by onStreamMessage during push
    if (pin) for (const c of ctx.early!) pin.fromClient(c);
    if (ctx.routing !== undefined) ctx.early = undefined;
    return;
  }
  // A malformed stream ends with its status; what it had routed is cancelled, not answered after the end.
  replyStatus(this, ctx.reader.error!.code, ctx.reader.error!.message);
  onStreamClose.call(this);
}

function onStreamEnd(this: FrontStream): void {
  const ctx = this[CTX];
  ctx.ended = true;
  if (ctx.pin) ctx.pin.clientEnded();
  else if (ctx.open!.size === 0) this.end();
}

function onStreamClose(this: FrontStream): void {
  this[CTX].pin?.clientClosed();
  const open = this[CTX].open!;
  for (const cancel of [...open]) cancel();
  open.clear();
}

/** Writes one ModelStreamInferResponse whose infer_response is msg, framed, in one allocation. */
function writeStreamResponse(stream: http2.ServerHttp2Stream, msg: Buffer): void {
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
  writeCoalesced(stream, out);
}

/** The gRPC face: an HTTP/2 server and its sessions. */
export class Front {
  readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly metadataCache = new Map<string, { bytes: Buffer; until: number }>();

  constructor(private readonly deps: FrontDeps) {
    this.server = http2.createServer({ maxSessionMemory: 128, settings: { initialWindowSize: 4 * 1024 * 1024 } });
    this.server.on('stream', (stream, headers) => {
      try {
        this.onStream(stream as FrontStream, headers);
      } catch (e) {
        // One bad request must never take the process down with everyone's calls.
        replyStatus(stream, Status.INTERNAL, `balancer error: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
    this.server.on('error', noop); // accept errors (EMFILE...) are transient; the listening socket stays
    this.server.on('session', (s) => {
      this.sessions.add(s);
      // The connection-level window stays at 64 KiB otherwise (initialWindowSize is per stream): large tensors would crawl.
      s.once('connect', () => s.setLocalWindowSize(CONNECTION_WINDOW));
      if (!s.connecting) s.setLocalWindowSize(CONNECTION_WINDOW);
      s.once('close', () => this.sessions.delete(s));
      s.on('error', noop);
    });
    this.server.on('sessionError', noop);
  }

  /** Binds host:port (0: a free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as { port: number }).port);
      });
    });
  }

  /** Stops accepting (GOAWAY on every connection), lets calls in flight finish, and cuts what is left after drainMs. */
  close(drainMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    const cut = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, drainMs);
    return closed.then(() => clearTimeout(cut));
  }

  /** Cuts every connection now. */
  forceClose(): void {
    this.server.close();
    for (const s of this.sessions) s.destroy();
  }

  private onStream(stream: FrontStream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', noop);
    const path = headers[':path'] ?? '';
    const kind = METHODS.get(path);
    const ct = headers['content-type'] ?? '';
    if (headers[':method'] !== 'POST' || !(ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;'))) {
      stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: false });
      stream.end(`this port speaks gRPC (POST, content-type application/grpc); got ${headers[':method']} ${ct || 'no content-type'}\n`);
      return;
    }
    if (!kind) return replyStatus(stream, Status.UNIMPLEMENTED, `method ${path} is not served by the balancer`);
    const md = metadataFromHeaders(headers);
    const streaming = kind === 'stream';
    stream[CTX] = {
      front: this, kind, md, deadline: deadlineFromTimeout(headers['grpc-timeout'], Date.now()), reader: new MessageReader(), request: undefined,
      messages: 0, cancel: undefined, open: streaming ? new Set() : undefined, streamKey: streaming ? streamKeyOf(md) : '', ended: false,
      routing: undefined, pin: undefined, early: undefined,
    };
    if (streaming) {
      stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
      stream.once('wantTrailers', sendOkTrailers);
      stream.on('data', onStreamData);
      stream.on('end', onStreamEnd);
      stream.on('close', onStreamClose);
    } else {
      stream.on('data', onUnaryData);
      stream.on('end', onUnaryEnd);
      stream.on('close', onUnaryClose);
    }
  }

  /** A complete unary request. */
  unary(stream: FrontStream, ctx: CallCtx, bytes: Buffer): void {
    const { router, clusters, clock } = this.deps;
    switch (ctx.kind) {
      case 'live':
        return replyMessage(stream, Buffer.from([0x08, 0x01]));
      case 'serverReady':
        return replyMessage(stream, Buffer.from([0x08, isReady(clusters, clock.now()) ? 0x01 : 0x00]));
      case 'serverMetadata': {
        const m = serverMetadata();
        return replyMessage(stream, Buffer.concat([stringField(1, m.name), stringField(2, m.version), ...m.extensions.map((e) => stringField(3, e))]));
      }
      default:
        break;
    }
    const rc = routeCall(bytes, ctx);
    if (!('bytes' in rc)) return replyStatus(stream, rc.code, rc.details);
    if (ctx.kind === 'infer') {
      ctx.cancel = router.infer(rc, (o) => {
        ctx.cancel = undefined;
        reply(stream, o);
      });
      return;
    }
    if (ctx.kind === 'metadata') {
      const key = bytes.toString('base64');
      const hit = this.metadataCache.get(key);
      if (hit && hit.until > clock.now()) return replyMessage(stream, hit.bytes);
      ctx.cancel = router.forward(FORWARDED.metadata!, rc, (o) => {
        ctx.cancel = undefined;
        if (o.code === Status.OK && o.response) {
          if (this.metadataCache.size > 1000) this.metadataCache.clear();
          this.metadataCache.set(key, { bytes: o.response, until: clock.now() + METADATA_TTL_MS });
        }
        reply(stream, o);
      });
      return;
    }
    ctx.cancel = router.forward(FORWARDED.ready!, rc, (o) => {
      ctx.cancel = undefined;
      reply(stream, o);
    });
  }

  /** One message of a client stream: routed on its own; its answer (or error) is written back as it comes. */
  streamMessage(stream: FrontStream, ctx: CallCtx, msg: Buffer): void {
    // Pinned, or ended because no endpoint could be pinned: the chunk goes as bytes, or nowhere.
    if (ctx.pin || stream.writableEnded) return;
    const rc = routeCall(msg, ctx);
    if (!('bytes' in rc)) return void stream.write(frame(streamError(msg, rc)));
    if (ctx.routing === undefined) {
      ctx.routing = this.deps.router.streamRouting(rc);
      if (ctx.routing === 'per_stream') {
        const pinned = this.deps.router.pinStream(rc);
        if ('pool' in pinned) ctx.pin = new PinnedStream(stream, pinned, ctx.md, ctx.deadline);
        else replyStatus(stream, pinned.code, pinned.details);
        return;
      }
    }
    const open = ctx.open!;
    let cancel: CancelFn | undefined;
    let answered = false;
    cancel = this.deps.router.infer(rc, (o) => {
      answered = true;
      if (cancel) open.delete(cancel);
      if (!stream.destroyed && !stream.closed && !stream.writableEnded) {
        if (o.code === Status.OK && o.response) writeStreamResponse(stream, o.response);
        else stream.write(frame(streamError(msg, o)));
      }
      if (ctx.ended && open.size === 0 && !stream.destroyed) stream.end();
    });
    if (!answered) open.add(cancel);
  }
}
