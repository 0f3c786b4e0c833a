// gRPC over HTTP/2 at the byte level, for the servers and clients on bare
// node:http2 (the balancer's front and upstreams, the sidecar's gRPC server):
// length-prefixed message framing, grpc-timeout, grpc-message escaping, and
// request metadata as headers.
//
// Why not grpc-js here: a proxied call pays for two grpc-js stacks (server
// and client), and on this machine that measured ~250 us of CPU per unary
// call and ~75 us per stream message, against ~120 us and ~11 us for the
// same forwarding on bare node:http2 (prototype, 2026-12-01, h2load load).
import * as grpc from '@grpc/grpc-js';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { Status } from './status';

/** Largest message accepted in either direction (matches the sidecar's 64 MiB). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** The 5-byte prefix of an uncompressed message of length n. */
function prefix(n: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b[0] = 0;
  b.writeUInt32BE(n, 1);
  return b;
}

/** msg framed as one gRPC message (one copy; small next to the syscall it saves over two writes). */
export function frame(msg: Buffer): Buffer {
  return Buffer.concat([prefix(msg.length), msg], msg.length + 5);
}

/**
 * req with a string field appended (key ASCII, under 128 bytes), framed as one gRPC message, in
 * one allocation: the upstream stream's correlation id goes out without two concats per message.
 */
export function frameWithField(req: Buffer, field: number, key: string): Buffer {
  const body = req.length + 2 + key.length;
  const out = Buffer.allocUnsafe(5 + body);
  out[0] = 0;
  out.writeUInt32BE(body, 1);
  req.copy(out, 5);
  let pos = 5 + req.length;
  out[pos++] = (field << 3) | 2;
  out[pos++] = key.length;
  out.write(key, pos, 'latin1');
  return out;
}

function uncork(w: NodeJS.WritableStream & { uncork(): void }): void {
  w.uncork();
}

/**
 * Writes buf, coalescing every write to the same stream within this tick into
 * one writev: answers to a batch arrive together, and one DATA frame for all
 * of them costs far less native time than one each. Returns write()'s answer:
 * false once the stream's buffer is full (wait for 'drain').
 */
export function writeCoalesced(
  w: { write(b: Buffer): boolean; cork(): void; uncork(): void; writableCorked: number },
  buf: Buffer,
): boolean {
  if (w.writableCorked === 0) {
    w.cork();
    process.nextTick(uncork, w);
  }
  return w.write(buf);
}

/** Why a MessageReader stopped. */
export interface FrameError {
  readonly code: Status;
  readonly message: string;
}

/**
 * Splits a DATA byte stream into gRPC messages. A message that arrives in one
 * chunk is handed out as a view of it (no copy); only messages split across
 * chunks are joined.
 */
export class MessageReader {
  /**
   * encoding: the call's grpc-encoding header, as the peer sent it (absent: none). It decides the
   * status of a message with the compressed flag set, per the gRPC spec (PROTOCOL-HTTP2.md,
   * compression.md): without a grpc-encoding, or with identity, the flag is a protocol violation
   * (INTERNAL); with an encoding named, that encoding is one this process does not implement
   * (UNIMPLEMENTED; none is: messages are forwarded as bytes).
   */
  constructor(private readonly encoding?: string | string[]) {}

  private parts: Buffer[] = [];
  private have = 0;
  /** Body length of the buffered partial message, once its prefix is complete (-1: not yet). */
  private need = -1;
  /** The error that stopped the reader, if any. */
  error: FrameError | undefined;

