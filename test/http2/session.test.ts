// The JavaScript HTTP/2 server (http2/listener.ts, session.ts,
// stream.ts) against real clients: node:http2 (nghttp2) and grpc-js, and
// raw sockets for what a well-behaved client never sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { H2Listener } from '../../http2/listener';
import { drainWithin, listenOn } from '../../common/listen';
import { DEFAULT_LIMITS, type SessionLimits } from '../../http2/session';
import type { H2Stream } from '../../http2/stream';
import { encodeHeaders, HpackDecoder } from '../../http2/hpack';
import { Flag, Frame, FRAME_HEADER, H2Error, PREFACE, settingsFrame, writeFrameHeader } from '../../http2/frames';

type Handler = (s: H2Stream, h: http2.IncomingHttpHeaders) => void;

async function serve(handler: Handler, limits?: SessionLimits): Promise<{ port: number; listener: H2Listener }> {
  const listener = new H2Listener(handler, limits);
  return { port: await listenOn(listener.server, '127.0.0.1', 0), listener };
}

/** close(), cutting what is left after drainMs: as the balancer's front closes it. */
function closeWithin(listener: H2Listener, drainMs: number): Promise<void> {
  return drainWithin(listener.close(), drainMs, () => listener.forceClose());
}

/** Echoes the request body back with gRPC-style trailers carrying the request's x-echo header. */
const echo: Handler = (s, h) => {
  const parts: Buffer[] = [];
  s.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
  s.on('end', () => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0', 'x-echo': String(h['x-echo'] ?? '') }));
    s.end(Buffer.concat(parts));
  });
};

function request(
  client: http2.ClientHttp2Session,
  body: Buffer,
  headers: http2.OutgoingHttpHeaders = {},
): Promise<{ status: number; body: Buffer; trailers: http2.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':method': 'POST', ':path': '/x', 'content-type': 'application/grpc', ...headers });
    const parts: Buffer[] = [];
    let status = 0;
    let trailers: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('trailers', (t) => (trailers = t));
    req.on('error', reject);
    req.on('close', () => resolve({ status, body: Buffer.concat(parts), trailers }));
    req.end(body);
  });
}

test('node:http2 clients: many concurrent streams on one connection, each answered with its own body and trailers', async () => {
  const { port, listener } = await serve(echo);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => request(client, Buffer.from(`call ${i}`), { 'x-echo': `v${i % 7}` })),
    );
    answers.forEach((a, i) => {
      assert.equal(a.status, 200);
      assert.equal(a.body.toString(), `call ${i}`);
      assert.equal(a.trailers['grpc-status'], '0');
      assert.equal(a.trailers['x-echo'], `v${i % 7}`);
    });
  } finally {
    client.close();
    await closeWithin(listener, 1000);
  }
});

test('flow control both ways: 6 MiB up and back through a client with 64 KiB windows', async () => {
  const { port, listener } = await serve(echo);
  const client = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 65_535 } });
  try {
    const body = Buffer.alloc(6 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i, i);
    const [a, b] = await Promise.all([request(client, body), request(client, body.subarray(1))]);
    assert.equal(a.body.length, body.length);
    assert.ok(a.body.equals(body));
    assert.ok(b.body.equals(body.subarray(1)));
    assert.equal(a.trailers['grpc-status'], '0');
  } finally {
    client.close();
    await closeWithin(listener, 1000);
  }
});

test('a paused stream holds the client back to its window; resume delivers the rest in order', async () => {
  const limits: SessionLimits = { ...DEFAULT_LIMITS, streamWindow: 65_535 };
  let paused: H2Stream | undefined;
  let received = 0;
  const got: Buffer[] = [];
  const { port, listener } = await serve((s) => {
    paused = s;
    s.pause();
    s.on('data', (c: Buffer) => {
      received += c.length;
      got.push(Buffer.from(c));
    });
    s.on('end', () => {
      s.respond({ ':status': 200 }, { endStream: true });
    });
  }, limits);
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const body = Buffer.alloc(1024 * 1024, 3);
    body.writeUInt32BE(0xdeadbeef, body.length - 4);
    const done = request(client, body);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(received, 0, 'nothing is delivered while paused');
    paused!.resume();
    const a = await done;
    assert.equal(a.status, 200);
    assert.equal(received, body.length);
    assert.ok(Buffer.concat(got).equals(body));
  } finally {
    client.close();
    await closeWithin(listener, 1000);
  }
});

