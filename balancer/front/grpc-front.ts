// The balancer's gRPC face on the JavaScript HTTP/2 server (http2/listener.ts;
// why not node:http2: http2/session.ts): inference.GRPCInferenceService
// as any KServe or Triton client calls it, with requests forwarded as the
// bytes they came in (why not grpc-js: protocol/grpc-wire.ts). This file
// accepts a call and hands it to its path: the unary methods are
// unary-call.ts, ModelStreamInfer is stream-call.ts. Per-call state hangs
// off the stream and listeners are shared module functions (`this` is the
// stream), so the front adds no closures beyond the one completion
// callback the router takes.
import type * as http2 from 'node:http2';
import { acceptGrpc, replyStatus, RESPONSE_HEADERS, WITH_TRAILERS } from '../../protocol/grpc-answer';
import { H2Listener } from '../../http2/listener';
import { drainWithin, listenOn } from '../../common/listen';
import { noop } from '../../common/noop';
import { DEFAULT_LIMITS } from '../../http2/session';
import type { H2Stream } from '../../http2/stream';
import { Status } from '../../protocol/status';
import { deadlineFromTimeout, metadataFromHeaders } from '../../protocol/grpc-wire';
import { METHOD } from '../../protocol/paths';
import { sendOkTrailers } from './answer';
import type { FrontDeps, Kind } from './grpc-call';
import { startStreamCall } from './stream-call';
import { UnaryMethods } from './unary-call';

export type { FrontDeps } from './grpc-call';

const METHODS = new Map<string, Kind>([
  [METHOD.ModelInfer, 'infer'],
  [METHOD.ModelReady, 'ready'],
  [METHOD.ModelMetadata, 'metadata'],
  [METHOD.ServerLive, 'live'],
  [METHOD.ServerReady, 'serverReady'],
  [METHOD.ServerMetadata, 'serverMetadata'],
  [METHOD.ModelStreamInfer, 'stream'],
]);

/** The gRPC face: an HTTP/2 server and its sessions. */
export class Front {
  private readonly h2: H2Listener;
  private readonly unary: UnaryMethods;

  constructor(private readonly deps: FrontDeps) {
    this.unary = new UnaryMethods(deps);
    this.h2 = new H2Listener((stream, headers) => {
      try {
        this.onStream(stream, headers);
      } catch (e) {
        // One bad request must never take the process down with everyone's calls.
        replyStatus(stream, Status.INTERNAL, `balancer error: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /** Binds host:port (0: a free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return listenOn(this.h2.server, host, port);
  }

  /** Stops accepting (GOAWAY on every connection), lets calls in flight finish, and cuts what is left after drainMs. */
  close(drainMs: number): Promise<void> {
    return drainWithin(this.h2.close(), drainMs, () => this.h2.forceClose(), this.deps.clock);
  }

  /** Cuts every connection now. */
  forceClose(): void {
    this.h2.forceClose();
  }

  private onStream(stream: H2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', noop);
    const path = headers[':path'] ?? '';
    const kind = METHODS.get(path);
    if (!acceptGrpc(stream, headers)) return;
    if (!kind) return replyStatus(stream, Status.UNIMPLEMENTED, `method ${path} is not served by the balancer`);
    if (stream.headerBytes > DEFAULT_LIMITS.maxHeaderListSize) {
      return replyStatus(
        stream,
        Status.RESOURCE_EXHAUSTED,
        `request headers are ${stream.headerBytes} bytes (RFC 9113 count); at most ${DEFAULT_LIMITS.maxHeaderListSize} accepted`,
      );
    }
    const md = metadataFromHeaders(headers);
    const deadline = deadlineFromTimeout(headers['grpc-timeout'], this.deps.clock.now());
    // grpc-encoding decides the status of a compressed message (MessageReader).
    const encoding = headers['grpc-encoding'];
    if (kind !== 'stream') return this.unary.start(stream, kind, md, deadline, encoding);
    // A stream's headers go out now, with OK trailers set: an error in one message is a message, not the stream's status.
    stream.respond(RESPONSE_HEADERS, WITH_TRAILERS);
    stream.on('wantTrailers', sendOkTrailers);
    startStreamCall(stream, this.deps.router, this.deps.clock, md, deadline, encoding);
  }
}
