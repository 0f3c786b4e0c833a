// Trivial Open Inference Protocol servers for testing the harness and for
// measuring its own ceiling: a bare node:http2 gRPC server answering
// ModelInfer and ModelStreamInfer with one fixed response, and a node:http
// REST server answering /v2/models/{m}/infer. Both can be told to stall
// (answer nothing for a while, then everything held) and to fail every nth
// call, so tests know exactly what the harness should have seen.
//
// Run directly (`node dist/bench/harness/trivial-server.js grpc|rest [port]`)
// it prints its port and serves until killed: the ceiling benchmark runs it
// in its own process.
import * as http from 'node:http';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { bytesField, tryLastBytesField } from '../../protocol/wire-fields';
import { frame } from './transport-grpc';
import { METHOD } from '../../protocol/paths';

/** How a trivial server misbehaves. */
export interface TrivialOptions {
  /** Every nth call (unary call or stream message, counted from 1) fails. */
  readonly failEvery?: number;
  /** gRPC status code of those failures (default 14, UNAVAILABLE); REST answers 503. */
  readonly failCode?: number;
  /** Unary failures as a trailers-only response (default) or after a normal response, in the trailers. */
  readonly failIn?: 'trailers-only' | 'trailers';
  /** Keep each call's arrival time (performance.now() ms) in `arrivals`. */
  readonly recordArrivals?: boolean;
}

/** A running trivial server. */
export interface TrivialServer {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Calls received so far (unary calls, stream messages or REST requests). */
  readonly calls: number;
  /** Calls answered with the failure status. */
  readonly failed: number;
  /** Arrival times when recordArrivals was set. */
  readonly arrivals: number[];
  /** From now on answer nothing for `ms`; every call held is answered when it ends. */
  stall(ms: number): void;
  /** Closes the server and its connections. */
  close(): Promise<void>;
}

const STATUS_UNAVAILABLE = 14;
const u8 = (...b: number[]) => Buffer.from(b);
const str = (field: number, s: string) => bytesField(field, Buffer.from(s));

/** ModelInferResponse: model_name, optional id, one FP32 [1,1] output 'score' and its raw bytes. */
function inferResponse(id?: Buffer): Buffer {
  const output = Buffer.concat([str(1, 'score'), str(2, 'FP32'), bytesField(3, u8(1, 1))]);
  return Buffer.concat([str(1, 'ranker'), ...(id ? [bytesField(3, id)] : []), bytesField(5, output), bytesField(6, Buffer.alloc(4))]);
}
const UNARY_ANSWER = frame(inferResponse());

/** Shared bookkeeping: call counting, failures, the stall window. */
class Behaviour {
  calls = 0;
  failed = 0;
  readonly arrivals: number[] = [];
  private stallUntil = 0;

  constructor(private readonly o: TrivialOptions) {}

  /** Counts a call; true when it is to fail. */
  arrive(): boolean {
    this.calls++;
    if (this.o.recordArrivals) this.arrivals.push(performance.now());
    const fail = !!this.o.failEvery && this.calls % this.o.failEvery === 0;
    if (fail) this.failed++;
    return fail;
  }

  /** Runs answer now, or when the stall ends. */
  answer(fn: () => void): void {
    const wait = this.stallUntil - performance.now();
    if (wait > 0)
      setTimeout(fn, wait).unref(); // a stalled call must not keep a closed server's process alive
    else fn();
  }

  stall(ms: number): void {
    this.stallUntil = performance.now() + ms;
  }
}

function handleStream(b: Behaviour, o: TrivialOptions, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const code = o.failCode ?? STATUS_UNAVAILABLE;
  stream.on('error', () => undefined);
  if (headers[':path'] === METHOD.ModelStreamInfer) {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    let rest: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const msg = buf.subarray(5, 5 + buf.readUInt32BE(1));
        buf = buf.subarray(5 + msg.length);
        const id = tryLastBytesField(msg, 3);
        const inner = inferResponse(id && Buffer.from(id));
        const answer = b.arrive()
          ? frame(Buffer.concat([str(1, '[UNAVAILABLE] trivial server: failing as told'), bytesField(2, inner)]))
          : frame(bytesField(2, inner));
        b.answer(() => !stream.destroyed && stream.writable && stream.write(answer));
      }
      rest = buf;
    });
    stream.on('end', () => b.answer(() => !stream.destroyed && stream.end()));
    return;
  }
  const fail = b.arrive();
  stream.on('data', () => undefined);
  stream.on('end', () =>
    b.answer(() => {
      if (stream.destroyed || stream.closed) return; // the client gave up (or its connection went) while the call was held
      if (fail && o.failIn !== 'trailers') {
        // Trailers-only: status in the one HEADERS block, as servers answer calls they reject up front.
        stream.respond(
          { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': 'failing as told' },
          { endStream: true },
        );
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () =>
        stream.sendTrailers(fail ? { 'grpc-status': String(code), 'grpc-message': 'failing as told' } : { 'grpc-status': '0' }),
      );
      stream.end(UNARY_ANSWER);
    }),
  );
}

function expose(b: Behaviour, port: number, close: () => Promise<void>): TrivialServer {
  return {
    port,
    get calls() {
      return b.calls;
    },
    get failed() {
      return b.failed;
    },
    arrivals: b.arrivals,
    stall: (ms) => b.stall(ms),
    close,
  };
}

/** A gRPC server on 127.0.0.1 (port 0: any free port). */
export async function startTrivialGrpc(o: TrivialOptions = {}, port = 0): Promise<TrivialServer> {
  const b = new Behaviour(o);
  const server = http2.createServer({ maxSessionMemory: 1024 });
  server.on('stream', (stream, headers) => handleStream(b, o, stream, headers));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return expose(
    b,
    (server.address() as AddressInfo).port,
    () =>
      new Promise((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
}

const REST_OK = Buffer.from(
  JSON.stringify({ model_name: 'ranker', outputs: [{ name: 'score', datatype: 'FP32', shape: [1, 1], data: [0] }] }),
);
const REST_FAIL = Buffer.from(JSON.stringify({ error: 'trivial server: failing as told' }));

/** A REST server on 127.0.0.1 (port 0: any free port). */
export async function startTrivialRest(o: TrivialOptions = {}, port = 0): Promise<TrivialServer> {
  const b = new Behaviour(o);
  const server = http.createServer((req, res) => {
    const fail = b.arrive();
    req.on('data', () => undefined);
    req.on('end', () =>
      b.answer(() => {
        res.writeHead(fail ? 503 : 200, { 'content-type': 'application/json' });
        res.end(fail ? REST_FAIL : REST_OK);
      }),
    );
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return expose(
    b,
    (server.address() as AddressInfo).port,
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
}

if (require.main === module) {
  const [kind = 'grpc', p = '0'] = process.argv.slice(2);
  void (kind === 'rest' ? startTrivialRest({}, Number(p)) : startTrivialGrpc({}, Number(p))).then((s) =>
    process.stdout.write(`${s.port}\n`),
  );
}
