// inference.GRPCInferenceService on bare node:http2: the sidecar's gRPC
// transport. The methods themselves are methods.ts; messages are
// decoded and encoded with the same protobufjs codecs grpc-js would use
// (proto-loader's, protocol/proto.ts), so the objects are the ones the
// generated types describe. Every answer carries the sidecar's load in the
// `endpoint-load-metrics-bin` trailer (ORCA); stream answers carry errors in
// error_message, as Triton does, so one bad request never ends the stream.
//
// Why not grpc-js: its server costs ~55 us of CPU per unary call and ~10.6 us
// per stream message on this machine, bare node:http2 ~33 us and ~5 us
// (shared/reference.md), and at ~24 us per batched inference the transport
// was most of the sidecar's own cost (BENCHMARKS.md, sidecar batching).
import * as http2 from 'node:http2';
import { deadlineFromTimeout, frame, MessageReader } from '../../protocol/grpc-wire';
import type { Clock } from '../../common/clock';
import { H2Server } from './h2-server';
import { acceptGrpc, replyStatus, RESPONSE_HEADERS as HEADERS, statusTrailers, WITH_TRAILERS } from '../../protocol/grpc-answer';
import { loadInferenceProto } from '../../protocol/proto';
import { invalidArgument, Status } from '../../protocol/status';
import { lastBytesField } from '../../protocol/wire-fields';
import type { ModelInferRequest__Output } from '../../proto/gen/inference/ModelInferRequest';
import type { ModelStreamInferResponse } from '../../proto/gen/inference/ModelStreamInferResponse';
import { streamError, streamInfer, unaryMethods, type Reply, type UnaryMethod } from './methods';
import type { InferService } from './infer-service';
import type { LoadTracker } from '../../protocol/load-report';
import { noop } from '../../common/noop';
import { methodPath, SERVICE } from '../../protocol/paths';

interface Codec {
  decode(buf: Buffer): unknown;
  encode(msg: object): Buffer;
}

interface Method {
  readonly codec: Codec;
  /** Absent for ModelStreamInfer. */
  readonly unary: UnaryMethod | undefined;
}

/** A unary call's request as it is read. */
interface UnaryRead {
  request: Buffer | undefined;
  count: number;
}

/** The id of a message protobufjs could not decode, if its top level is still readable. */
function idOf(bytes: Buffer): string {
  try {
    return lastBytesField(bytes, 3)?.toString('utf8') ?? '';
  } catch {
    return '';
  }
}

function keepRequest(m: Buffer, r: UnaryRead): void {
  r.request = m;
  r.count++;
}

/** The gRPC server of one sidecar. */
export class GrpcServer {
  private readonly h2: H2Server;
  private readonly methods = new Map<string, Method>();

