// gRPC load on bare node:http2: unary ModelInfer (one HTTP/2 stream per
// call) and ModelStreamInfer (one long-lived stream per connection, messages
// tagged with an id to match answers that come back out of order).
//
// Why not grpc-js: a generator that costs as much CPU as the server under
// test measures itself. Against the trivial server, one caller (2026-12-01):
// grpc-js (testkit/raw-client.ts) 220 us of CPU per unary call, this 117 us;
// at 16 callers this costs ~60 us, nearly all of it node's own http2 client
// (an AsyncResource.bind per request, the stream objects, GC). The request is
// framed once, every call writes the same bytes, and nothing of a response is
// decoded but grpc-status (trailers, or a trailers-only HEADERS block) and, on
// streams, the answer's id and error_message.
import * as http2 from 'node:http2';
import { Connections } from './connections';
import { bytesField, tryLastBytesField } from '../../protocol/wire-fields';
import { noop } from '../../common/noop';
import { METHOD } from '../../protocol/paths';

/** How a call ended, once: undefined = OK, else an error key ('UNAVAILABLE', 'http_503', 'transport'). */
export type Done = (startMs: number, outcome: string | undefined) => void;

/** A load transport a worker drives; each owns its connections. */
export interface Transport {
  /** Opens the connections; resolves when they are up or have failed (calls then fail as 'transport'). */
  connect(): Promise<void>;
  /** Sends one request; done(startMs, outcome) follows exactly once, never synchronously. */
  send(startMs: number): void;
  /** Calls sent and not yet done. */
  readonly inFlight: number;
  /** Closes everything; calls still out never report. */
  close(): void;
}

/** gRPC status names by code. */
export const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

const UNARY_HEADERS = { ':method': 'POST', ':path': METHOD.ModelInfer, 'content-type': 'application/grpc', te: 'trailers' };
const STREAM_HEADERS = { ...UNARY_HEADERS, ':path': METHOD.ModelStreamInfer };

/** What the harness reads from a ModelStreamInferResponse. */
interface StreamAnswer {
  /** error_message (field 1) when non-empty. */
  readonly error: string | undefined;
  /** infer_response.id (field 2 → 3), the correlation key; undefined when absent. */
  readonly id: Buffer | undefined;
}

/** error_message and infer_response.id of a ModelStreamInferResponse (absent both, when it is malformed). */
function readStreamAnswer(msg: Buffer): StreamAnswer {
  const err = tryLastBytesField(msg, 1);
  const inner = tryLastBytesField(msg, 2);
  return { error: err && err.length > 0 ? err.toString('utf8') : undefined, id: inner && tryLastBytesField(inner, 3) };
}

const STATUS_PREFIX = /^\[([A-Z_]+)\]/;

/** The status name of a stream error_message: the '[UNAVAILABLE] ...' prefix our sidecar and balancer write, else 'UNKNOWN' (Triton writes bare text). */
function streamErrorStatus(message: string): string {
  return STATUS_PREFIX.exec(message)?.[1] ?? 'UNKNOWN';
}

/** The 5-byte gRPC prefix plus msg, uncompressed. */
export function frame(msg: Buffer): Buffer {
  const b = Buffer.allocUnsafe(5 + msg.length);
  b[0] = 0;
  b.writeUInt32BE(msg.length, 1);
  msg.copy(b, 5);
  return b;
}

/** An error key from what the HEADERS blocks said (code -1: no grpc-status seen). */
function outcomeOf(code: number, http: number): string | undefined {
  if (http !== 200 && http !== 0) return `http_${http}`;
  if (code < 0) return 'transport';
  return code === 0 ? undefined : (STATUS_NAMES[code] ?? `status_${code}`);
}

/** Per-call state rides on the stream object, so a call allocates no closure or record of its own. */
type UnaryStream = http2.ClientHttp2Stream & { _owner: GrpcUnary; _start: number; _code: number; _http: number };

function onUnaryResponse(this: UnaryStream, h: http2.IncomingHttpHeaders): void {
  this._http = Number(h[':status']);
  if (h['grpc-status'] !== undefined) this._code = Number(h['grpc-status']); // trailers-only
}
function onUnaryTrailers(this: UnaryStream, h: http2.IncomingHttpHeaders): void {
  if (h['grpc-status'] !== undefined) this._code = Number(h['grpc-status']);
}
function onUnaryClose(this: UnaryStream): void {
  this._owner.ended(this._start, outcomeOf(this._code, this._http));
}

/** Unary ModelInfer calls spread round robin over the connections. */
export class GrpcUnary implements Transport {
  inFlight = 0;
  private readonly conns: Connections;
  private readonly framed: Buffer;
  private rr = 0;
  private closed = false;

  /** request: a serialized ModelInferRequest, framed once here and written as is by every call. */
  constructor(
    target: string,
    request: Buffer,
    private readonly connections: number,
    private readonly done: Done,
  ) {
    this.conns = new Connections(target, connections);
    this.framed = frame(request);
  }

  /** Opens the connections. */
  connect(): Promise<void> {
    return this.conns.open();
  }

  /** One call; latency counts from startMs. */
  send(startMs: number): void {
    this.inFlight++;
    this.rr = (this.rr + 1) % this.connections;
    let st: UnaryStream;
    try {
      st = this.conns.get(this.rr).request(UNARY_HEADERS) as UnaryStream;
    } catch {
      setImmediate(() => this.ended(startMs, 'transport')); // session closing under us, or out of stream ids
      return;
    }
    st._owner = this;
    st._start = startMs;
    st._code = -1;
    st._http = 0;
    st.on('response', onUnaryResponse);
    st.on('trailers', onUnaryTrailers);
    st.on('data', noop); // consume the answer so flow control keeps moving; it is never decoded
    st.on('error', noop); // the close that follows reports it
    st.on('close', onUnaryClose);
    st.end(this.framed);
  }

