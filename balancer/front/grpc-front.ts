// The balancer's gRPC face on the JavaScript HTTP/2 server (common/h2-listener.ts;
// why not node:http2: common/h2-session.ts): inference.GRPCInferenceService
// as any KServe or Triton client calls it, with requests forwarded as the
// bytes they came in (why not grpc-js: common/grpc-wire.ts). ModelInfer,
// ModelReady and ModelMetadata are routed; ServerLive, ServerReady and
// ServerMetadata are answered here; ModelStreamInfer is h2-front-stream.ts.
// Per-call state hangs off the stream and listeners are shared
// module functions (`this` is the stream), so the front adds no closures
// beyond the one completion callback the router takes.
import type * as http2 from 'node:http2';
import type { Clock } from '../../common/clock';
import { acceptGrpc, RESPONSE_HEADERS, WITH_TRAILERS } from '../../sidecar/server/h2-server';
import { H2Listener } from '../../http2/listener';
import { DEFAULT_LIMITS } from '../../http2/session';
import { Status } from '../../protocol/status';
import type { Clusters } from '../routing/cluster';
import { deadlineFromTimeout, MessageReader, metadataFromHeaders } from '../../protocol/grpc-wire';
import { CTX, noop, reply, replyMessage, replyStatus, routeCall, sendOkTrailers, type CallCtx, type FrontStream, type Kind } from './answer';
import { onStreamClose, onStreamData, onStreamDrain, onStreamEnd } from './stream-call';
import type { Router } from '../routing/router';
import { isReady, serverMetadata } from './service-info';
import { streamKeyOf } from '../upstream/pool';
import { INFER_METHODS, type UpstreamMethod } from '../upstream/types';
import { stringField } from '../../protocol/wire-fields';

const SERVICE = '/inference.GRPCInferenceService/';
/** How long a ModelMetadata answer is reused: metadata changes only when models are reloaded. */
const METADATA_TTL_MS = 5_000;

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

/** The gRPC face: an HTTP/2 server and its sessions. */
export class Front {
  private readonly h2: H2Listener;
  private readonly metadataCache = new Map<string, { bytes: Buffer; until: number }>();

  constructor(private readonly deps: FrontDeps) {
    this.h2 = new H2Listener((stream, headers) => {
      try {
        this.onStream(stream as FrontStream, headers);
      } catch (e) {
        // One bad request must never take the process down with everyone's calls.
        replyStatus(stream, Status.INTERNAL, `balancer error: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /** Binds host:port (0: a free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return this.h2.listen(host, port);
  }

  /** Stops accepting (GOAWAY on every connection), lets calls in flight finish, and cuts what is left after drainMs. */
  close(drainMs: number): Promise<void> {
    return this.h2.close(drainMs);
  }

  /** Cuts every connection now. */
  forceClose(): void {
    this.h2.forceClose();
  }

  private onStream(stream: FrontStream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', noop);
    const path = headers[':path'] ?? '';
    const kind = METHODS.get(path);
    if (!acceptGrpc(stream, headers)) return;
    if (!kind) return replyStatus(stream, Status.UNIMPLEMENTED, `method ${path} is not served by the balancer`);
    if (stream.headerBytes > DEFAULT_LIMITS.maxHeaderListSize) {
      return replyStatus(stream, Status.RESOURCE_EXHAUSTED, `request headers are ${stream.headerBytes} bytes (RFC 9113 count); at most ${DEFAULT_LIMITS.maxHeaderListSize} accepted`);
    }
    const md = metadataFromHeaders(headers);
    const streaming = kind === 'stream';
    stream[CTX] = {
      front: this, router: this.deps.router, kind, md, deadline: deadlineFromTimeout(headers['grpc-timeout'], Date.now()), reader: new MessageReader(), request: undefined,
      messages: 0, cancel: undefined, open: streaming ? new Set() : undefined, streamKey: streaming ? streamKeyOf(md) : '', ended: false,
      routing: undefined, pin: undefined,
    };
    if (streaming) {
      stream.respond(RESPONSE_HEADERS, WITH_TRAILERS);
      stream.on('wantTrailers', sendOkTrailers);
      stream.on('data', onStreamData);
      stream.on('end', onStreamEnd);
      stream.on('close', onStreamClose);
      stream.on('drain', onStreamDrain);
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
}
