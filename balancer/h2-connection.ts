// One HTTP/2 connection to a sidecar, on bare node:http2: connected on first
// use, replaced after it closes, errors or is told GOAWAY (calls already on
// it finish; new ones take a fresh connection), and pinged so a peer that
// vanished without a FIN or RST (a partitioned host) is noticed in seconds.
import * as http2 from 'node:http2';

/** How often an idle-or-busy connection is pinged, and how long an answer may take. */
const PING_EVERY_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;

const SESSION_OPTIONS: http2.SecureClientSessionOptions = {
  // Tensors can be large and many calls share one connection: node's 10 MB default would refuse streams under load.
  maxSessionMemory: 128,
  settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 },
};

function noop(): void {}

/** A self-healing HTTP/2 client connection to one authority (host:port). */
export class H2Connection {
  private session: http2.ClientHttp2Session | undefined;
  private pinger: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly authority: string) {}

  /** The live session, connecting if there is none. Throws once close() was called. */
  get(): http2.ClientHttp2Session {
    if (this.closed) throw new Error(`connection to ${this.authority} is closed`);
    const s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    return this.connect();
  }

  /** True while a session is connected (not connecting, not closed). */
  get connected(): boolean {
    const s = this.session;
    return !!s && !s.connecting && !s.closed && !s.destroyed;
  }

  /** Closes the session: calls on it fail as connection failures. */
  close(): void {
    this.closed = true;
    this.drop();
    this.session?.destroy();
    this.session = undefined;
  }

  private connect(): http2.ClientHttp2Session {
    const s = http2.connect(`http://${this.authority}`, SESSION_OPTIONS);
    this.session = s;
    s.on('error', noop); // reported to each stream as it closes
    const forget = (): void => {
      if (this.session === s) this.drop();
    };
    s.once('close', forget);
    // After GOAWAY the session accepts no new streams; those in flight still finish on it.
    s.once('goaway', forget);
    s.once('connect', () => {
      if (this.session === s) this.startPings(s);
    });
    s.unref(); // an idle upstream connection must not keep the process alive
    return s;
  }

  private startPings(s: http2.ClientHttp2Session): void {
    this.pinger = setInterval(() => {
      if (s.closed || s.destroyed) return;
      const t = setTimeout(() => s.destroy(new Error(`no PING answer from ${this.authority} in ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
      t.unref();
      try {
        s.ping((err) => {
          clearTimeout(t);
          if (err && !s.destroyed) s.destroy(err);
        });
      } catch {
        clearTimeout(t); // too many unacknowledged pings, or the session is closing
      }
    }, PING_EVERY_MS);
    this.pinger.unref();
  }

  private drop(): void {
    if (this.pinger) clearInterval(this.pinger);
    this.pinger = undefined;
    this.session = undefined;
  }
}