test('a client reset closes the server stream with its code', async () => {
  let closed: Promise<number> | undefined;
  const { port, listener } = await serve((s) => {
    closed = new Promise((resolve) => s.on('close', () => resolve(s.rstCode)));
  });
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const req = client.request({ ':method': 'POST', ':path': '/x' });
    req.on('error', () => {});
    req.write('partial');
    await new Promise((r) => setTimeout(r, 100));
    req.close(http2.constants.NGHTTP2_CANCEL);
    assert.equal(await closed, H2Error.CANCEL);
  } finally {
    client.close();
    await closeWithin(listener, 1000);
  }
});

test('grpc-js calls a unary method: metadata in, status and message out, deadline header seen', async () => {
  const seen: http2.IncomingHttpHeaders[] = [];
  const { port, listener } = await serve((s, h) => {
    seen.push(h);
    const parts: Buffer[] = [];
    s.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
    s.on('end', () => {
      const msg = Buffer.concat(parts);
      if (msg.subarray(5).toString() === 'fail') {
        s.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '3', 'grpc-message': 'bad %C3%97 input' },
          { endStream: true },
        );
        return;
      }
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(msg);
    });
  });
  const Client = grpc.makeGenericClientConstructor(
    {
      Echo: {
        path: '/t.T/Echo',
        requestStream: false,
        responseStream: false,
        requestSerialize: (b: Buffer) => b,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    'T',
  );
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = (body: string, md: grpc.Metadata) =>
    new Promise<Buffer>((resolve, reject) =>
      (
        client as unknown as {
          Echo(b: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void): void;
        }
      ).Echo(Buffer.from(body), md, { deadline: Date.now() + 5000 }, (e, r) => (e ? reject(e) : resolve(r!))),
    );
  try {
    const md = new grpc.Metadata();
    md.set('tenant', 'a');
    md.set('trace-bin', Buffer.from([0, 1, 2, 255]));
    for (let i = 0; i < 20; i++) assert.equal((await call(`hello ${i}`, md)).toString(), `hello ${i}`);
    await assert.rejects(
      call('fail', md),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details === 'bad × input',
    );
    const h = seen[0];
    assert.equal(h[':path'], '/t.T/Echo');
    assert.equal(h.tenant, 'a');
    assert.equal(Buffer.from(String(h['trace-bin']), 'base64').toString('hex'), '000102ff');
    assert.match(String(h['grpc-timeout']), /^\d+[mSu]$/);
  } finally {
    client.close();
    await closeWithin(listener, 1000);
  }
});

test('close() sends GOAWAY, lets the open stream finish, then ends the connection', async () => {
  let hold: H2Stream | undefined;
  const { port, listener } = await serve((s) => {
    hold = s;
  });
  const client = http2.connect(`http://127.0.0.1:${port}`);
  const goaway = new Promise<void>((r) => client.once('goaway', () => r()));
  const req = request(client, Buffer.from('x'));
  await new Promise((r) => setTimeout(r, 100));
  const closed = closeWithin(listener, 5000);
  await goaway;
  hold!.respond({ ':status': 200 }, { endStream: true });
  assert.equal((await req).status, 200);
  await closed;
  assert.equal(listener.connections, 0);
  client.destroy();
});

interface RawFrame {
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/** A raw connection that has sent bytes (after the preface and an empty SETTINGS unless withPreface is false). */
async function rawConnect(port: number, bytes: Buffer, withPreface = true): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  sock.write(withPreface ? Buffer.concat([PREFACE, settingsFrame([]), bytes]) : bytes);
  return sock;
}

/** The frames the server sends on sock, once enough(frames) holds (2 s at most). */
function framesUntil(sock: net.Socket, enough: (frames: RawFrame[]) => boolean): Promise<RawFrame[]> {
  const frames: RawFrame[] = [];
  let buf = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`frames so far: ${frames.map((f) => f.type).join(',')}`)), 2000);
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= FRAME_HEADER && buf.length >= FRAME_HEADER + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        frames.push({ type: buf[3], flags: buf[4], id: buf.readUInt32BE(5), payload: buf.subarray(FRAME_HEADER, FRAME_HEADER + len) });
        buf = buf.subarray(FRAME_HEADER + len);
      }
      if (enough(frames)) {
        clearTimeout(timer);
        resolve(frames);
      }
    });
  });
}

