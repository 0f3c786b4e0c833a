// One HTTP/2 connection to a sidecar, on bare node:http2: connected on first
// use, replaced after it closes, errors or is told GOAWAY (calls already on
// it finish; new ones take a fresh connection), and pinged so a peer that
// vanished without a FIN or RST (a partitioned host) is noticed in seconds.
// Like a grpc-js channel, it keeps the process alive only while calls are
// on it (acquire/release), so an idle client or balancer can exit.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { noop } from '../../common/noop';
import { systemClock, type Clock, type TimerHandle } from '../../common/clock';

/** How often an idle-or-busy connection is pinged, and how long an answer may take. */
const PING_EVERY_MS = 10_000;
const PING_TIMEOUT_MS = 5_000;
/** Connection-level flow-control window (bytes): many calls with large tensors share one connection. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;

const SESSION_OPTIONS: http2.SecureClientSessionOptions = {
  // Tensors can be large and many calls share one connection: node's 10 MB default would refuse streams under load.
  maxSessionMemory: 128,
  settings: { enablePush: false, initialWindowSize: 4 * 1024 * 1024 },
};

/** Streams open on a session (acquired, not yet released). */
const ACTIVE = Symbol('infergate.active');
const SOCKET = Symbol('infergate.socket');
type CountedSession = http2.ClientHttp2Session & { [ACTIVE]: number; [SOCKET]: net.Socket };

/** Ends a session and its socket now (its streams, if any, fail). */
function end(s: http2.ClientHttp2Session): void {
  s.destroy();
  (s as CountedSession)[SOCKET]?.destroy();
}

/** A self-healing HTTP/2 client connection to one authority (host:port). */
export class H2Connection {
  private session: http2.ClientHttp2Session | undefined;
  private pinger: TimerHandle | undefined;
  private closed = false;

  private readonly host: string;
  private readonly port: number;

  /** authority: host:port ([v6]:port for IPv6); clock: the ping timers'. */
  constructor(
    readonly authority: string,
    private readonly clock: Clock = systemClock,
  ) {
    const i = authority.lastIndexOf(':');
    this.host = authority.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    this.port = Number(authority.slice(i + 1));
  }

  /**
   * The live session for one more call, connecting if there is none; pair with release() when
   * the call's stream closes. Throws once close() was called.
   */
  acquire(): http2.ClientHttp2Session {
    if (this.closed) throw new Error(`connection to ${this.authority} is closed`);
    let s = this.session as CountedSession | undefined;
    if (!s || s.closed || s.destroyed) s = this.connect();
    if (s[ACTIVE]++ === 0) s.ref();
    return s;
  }

  /**
   * A call's stream on session closed: with none left, the session stops holding the process
   * open, and a session already replaced (after GOAWAY) is closed.
   */
  release(session: http2.ClientHttp2Session): void {
    const s = session as CountedSession;
    if (--s[ACTIVE] > 0) return;
    s[ACTIVE] = 0;
    if (s !== this.session) end(s);
    else s.unref();
  }

  /**
   * Connects now when there is no live session, so the first call does not wait for the TCP
   * and HTTP/2 handshakes (what grpc-js does when a subchannel is created). A failure is no
   * one's error: the next call connects again.
   */
  preconnect(): void {
    if (this.closed) return;
    const s = this.session;
    if (!s || s.closed || s.destroyed) this.connect();
  }

  /** True while a session is connected (not connecting, not closed). */
  get connected(): boolean {
    const s = this.session;
    return !!s && !s.connecting && !s.closed && !s.destroyed;
  }

  /** Closes the session: calls on it fail as connection failures. */
  close(): void {
    this.closed = true;
    const s = this.session;
    this.drop();
    if (s) end(s);
  }

  private connect(): CountedSession {
    // The socket is ours: node 20 leaves it open (and never emits 'close') when a session that got
    // GOAWAY is closed, so end() destroys both.
    const socket = net.connect(this.port, this.host);
    socket.setNoDelay(true);
    const s = http2.connect(`http://${this.authority}`, { ...SESSION_OPTIONS, createConnection: () => socket }) as CountedSession;
    s[SOCKET] = socket;
    s[ACTIVE] = 0;
    this.session = s;
    s.on('error', noop); // reported to each stream as it closes
    // Every pinned stream's leg and shared upstream stream on it listens for its GOAWAY: no leak warning at 11.
    s.setMaxListeners(0);
    const forget = (): void => {
      if (this.session !== s) return;
      this.drop();
      if (s[ACTIVE] === 0) end(s); // replaced with nothing on it: nothing will release it
    };
    s.once('close', forget);
    // After GOAWAY the session accepts no new streams; those in flight still finish on it.
    s.once('goaway', forget);
    s.once('connect', () => {
      // initialWindowSize covers streams only; the connection's own window would stay at 64 KiB.
      s.setLocalWindowSize(CONNECTION_WINDOW);
      if (this.session === s) this.startPings(s);
    });
    s.unref(); // until a call acquires it: an idle connection must not keep the process alive
    return s;
  }

  /** Pings s every PING_EVERY_MS (re-armed at each tick, as an interval would be) until it is dropped. */
  private startPings(s: http2.ClientHttp2Session): void {
    const clock = this.clock;
    const tick = (): void => {
      if (this.session !== s) return; // dropped or replaced: its pings end with it
      this.pinger = clock.setTimeout(tick, PING_EVERY_MS);
      clock.unref(this.pinger);
      if (s.closed || s.destroyed) return;
      const t = clock.setTimeout(() => end(s), PING_TIMEOUT_MS); // no PING answer: the peer is gone
      clock.unref(t);
      try {
        s.ping((err) => {
          clock.clearTimeout(t);
          if (err && !s.destroyed) end(s);
        });
      } catch {
        clock.clearTimeout(t); // too many unacknowledged pings, or the session is closing
      }
    };
    this.pinger = clock.setTimeout(tick, PING_EVERY_MS);
    clock.unref(this.pinger);
  }

  private drop(): void {
    if (this.pinger) this.clock.clearTimeout(this.pinger);
    this.pinger = undefined;
    this.session = undefined;
  }
}
