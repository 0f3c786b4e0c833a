// Real HTTP/2 servers on loopback that refuse every stream, the two ways a
// peer can say "not processed" (RFC 9113 §8.7): RST_STREAM REFUSED_STREAM
// on each stream (node:http2, as nghttp2 does past SETTINGS_MAX_CONCURRENT_STREAMS
// before the client has read the SETTINGS), and a GOAWAY whose last-stream-id
// is 0, written as raw frames (node:http2 turns a last-stream-id of 0 into the
// last stream it processed), so every stream the client opened is beyond it.
import * as http2 from 'node:http2';
import * as net from 'node:net';

/** A refusing server: its port, how many streams (or connections, for GOAWAY) it refused, and close(). */
export interface RefusingPeer {
  readonly port: number;
  /** Streams refused with RST_STREAM (rst), or connections answered with GOAWAY (goaway). */
  readonly refused: () => number;
  close(): Promise<void>;
}

/** Listens on a free loopback port; close() destroys what is still open (live) and closes the server. */
async function listening(server: net.Server, live: ReadonlySet<{ destroy(): void }>, refused: () => number): Promise<RefusingPeer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    refused,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of live) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** node:http2 server answering every stream with RST_STREAM REFUSED_STREAM. */
export async function rstRefuser(): Promise<RefusingPeer> {
  let refused = 0;
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (st) => {
    st.on('error', () => undefined);
    refused++;
    st.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  });
  return listening(server, sessions, () => refused);
}

const SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
const SETTINGS_ACK = Buffer.from([0, 0, 0, 4, 1, 0, 0, 0, 0]);
/** GOAWAY, last-stream-id 0, NO_ERROR: nothing the client sent on this connection was processed. */
const GOAWAY_NONE = Buffer.from([0, 0, 8, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/** A raw TCP server that answers each HTTP/2 connection's first bytes with SETTINGS and GOAWAY(last-stream-id 0), then closes it. */
export async function goawayRefuser(): Promise<RefusingPeer> {
  let refused = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.once('close', () => sockets.delete(sock));
    sock.once('data', () => {
      refused++;
      sock.write(Buffer.concat([SETTINGS, SETTINGS_ACK, GOAWAY_NONE]));
      // Read on (and discard) until the client closes; cut it if it does not.
      sock.on('data', () => undefined);
      setTimeout(() => sock.destroy(), 200).unref();
    });
  });
  return listening(server, sockets, () => refused);
}