/** The GOAWAY error code the server ends a raw connection with after bytes. */
async function goawayAfter(port: number, bytes: Buffer, withPreface = true): Promise<number> {
  const sock = await rawConnect(port, bytes, withPreface);
  const frames = await framesUntil(sock, (f) => f.some((x) => x.type === Frame.GOAWAY));
  sock.destroy();
  return frames.find((x) => x.type === Frame.GOAWAY)!.payload.readUInt32BE(4);
}

function rawFrame(type: Frame, flags: number, id: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(FRAME_HEADER + payload.length);
  writeFrameHeader(b, 0, payload.length, type, flags, id);
  payload.copy(b, FRAME_HEADER);
  return b;
}

test('protocol violations end the connection with GOAWAY and the right code', async () => {
  const { port, listener } = await serve(echo);
  const block = encodeHeaders([':method', 'POST', ':scheme', 'http', ':path', '/x']);
  const table: Array<[string, Buffer, number, boolean?]> = [
    ['HTTP/1.1 instead of the preface', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), H2Error.PROTOCOL_ERROR, false],
    ['first frame not SETTINGS', Buffer.concat([PREFACE, rawFrame(Frame.PING, 0, 0, Buffer.alloc(8))]), H2Error.PROTOCOL_ERROR, false],
    ['even stream id', rawFrame(Frame.HEADERS, Flag.END_HEADERS, 2, block), H2Error.PROTOCOL_ERROR],
    ['DATA on an idle stream', rawFrame(Frame.DATA, 0, 9, Buffer.from('x')), H2Error.PROTOCOL_ERROR],
    ['frame over 16 KiB', rawFrame(Frame.DATA, 0, 1, Buffer.alloc(20_000)), H2Error.FRAME_SIZE_ERROR],
    ['CONTINUATION without HEADERS', rawFrame(Frame.CONTINUATION, Flag.END_HEADERS, 1, block), H2Error.PROTOCOL_ERROR],
    [
      'a frame inside a header block',
      Buffer.concat([rawFrame(Frame.HEADERS, 0, 1, block), rawFrame(Frame.PING, 0, 0, Buffer.alloc(8))]),
      H2Error.PROTOCOL_ERROR,
    ],
    [
      'undecodable HPACK',
      rawFrame(Frame.HEADERS, Flag.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f])),
      H2Error.COMPRESSION_ERROR,
    ],
    ['PING of 4 bytes', rawFrame(Frame.PING, 0, 0, Buffer.alloc(4)), H2Error.FRAME_SIZE_ERROR],
    ['WINDOW_UPDATE of 0 on the connection', rawFrame(Frame.WINDOW_UPDATE, 0, 0, Buffer.alloc(4)), H2Error.PROTOCOL_ERROR],
    ['PUSH_PROMISE from a client', rawFrame(Frame.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)), H2Error.PROTOCOL_ERROR],
  ];
  try {
    for (const [what, bytes, code, preface] of table) assert.equal(await goawayAfter(port, bytes, preface ?? true), code, what);
    // The server is still fine for everyone else.
    const client = http2.connect(`http://127.0.0.1:${port}`);
    assert.equal((await request(client, Buffer.from('still here'))).body.toString(), 'still here');
    client.close();
  } finally {
    await closeWithin(listener, 1000);
  }
});

