// A listening socket whose connections are h2-session.ts sessions: the
// balancer's gRPC port. Same surface as h2-server.ts's H2Server (listen,
// close with a drain deadline, forceClose), over the JavaScript framing.
import * as net from 'node:net';
import type { IncomingHttpHeaders } from 'node:http2';
import { DEFAULT_LIMITS, H2Session, type SessionLimits } from './session';
import type { H2Stream } from './stream';

function noop(): void {}

/** Binds server to host:port (0: a free port); resolves with the port. Both gRPC faces' servers listen through this. */
export function listenOn(server: net.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/** closed, or cut() once drainMs have passed without it (Infinity: no deadline). */
export function drainWithin(closed: Promise<void>, drainMs: number, cut: () => void): Promise<void> {
  if (!Number.isFinite(drainMs)) return closed;
  const timer = setTimeout(cut, drainMs);
  return closed.then(() => clearTimeout(timer));
}

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

  /** Binds host:port (0: a free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return listenOn(this.server, host, port);
  }

  /** Open connections. */
  get connections(): number {
    return this.sessions.size;
  }

  /** Stops accepting (GOAWAY on every connection); resolves once calls in flight have finished, or cuts them after drainMs. */
  close(drainMs = Infinity): Promise<void> {
    if (this.closed) return this.closed; // a second call waits for the first
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const gone = this.sessions.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.allGone = resolve));
    const closed = Promise.all([stopped, gone]).then(() => undefined);
    for (const s of this.sessions) s.close();
    return (this.closed = drainWithin(closed, drainMs, () => {
      for (const s of this.sessions) s.destroy();
    }));
  }

  /** Cuts every connection now. */
  forceClose(): void {
    this.closing = true;
    this.server.close();
    for (const s of this.sessions) s.destroy();
  }
}