  /** Called once per call when its stream closes. */
  ended(startMs: number, outcome: string | undefined): void {
    this.inFlight--;
    if (!this.closed) this.done(startMs, outcome);
  }

  /** Closes the connections. */
  close(): void {
    this.closed = true;
    this.conns.close();
  }
}

/** Width of the hex id appended to each stream message (fixed, so one template fits every message). */
const ID_LEN = 8;
const HEX = Buffer.from('0123456789abcdef');

/** One ModelStreamInfer call and the messages waiting on it (seq → start ms, in send order). */
interface Slot {
  call: http2.ClientHttp2Stream | undefined;
  readonly pending: Map<number, number>;
  rest: Buffer | undefined;
  code: number;
  http: number;
}

/** ModelStreamInfer: one stream per connection, messages round robin over them, answers matched by id. */
export class GrpcStream implements Transport {
  inFlight = 0;
  private readonly conns: Connections;
  private readonly slots: Slot[];
  private readonly template: Buffer;
  private seq = 0;
  private rr = 0;
  private closed = false;

  /** request: a serialized ModelInferRequest; an id field is appended per message (a decoder keeps the last). */
  constructor(
    target: string,
    request: Buffer,
    connections: number,
    private readonly done: Done,
  ) {
    this.conns = new Connections(target, connections);
    this.slots = Array.from({ length: connections }, () => ({ call: undefined, pending: new Map(), rest: undefined, code: -1, http: 0 }));
    this.template = frame(Buffer.concat([request, bytesField(3, Buffer.alloc(ID_LEN, 0x30))]));
  }

  /** Opens the connections. */
  connect(): Promise<void> {
    return this.conns.open();
  }

  /** One stream message; latency counts from startMs. */
  send(startMs: number): void {
    this.rr = (this.rr + 1) % this.slots.length;
    const slot = this.slots[this.rr];
    if (!slot.call && !this.open(slot, this.rr)) {
      this.inFlight++;
      setImmediate(() => this.finish(startMs, 'transport'));
      return;
    }
    const seq = (this.seq = (this.seq + 1) >>> 0);
    // A copy per message: http2 may still hold the previous one in its write queue.
    const msg = Buffer.allocUnsafe(this.template.length);
    this.template.copy(msg);
    for (let i = 0, at = msg.length - 1; i < ID_LEN; i++, at--) msg[at] = HEX[(seq >>> (4 * i)) & 15];
    slot.pending.set(seq, startMs);
    this.inFlight++;
    slot.call!.write(msg);
  }

  /** Closes the streams and connections. */
  close(): void {
    this.closed = true;
    this.conns.close();
  }

  private open(slot: Slot, i: number): boolean {
    let call: http2.ClientHttp2Stream;
    try {
      call = this.conns.get(i).request(STREAM_HEADERS);
    } catch {
      return false;
    }
    slot.call = call;
    slot.code = -1;
    slot.http = 0;
    slot.rest = undefined;
    const takeStatus = (h: http2.IncomingHttpHeaders): void => {
      if (h[':status'] !== undefined) slot.http = Number(h[':status']);
      if (h['grpc-status'] !== undefined) slot.code = Number(h['grpc-status']);
    };
    call.on('response', takeStatus);
    call.on('trailers', takeStatus);
    call.on('data', (chunk: Buffer) => this.onData(slot, chunk));
    call.on('error', noop);
    call.on('close', () => {
      if (slot.call === call) slot.call = undefined;
      // Messages still waiting fail with the stream's status; a stream that ended OK without answering them is a server bug.
      const outcome = outcomeOf(slot.code, slot.http) ?? 'stream_ended';
      for (const start of slot.pending.values()) this.finish(start, outcome);
      slot.pending.clear();
    });
    return true;
  }

  private onData(slot: Slot, chunk: Buffer): void {
    let b = slot.rest ? Buffer.concat([slot.rest, chunk]) : chunk;
    let pos = 0;
    while (b.length - pos >= 5) {
      const n = b.readUInt32BE(pos + 1);
      if (b.length - pos - 5 < n) break;
      this.onAnswer(slot, b.subarray(pos + 5, pos + 5 + n));
      pos += 5 + n;
    }
    slot.rest = pos < b.length ? b.subarray(pos) : undefined;
  }

  private onAnswer(slot: Slot, msg: Buffer): void {
    const { error, id } = readStreamAnswer(msg);
    let seq = -1;
    if (id && id.length === ID_LEN) {
      seq = 0;
      for (let i = 0; i < ID_LEN; i++) {
        const c = id[i];
        seq = seq * 16 + (c <= 0x39 ? c - 0x30 : c - 0x57);
      }
    }
    let start = slot.pending.get(seq);
    if (start === undefined) {
      // No usable id (a server that drops it on errors): take the oldest message waiting.
      const first = slot.pending.entries().next();
      if (first.done) return;
      [seq, start] = first.value;
    }
    slot.pending.delete(seq);
    this.finish(start, error === undefined ? undefined : streamErrorStatus(error));
  }

  private finish(startMs: number, outcome: string | undefined): void {
    this.inFlight--;
    if (!this.closed) this.done(startMs, outcome);
  }
}
