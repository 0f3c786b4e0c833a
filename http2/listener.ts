// A listening socket whose connections are session.ts sessions: the
// balancer's gRPC port. Same surface as the sidecar's node:http2 server
// (sidecar/server/h2-server.ts: close, forceClose), over the JavaScript
// framing. Binding it and the drain deadline are the caller's, with
// common/listen.ts (this folder imports nothing of the project):
// listenOn(listener.server, host, port), and
// drainWithin(listener.close(), drainMs, () => listener.forceClose()).
import * as net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http2';
import { DEFAULT_LIMITS, H2Session, type SessionLimits } from './session';
import type { H2Stream } from './stream';

function noop(): void {}

export class H2Listener {
  readonly server: net.Server;
  private readonly sessions = new Set<H2Session>();
  private closing = false;
  private allGone: (() => void) | undefined;
  private closed: Promise<void> | undefined;

  /** onStream: every new stream with its request headers; an exception it throws resets that stream. */
  constructor(onStream: (stream: H2Stream, headers: IncomingHttpHeaders) => void, limits: SessionLimits = DEFAULT_LIMITS) {
    const events = {
      onStream,
      onClose: (s: H2Session) => {
        this.sessions.delete(s);
        if (this.sessions.size === 0) this.allGone?.();
      },
    };
    this.server = net.createServer((socket) => {
      const session = new H2Session(socket, events, limits);
      this.sessions.add(session);
      if (this.closing) session.close();
    });
    this.server.on('error', noop); // accept errors (EMFILE...) are transient; the listening socket stays
  }

  /** Open connections. */
  get connections(): number {
    return this.sessions.size;
  }

  /** Stops accepting (GOAWAY on every connection); resolves once calls in flight have finished and their connections ended. */
  close(): Promise<void> {
    if (this.closed) return this.closed; // a second call waits for the first
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const gone = this.sessions.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.allGone = resolve));
    for (const s of this.sessions) s.close();
    return (this.closed = Promise.all([stopped, gone]).then(() => undefined));
  }

  /** Cuts every connection now (after close(): what its drain left). */
  forceClose(): void {
    this.closing = true;
    this.server.close();
    for (const s of this.sessions) s.destroy();
  }
}
