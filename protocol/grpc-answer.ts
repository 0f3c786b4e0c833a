// How a gRPC call is answered, for both servers that answer one: the
// sidecar's on node:http2 (sidecar/server/h2-server.ts) and the balancer's
// front on http2/ (whose H2Stream has the same surface). The answer headers
// and respond() options are constant objects, so the front can pre-encode
// them (http2's preEncoded()); a status alone goes trailers-only, or in the
// trailers of an answer already started. And, on the calling side, the
// status a HEADERS block carries.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { Status } from './status';
import { decodeGrpcMessage, encodeGrpcMessage, statusFromHeader } from './grpc-wire';
import { ORCA_TRAILER } from './load-report';

/** Options of respond(), as node:http2 and http2/stream.ts both read them. */
export interface AnswerOptions {
  readonly endStream?: boolean;
  readonly waitForTrailers?: boolean;
  /** false: no `date` header (node adds one by default; http2/ never does). */
  readonly sendDate?: boolean;
}

/**
 * What answering needs of a server stream: node:http2's ServerHttp2Stream and http2/stream.ts's
 * H2Stream both have it (declared here so protocol/ imports neither server).
 */
export interface AnswerStream {
  readonly destroyed: boolean;
  readonly closed: boolean;
  readonly headersSent: boolean;
  readonly writableEnded: boolean;
  respond(headers: OutgoingHttpHeaders, options?: AnswerOptions): void;
  sendTrailers(headers: OutgoingHttpHeaders): void;
  end(data?: string): void;
  resume(): unknown;
  once(event: 'wantTrailers', listener: () => void): unknown;
  removeAllListeners(event: 'wantTrailers'): unknown;
}

/** Headers of a gRPC answer. */
export const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc', 'grpc-accept-encoding': 'identity' };
/**
 * Options of an answer with a message: trailers follow it, and no `date` header (node adds one by
 * default; gRPC clients ignore it, and it is the one header HPACK cannot index across seconds).
 */
export const WITH_TRAILERS: AnswerOptions = { waitForTrailers: true, sendDate: false };
/** Options of a trailers-only answer (a status and no message). */
export const TRAILERS_ONLY: AnswerOptions = { endStream: true, sendDate: false };

/** Adds a status to h: grpc-status, grpc-message when it is an error, and the ORCA load report when given. */
function putStatus(h: OutgoingHttpHeaders, code: Status, details: string, orca: string | undefined): OutgoingHttpHeaders {
  h['grpc-status'] = String(code);
  if (code !== Status.OK) h['grpc-message'] = encodeGrpcMessage(details);
  if (orca !== undefined) h[ORCA_TRAILER] = orca;
  return h;
}

/** The trailers of a call ending with code; orca: the ORCA load report's trailer value, if any. */
export function statusTrailers(code: Status, details: string, orca?: string): OutgoingHttpHeaders {
  return putStatus({}, code, details, orca);
}

/**
 * Ends a call with a status: trailers-only before any answer, in its trailers after (in place of
 * the ones its start asked for); nothing once the answer has ended, its status being on its way.
 * load: whose ORCA load report to carry (the sidecar's LoadTracker), if any; read only if it answers.
 */
export function replyStatus(stream: AnswerStream, code: Status, details: string, load?: { trailerValue(): string }): void {
  if (stream.destroyed || stream.closed || stream.writableEnded) return;
  // Reading goes on (and is ignored): a stream paused for backpressure would otherwise never finish closing.
  stream.resume();
  const orca = load?.trailerValue();
  if (!stream.headersSent) {
    stream.respond(putStatus({ ...RESPONSE_HEADERS }, code, details, orca), TRAILERS_ONLY);
    return;
  }
  const trailers = statusTrailers(code, details, orca);
  stream.removeAllListeners('wantTrailers');
  stream.once('wantTrailers', () => stream.sendTrailers(trailers));
  stream.end();
}

/**
 * Answers a request that is not gRPC (not POST, or not content-type application/grpc[+...]) with
 * HTTP 415 and a line saying what the port expects; returns false when it did.
 */
export function acceptGrpc(stream: AnswerStream, headers: IncomingHttpHeaders): boolean {
  const ct = headers['content-type'] ?? '';
  if (
    headers[':method'] === 'POST' &&
    (ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;'))
  )
    return true;
  stream.respond({ ':status': 415, 'content-type': 'text/plain' });
  stream.end(`this port speaks gRPC (POST, content-type application/grpc); got ${headers[':method']} ${ct || 'no content-type'}\n`);
  return false;
}

/** Where takeStatus writes what a status HEADERS block said. */
export interface CallStatus {
  code: Status | undefined;
  details: string;
  orca?: Buffer | undefined;
}

/** Reads grpc-status, grpc-message and the ORCA trailer from a HEADERS block (trailers, or a trailers-only response); nothing without grpc-status. */
export function takeStatus(into: CallStatus, h: IncomingHttpHeaders): void {
  if (h['grpc-status'] === undefined) return;
  into.code = statusFromHeader(h['grpc-status']);
  into.details = decodeGrpcMessage(h['grpc-message']);
  const orca = h[ORCA_TRAILER];
  if (typeof orca === 'string') into.orca = Buffer.from(orca, 'base64');
}
