// How an upstream attempt that got no status is classified (call.ts
// wasRefused): refused (never processed, RFC 9113 §8.7) only when the peer
// refused the stream (RST_STREAM REFUSED_STREAM, or a GOAWAY whose
// last-stream-id is below it) or the connection never came up; a stream the
// peer reset after taking it is a plain connection failure. Real servers on
// loopback, for unary calls and for messages on a shared upstream stream.
// And a call that ended both ways sends no RST_STREAM (call.ts endIfOpen).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { UpstreamPool } from '../../../balancer/upstream/pool';
import { INFER_METHODS, type UpstreamResult } from '../../../balancer/upstream/types';
import { Status } from '../../../protocol/status';
import { goawayRefuser, rstRefuser, type RefusingPeer } from '../../helpers/refusing-peers';

/** A server that takes every stream (response headers sent) and then resets it with CANCEL. */
async function resetAfterTaking(): Promise<{ port: number; close(): Promise<void> }> {
  const s = http2.createServer();
  s.on('session', (x) => x.on('error', () => undefined));
  s.on('stream', (st) => {
    st.on('error', () => undefined);
    st.respond({ ':status': 200, 'content-type': 'application/grpc' });
    setTimeout(() => st.close(http2.constants.NGHTTP2_CANCEL), 10);
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const REQ = Buffer.from([0x0a, 0x06, ...Buffer.from('ranker')]);

function viaUnary(pool: UpstreamPool): Promise<UpstreamResult> {
  return new Promise((resolve) => pool.call(INFER_METHODS.infer, REQ, new grpc.Metadata(), Infinity, resolve));
}

function viaStream(pool: UpstreamPool): Promise<UpstreamResult> {
  return new Promise((resolve) => pool.stream('', REQ, new grpc.Metadata(), Infinity, resolve));
}

let rst: RefusingPeer;
let goaway: RefusingPeer;
let taker: { port: number; close(): Promise<void> };
let dead: number;

before(async () => {
  [rst, goaway, taker, dead] = await Promise.all([rstRefuser(), goawayRefuser(), resetAfterTaking(), deadPort()]);
});

after(async () => {
  await Promise.all([rst.close(), goaway.close(), taker.close()]);
});

/** A gRPC-ish node:http2 server answering every call OK with trailers (as the sidecar does), counting its sessions and GOAWAYs sent. */
async function okServer(): Promise<{ port: number; sessions: () => number; close(): Promise<void> }> {
  const s = http2.createServer();
  let sessions = 0;
  const open = new Set<http2.ServerHttp2Session>();
  s.on('session', (x) => {
    sessions++;
    open.add(x);
    x.on('error', () => undefined);
    x.once('close', () => open.delete(x));
  });
  s.on('stream', (st) => {
    st.on('error', () => undefined);
    st.on('data', () => undefined);
    st.on('end', () => {
      st.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      st.once('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0' }));
      st.end(Buffer.from([0, 0, 0, 0, 1, 0x08]));
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as net.AddressInfo).port,
    sessions: () => sessions,
    close: () =>
      new Promise<void>((r) => {
        for (const x of open) x.destroy();
        s.close(() => r());
      }),
  };
}

test('3,000 calls on one connection keep it: no RST_STREAM on streams already closed both ways', async () => {
  // node's server counts a frame on a closed stream as invalid and, past maxSessionInvalidFrames
  // (1000), ends the connection with GOAWAY INTERNAL_ERROR, failing every call on it.
  const srv = await okServer();
  const pool = new UpstreamPool(`127.0.0.1:${srv.port}`, 1);
  try {
    let next = 0;
    const codes = new Map<Status, number>();
    const worker = async () => {
      while (next++ < 3000) {
        const r = await viaUnary(pool);
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    assert.deepEqual([...codes], [[Status.OK, 3000]]);
    assert.equal(srv.sessions(), 1, 'one connection served every call');
  } finally {
    pool.close();
    await srv.close();
  }
});

test('refused only when the peer never processed the call, for unary calls and shared-stream messages alike', async () => {
  const table: Array<{ name: string; port: () => number; refused: boolean }> = [
    { name: 'RST_STREAM REFUSED_STREAM', port: () => rst.port, refused: true },
    { name: 'GOAWAY with last-stream-id 0', port: () => goaway.port, refused: true },
    { name: 'nothing listening (never connected)', port: () => dead, refused: true },
    { name: 'taken, then reset with CANCEL', port: () => taker.port, refused: false },
  ];
  for (const row of table) {
    for (const [how, send] of [
      ['unary', viaUnary],
      ['stream', viaStream],
    ] as const) {
      const pool = new UpstreamPool(`127.0.0.1:${row.port()}`, 1);
      try {
        const r = await send(pool);
        const what = `${row.name} (${how}): ${r.details}`;
        assert.equal(r.code, Status.UNAVAILABLE, what);
        assert.equal(r.connectionFailure, true, what);
        assert.equal(r.refused === true, row.refused, what);
      } finally {
        pool.close();
      }
    }
  }
});