  /**
   * Feeds a chunk; calls onMessage(msg, ctx) for each complete message, in order (ctx saves callers
   * a closure per call). Returns false once the stream is malformed.
   */
  push<T>(chunk: Buffer, onMessage: (msg: Buffer, ctx: T) => void, ctx: T): boolean {
    if (this.error) return false;
    let buf = chunk;
    if (this.have > 0) {
      this.parts.push(chunk);
      this.have += chunk.length;
      if (this.have < 5) return true;
      // The pending message's length, read once: recomputing it per chunk made small chunks quadratic.
      if (this.need < 0) this.need = (this.parts[0].length >= 5 ? this.parts[0] : Buffer.concat(this.parts, 5)).readUInt32BE(1);
      if (this.have < this.need + 5 && this.need <= MAX_MESSAGE_BYTES) return true;
      buf = Buffer.concat(this.parts, this.have);
      this.parts = [];
      this.have = 0;
      this.need = -1;
    }
    let pos = 0;
    while (buf.length - pos >= 5) {
      if (buf[pos] !== 0) return this.compressed(buf[pos]);
      const n = buf.readUInt32BE(pos + 1);
      if (n > MAX_MESSAGE_BYTES)
        return this.fail(Status.RESOURCE_EXHAUSTED, `message of ${n} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
      if (buf.length - pos - 5 < n) break;
      onMessage(buf.subarray(pos + 5, pos + 5 + n), ctx);
      pos += 5 + n;
    }
    if (pos < buf.length) {
      this.parts.push(buf.subarray(pos));
      this.have = buf.length - pos;
    }
    return true;
  }

  /** True when bytes of an unfinished message are buffered (a stream that ends now was cut mid-message). */
  get partial(): boolean {
    return this.have > 0;
  }

  /** Hands over the bytes of the unfinished message, as received (its prefix first), and forgets them. */
  takeBuffered(): Buffer[] {
    const parts = this.parts;
    this.parts = [];
    this.have = 0;
    this.need = -1;
    return parts;
  }

  /** Why a message whose flag byte is `flag` (not 0) cannot be read. */
  private compressed(flag: number): false {
    const enc = typeof this.encoding === 'string' ? this.encoding.trim().toLowerCase() : '';
    if (flag !== 1) return this.fail(Status.INTERNAL, `a message's compressed flag is ${flag}; expected 0 or 1`);
    if (enc === '' || enc === 'identity')
      return this.fail(
        Status.INTERNAL,
        `a message has the compressed flag set but the call's grpc-encoding is ${enc === '' ? 'absent' : 'identity'}; ` +
          'expected flag 0 for uncompressed messages',
      );
    return this.fail(Status.UNIMPLEMENTED, `grpc-encoding '${enc}' is not supported; send messages uncompressed (grpc-encoding identity)`);
  }

  private fail(code: Status, message: string): false {
    this.error = { code, message };
    this.parts = [];
    this.have = 0;
    this.need = -1;
    return false;
  }
}

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** Absolute deadline (epoch ms) from a grpc-timeout header; Infinity when absent or malformed. */
export function deadlineFromTimeout(value: string | string[] | undefined, now: number): number {
  if (typeof value !== 'string') return Infinity;
  const unit = TIMEOUT_UNITS[value[value.length - 1]];
  const n = Number(value.slice(0, -1));
  return unit === undefined || !Number.isFinite(n) || n < 0 ? Infinity : now + n * unit;
}

/** A grpc-timeout header value for ms milliseconds (at most 8 digits, as the spec allows). */
export function timeoutHeader(ms: number): string {
  let v = Math.max(0, Math.ceil(ms));
  for (const [unit, per] of [
    ['m', 1000],
    ['S', 60],
    ['M', 60],
    ['H', Infinity],
  ] as const) {
    if (v < 1e8 || unit === 'H') return `${Math.min(v, 99_999_999)}${unit}`;
    v = Math.ceil(v / per);
  }
  return '99999999H';
}

/**
 * grpc-message is percent-encoded outside printable ASCII (and '%' itself), byte by byte of
 * its UTF-8, and nothing else: grpc-js decodes it with decodeURI, which leaves an encoded ';'
 * or ',' as it is, so encodeURIComponent's wider escaping showed up in clients' messages.
 */
export function encodeGrpcMessage(s: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b < 16 ? '0' : ''}${b.toString(16).toUpperCase()}`;
  }
  return out;
}

/** The text of a grpc-message header. */
export function decodeGrpcMessage(v: string | string[] | undefined): string {
  if (typeof v !== 'string') return '';
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/**
 * Connection-level headers and ones the transport sets itself: never forwarded. Everything else
 * the client sent (tracing, tenant, shard key...) is.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'te',
  'content-type',
  'user-agent',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'grpc-timeout',
  'grpc-encoding',
  'grpc-accept-encoding',
  'http2-settings',
]);

/** Client request headers as the metadata to forward (pseudo and hop-by-hop headers dropped; -bin values decoded). */
export function metadataFromHeaders(headers: IncomingHttpHeaders): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* ':' */ || HOP_BY_HOP.has(key)) continue;
    const v = headers[key];
    if (v === undefined) continue;
    const bin = key.endsWith('-bin');
    for (const one of Array.isArray(v) ? v : String(v).split(',')) {
      const t = one.trim();
      try {
        md.add(key, bin ? Buffer.from(t, 'base64') : t);
      } catch {
        // A name or value gRPC metadata cannot carry (non-ASCII, odd characters): dropped, as grpc-js drops it.
      }
    }
  }
  return md;
}

/** Metadata as request headers for an upstream call (binary values base64, as the wire carries them). */
export function headersFromMetadata(md: grpc.Metadata, into: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const map = md.toHttp2Headers();
  for (const key in map) if (!HOP_BY_HOP.has(key)) into[key] = map[key];
  return into;
}

/** A status code from a grpc-status header; UNKNOWN when absent or not a number. */
export function statusFromHeader(v: string | string[] | undefined): Status {
  const n = typeof v === 'string' ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 0 && n <= 16 ? (n as Status) : Status.UNKNOWN;
}