test('PING is answered with its payload; streams past the concurrency limit are refused, not dropped', async () => {
  const limits: SessionLimits = { ...DEFAULT_LIMITS, maxConcurrentStreams: 2 };
  const { port, listener } = await serve(() => {}, limits); // holds every stream open
  const block = encodeHeaders([':method', 'POST', ':scheme', 'http', ':path', '/x']);
  const ping = Buffer.from('12345678');
  const sock = await rawConnect(
    port,
    Buffer.concat([
      rawFrame(Frame.PING, 0, 0, ping),
      rawFrame(Frame.HEADERS, Flag.END_HEADERS, 1, block),
      rawFrame(Frame.HEADERS, Flag.END_HEADERS, 3, block),
      rawFrame(Frame.HEADERS, Flag.END_HEADERS, 5, block),
    ]),
  );
  const frames = await framesUntil(sock, (f) => f.some((x) => x.type === Frame.RST_STREAM) && f.some((x) => x.type === Frame.PING));
  try {
    const pong = frames.find((f) => f.type === Frame.PING)!;
    assert.equal(pong.flags & Flag.ACK, Flag.ACK);
    assert.ok(pong.payload.equals(ping));
    const rst = frames.filter((f) => f.type === Frame.RST_STREAM);
    assert.deepEqual(
      rst.map((f) => [f.id, f.payload.readUInt32BE(0)]),
      [[5, H2Error.REFUSED_STREAM]],
    );
  } finally {
    sock.destroy();
    listener.forceClose();
  }
});

test('an oversized header list, sent across CONTINUATION frames, reaches the handler with its size to answer in its own terms', async () => {
  // Raw: node:http2 clients refuse such a stream themselves once they have read our SETTINGS.
  let bytes = 0;
  const { port, listener } = await serve((s) => {
    bytes = s.headerBytes;
    s.respond({ ':status': 431 }, { endStream: true });
  });
  const block = encodeHeaders([':method', 'POST', ':scheme', 'http', ':path', '/x', 'x-big', 'v'.repeat(70_000)]);
  const parts = [rawFrame(Frame.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 16_000))];
  for (let off = 16_000; off < block.length; off += 16_000) {
    parts.push(rawFrame(Frame.CONTINUATION, off + 16_000 >= block.length ? Flag.END_HEADERS : 0, 1, block.subarray(off, off + 16_000)));
  }
  const sock = await rawConnect(port, Buffer.concat(parts));
  const headers = (await framesUntil(sock, (f) => f.some((x) => x.type === Frame.HEADERS))).find((x) => x.type === Frame.HEADERS)!;
  const answer: string[] = [];
  new HpackDecoder().decode(headers.payload, 0, headers.payload.length, answer, 1 << 20);
  try {
    assert.deepEqual(answer, [':status', '431']);
    assert.ok(bytes > DEFAULT_LIMITS.maxHeaderListSize, `${bytes}`);
  } finally {
    sock.destroy();
    listener.forceClose();
  }
});

test("'drain' follows a write refused only because the socket is full (no flow-control wait)", async () => {
  let sawFalse = false;
  const drained = new Promise<void>((resolve) => {
    void serve((s) => {
      s.respond({ ':status': 200 });
      // A 16 MiB client window: the whole write fits it, so only the socket can refuse.
      sawFalse = !s.write(Buffer.alloc(2 * 1024 * 1024, 1));
      s.on('drain', () => {
        s.end();
        resolve();
      });
    }).then(({ port, listener }) => {
      const client = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 16 * 1024 * 1024 } });
      client.once('connect', () => client.setLocalWindowSize(16 * 1024 * 1024));
      const req = client.request({ ':method': 'POST', ':path': '/x' });
      req.on('data', () => {});
      req.on('close', () => {
        client.close();
        void closeWithin(listener, 1000);
      });
      req.end();
    });
  });
  await drained;
  assert.ok(sawFalse, 'a 2 MiB write is over the high-water mark');
});

test('clients that shrink or zero their HPACK table (SETTINGS_HEADER_TABLE_SIZE) still read our answers', async () => {
  const { port, listener } = await serve(echo);
  try {
    for (const headerTableSize of [0, 1024, 4096]) {
      const client = http2.connect(`http://127.0.0.1:${port}`, { settings: { headerTableSize } });
      const answers = await Promise.all([1, 2, 3].map((i) => request(client, Buffer.from(`t${i}`))));
      assert.deepEqual(
        answers.map((a) => [a.status, a.body.toString(), a.trailers['grpc-status']]),
        [
          [200, 't1', '0'],
          [200, 't2', '0'],
          [200, 't3', '0'],
        ],
        `table ${headerTableSize}`,
      );
      client.close();
    }
  } finally {
    await closeWithin(listener, 1000);
  }
});