  constructor(
    private readonly svc: InferService,
    private readonly load: LoadTracker,
    private readonly clock: Clock,
  ) {
    const service = loadInferenceProto().inference.GRPCInferenceService.service;
    const unary = unaryMethods(svc);
    for (const [name, def] of Object.entries(service)) {
      const codec: Codec = { decode: (b) => def.requestDeserialize(b), encode: (m) => def.responseSerialize(m) };
      this.methods.set(methodPath(name), { codec, unary: unary[name] });
    }
    this.h2 = new H2Server((stream, headers) => {
      try {
        this.onStream(stream, headers);
      } catch (e) {
        this.replyStatus(stream, Status.INTERNAL, `sidecar error: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  }

  /** Binds host:port (0: a free port); resolves with the port. */
  listen(host: string, port: number): Promise<number> {
    return this.h2.listen(host, port);
  }

  /** Stops accepting (GOAWAY on every connection); resolves once the calls in flight have finished. */
  close(): Promise<void> {
    return this.h2.close();
  }

  /** Cuts every connection now; calls in flight end. */
  forceClose(): void {
    this.h2.forceClose();
  }

  private trailers(code: Status, details: string): http2.OutgoingHttpHeaders {
    return statusTrailers(code, details, this.load.trailerValue());
  }

  /** Ends a call with a status (protocol/grpc-answer.ts), carrying the sidecar's load as every answer does. */
  private replyStatus(stream: http2.ServerHttp2Stream, code: Status, details: string): void {
    replyStatus(stream, code, details, this.load);
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', noop);
    if (!acceptGrpc(stream, headers)) return;
    const path = headers[':path'] ?? '';
    const method = this.methods.get(path);
    if (!method) return this.replyStatus(stream, Status.UNIMPLEMENTED, `method ${path} is not served; see ${SERVICE}`);
    // grpc-timeout is relative: the deadline is on the injected clock, as the scheduler's are.
    const now = this.clock.now();
    const deadline = deadlineFromTimeout(headers['grpc-timeout'], now);
    if (Number.isFinite(deadline)) {
      // As grpc-js does: the call ends at its deadline, answered or not.
      const timer = this.clock.setTimeout(
        () => this.replyStatus(stream, Status.DEADLINE_EXCEEDED, 'deadline exceeded'),
        Math.max(0, deadline - now),
      );
      stream.once('close', () => this.clock.clearTimeout(timer));
    }
    // grpc-encoding decides the status of a compressed message (MessageReader).
    const reader = new MessageReader(headers['grpc-encoding']);
    if (method.unary) this.unary(stream, method.codec, method.unary, deadline, reader);
    else this.stream(stream, method.codec, deadline, reader);
  }

  private unary(stream: http2.ServerHttp2Stream, codec: Codec, run: UnaryMethod, deadline: number, reader: MessageReader): void {
    const read: UnaryRead = { request: undefined, count: 0 };
    stream.on('data', (chunk: Buffer) => {
      if (!reader.push(chunk, keepRequest, read)) this.replyStatus(stream, reader.error!.code, reader.error!.message);
    });
    stream.on('end', () => {
      if (reader.error) return;
      if (read.count !== 1 || reader.partial)
        return this.replyStatus(stream, Status.INTERNAL, `a unary call carries exactly one message; got ${read.count}`);
      let req: unknown;
      try {
        req = codec.decode(read.request!);
      } catch (e) {
        return this.replyStatus(
          stream,
          Status.INVALID_ARGUMENT,
          `the request is not a valid protobuf message: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
      const reply: Reply = (err, res) => {
        if (stream.destroyed || stream.closed || stream.headersSent) return; // cancelled, or the deadline answered first
        if (err) return this.replyStatus(stream, err.code, err.message);
        let bytes: Buffer;
        try {
          bytes = codec.encode(res!);
        } catch (e) {
          return this.replyStatus(stream, Status.INTERNAL, `response could not be encoded: ${e instanceof Error ? e.message : String(e)}`);
        }
        stream.respond(HEADERS, WITH_TRAILERS);
        stream.once('wantTrailers', () => stream.sendTrailers(this.trailers(Status.OK, '')));
        stream.end(frame(bytes));
      };
      run(req as never, deadline, reply);
    });
  }

  /** ModelStreamInfer: each message answered on its own, in completion order; the stream ends once the client ended and all are answered. */
  private stream(stream: http2.ServerHttp2Stream, codec: Codec, deadline: number, reader: MessageReader): void {
    stream.respond(HEADERS, WITH_TRAILERS);
    stream.once('wantTrailers', () => stream.sendTrailers(this.trailers(Status.OK, '')));
    let open = 0;
    let ended = false;
    const answer = (msg: ModelStreamInferResponse): void => {
      open--;
      if (stream.destroyed || stream.closed || stream.writableEnded) return;
      let bytes: Buffer;
      try {
        bytes = codec.encode(msg);
      } catch (e) {
        bytes = codec.encode(
          streamError(
            msg.infer_response?.id ?? '',
            new Error(`response could not be encoded: ${e instanceof Error ? e.message : String(e)}`),
          ),
        );
      }
      // A client that does not read its answers is not read either, until they have gone out.
      if (!stream.write(frame(bytes))) stream.pause();
      if (ended && open === 0) stream.end();
    };
    const onMessage = (bytes: Buffer): void => {
      if (stream.writableEnded) return; // ended with a status (deadline, bad framing): nothing more is run
      open++;
      let req: ModelInferRequest__Output;
      try {
        req = codec.decode(bytes) as ModelInferRequest__Output;
      } catch (e) {
        // Its id (field 3, the last one wins) is still worth finding: the caller matches answers by it.
        return answer(
          streamError(
            idOf(bytes),
            invalidArgument(`a message is not a valid ModelInferRequest: ${e instanceof Error ? e.message : String(e)}`),
          ),
        );
      }
      streamInfer(this.svc, req, deadline, answer);
    };
    stream.on('drain', () => stream.resume());
    stream.on('data', (chunk: Buffer) => {
      if (!reader.push(chunk, onMessage, undefined)) this.replyStatus(stream, reader.error!.code, reader.error!.message);
    });
    stream.on('end', () => {
      ended = true;
      if (reader.partial) return this.replyStatus(stream, Status.INTERNAL, 'the stream ended inside a message');
      if (open === 0 && !stream.writableEnded) stream.end();
    });
  }
}
