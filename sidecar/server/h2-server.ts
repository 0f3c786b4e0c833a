// The node:http2 server the sidecar's gRPC face stands on (the balancer's
// front has its own, http2/listener.ts): sessions tracked for drain, the
// connection window opened up. How a call is answered is
// protocol/grpc-answer.ts, the same for both.
import * as http2 from 'node:http2';
import { drainWithin, listenOn } from '../../common/listen';
import { noop } from '../../common/noop';

/**
 * Flow-control windows (bytes), the ones the balancer's front advertises (http2/session.ts
 * DEFAULT_LIMITS; a test holds the two equal): large tensors share connections, and 64 KiB
 * windows would crawl. The connection's stays at 64 KiB unless opened up (initialWindowSize is
 * per stream).
 */
export const WINDOWS = { stream: 4 * 1024 * 1024, connection: 16 * 1024 * 1024 } as const;

/** An HTTP/2 server whose sessions are tracked, so it can stop with GOAWAY and cut what is left. */
export class H2Server {
  readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  /** onStream: every new stream; an exception it throws is the caller's to catch. */
  constructor(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void) {
    this.server = http2.createServer({ maxSessionMemory: 128, settings: { initialWindowSize: WINDOWS.stream } });
    this.server.on('stream', onStream);
    this.server.on('error', noop); // accept errors (EMFILE...) are transient; the listening socket stays
    this.server.on('session', (s) => {
      this.sessions.add(s);
      s.once('connect', () => s.setLocalWindowSize(WINDOWS.connection));
      if (!s.connecting) s.setLocalWindowSize(WINDOWS.connection);
      s.once('close', () => this.sessions.delete(s));
      s.on('error', noop);
    });
    this.server.on('sessionError', noop);
  }

  /** Binds host:port (0: a free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return listenOn(this.server, host, port);
  }

  /** Stops accepting (GOAWAY on every connection); resolves once calls in flight have finished, or cuts them after drainMs. */
  close(drainMs = Infinity): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    return drainWithin(closed, drainMs, () => {
      for (const s of this.sessions) s.destroy();
    });
  }

  /** Cuts every connection now. */
  forceClose(): void {
    this.server.close();
    for (const s of this.sessions) s.destroy();
  }
}