test('an answer given while the request ends in the same frame sends no RST_STREAM; a throwing listener resets only its stream', async () => {
  const { port, listener } = await serve((s, h) => {
    if (h[':path'] === '/throw') {
      s.on('data', () => {
        throw new Error('listener bug');
      });
      return;
    }
    s.respond({ ':status': 404 }, { endStream: true });
  });
  const get = encodeHeaders([':method', 'GET', ':scheme', 'http', ':path', '/nothing']);
  const thrower = encodeHeaders([':method', 'POST', ':scheme', 'http', ':path', '/throw']);
  const sock = await rawConnect(
    port,
    Buffer.concat([
      rawFrame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, get),
      rawFrame(Frame.HEADERS, Flag.END_HEADERS, 3, thrower),
      rawFrame(Frame.DATA, Flag.END_STREAM, 3, Buffer.from('x')),
      rawFrame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 5, get),
    ]),
  );
  const answers = (f: RawFrame[]) => f.filter((x) => x.type === Frame.HEADERS || x.type === Frame.RST_STREAM || x.type === Frame.GOAWAY);
  const frames = answers(await framesUntil(sock, (f) => answers(f).length >= 3)).map(
    (x) => `${x.type === Frame.HEADERS ? 'HEADERS' : x.type === Frame.RST_STREAM ? `RST ${x.payload.readUInt32BE(0)}` : 'GOAWAY'} ${x.id}`,
  );
  try {
    assert.deepEqual(frames, ['HEADERS 1', `RST ${H2Error.INTERNAL_ERROR} 3`, 'HEADERS 5']);
  } finally {
    sock.destroy();
    listener.forceClose();
  }
});

test('close() in two steps: a call sent before the client read the first GOAWAY is still served; the final GOAWAY names it', async () => {
  const { port, listener } = await serve((s) => s.respond({ ':status': 200 }, { endStream: true }));
  const sock = await rawConnect(port, Buffer.alloc(0));
  await new Promise((r) => setTimeout(r, 50));
  const closed = closeWithin(listener, 5000);
  // On the wire before this client has read (or answered the PING after) the first GOAWAY.
  sock.write(
    rawFrame(Frame.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1, encodeHeaders([':method', 'POST', ':scheme', 'http', ':path', '/late'])),
  );
  const frames = await framesUntil(sock, (f) => f.filter((x) => x.type === Frame.GOAWAY).length === 2);
  const seen = frames
    .filter((x) => x.type === Frame.GOAWAY || x.type === Frame.HEADERS || x.type === Frame.RST_STREAM)
    .map((x) =>
      x.type === Frame.GOAWAY ? `GOAWAY ${x.payload.readUInt32BE(0)}` : x.type === Frame.HEADERS ? `HEADERS ${x.id}` : `RST ${x.id}`,
    );
  assert.deepEqual(seen, ['GOAWAY 2147483647', 'HEADERS 1', 'GOAWAY 1']);
  sock.destroy();
  await closed;
});

test('a client resetting streams faster than its allowance (rapid reset) loses the connection with ENHANCE_YOUR_CALM', async () => {
  const limits: SessionLimits = { ...DEFAULT_LIMITS, resetBurst: 20, resetsPerSecond: 1 };
  let opened = 0;
  const { port, listener } = await serve(() => void opened++, limits);
  const block = encodeHeaders([':method', 'POST', ':scheme', 'http', ':path', '/x']);
  const cancel = Buffer.alloc(4);
  cancel.writeUInt32BE(H2Error.CANCEL);
  const open = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) => [
      rawFrame(Frame.HEADERS, Flag.END_HEADERS, from + 2 * i, block),
      rawFrame(Frame.RST_STREAM, 0, from + 2 * i, cancel),
    ]).flat();
  try {
    // Within the allowance: nothing happens to the connection.
    const calm = await rawConnect(port, Buffer.concat([...open(1, 20), rawFrame(Frame.PING, 0, 0, Buffer.alloc(8))]));
    const answered = await framesUntil(calm, (f) => f.some((x) => x.type === Frame.PING && (x.flags & Flag.ACK) !== 0));
    assert.equal(answered.filter((x) => x.type === Frame.GOAWAY).length, 0);
    calm.destroy();
    assert.equal(await goawayAfter(port, Buffer.concat(open(1, 25))), H2Error.ENHANCE_YOUR_CALM);
    assert.ok(opened >= 40, `${opened} streams reached the handler`);
  } finally {
    listener.forceClose();
  }
});
