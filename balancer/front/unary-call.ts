// The unary methods of the gRPC face: ModelInfer, ModelReady and
// ModelMetadata are routed (ModelMetadata answers cached a while);
// ServerLive, ServerReady and ServerMetadata are answered here. A call's
// state (UnaryCall) hangs off its stream and the listeners are module
// functions with the stream as `this`, so a call adds no closures beyond
// the one completion callback the router takes.
import type * as grpc from '@grpc/grpc-js';
import { Status } from '../../protocol/status';
import { MessageReader } from '../../protocol/grpc-wire';
import type { H2Stream } from '../../http2/stream';
import { replyStatus } from '../../protocol/grpc-answer';
import { reply, replyMessage } from './answer';
import { routeCall, type FrontDeps, type UnaryKind } from './grpc-call';
import { isReady, modelReadyOutcome, modelRoutable, NOT_READY_RESPONSE, serverMetadata } from './service-info';
import { INFER_METHODS, type CancelFn } from '../upstream/types';
import { stringField } from '../../protocol/wire-fields';

/** How long a ModelMetadata answer is reused: metadata changes only when models are reloaded. */
const METADATA_TTL_MS = 5_000;

const UNARY = Symbol('infergate.front.unary');

/** One unary call's state. */
export interface UnaryCall {
  readonly methods: UnaryMethods;
  readonly kind: UnaryKind;
  readonly md: grpc.Metadata;
  readonly deadline: number;
  readonly reader: MessageReader;
  /** The request message. */
  request: Buffer | undefined;
  messages: number;
  /** Cancels the routed call. */
  cancel: CancelFn | undefined;
}

type UnaryStream = H2Stream & { [UNARY]: UnaryCall };

function keepRequest(msg: Buffer, call: UnaryCall): void {
  call.request = msg;
  call.messages++;
}

function onUnaryData(this: UnaryStream, chunk: Buffer): void {
  const call = this[UNARY];
  if (!call.reader.push(chunk, keepRequest, call)) replyStatus(this, call.reader.error!.code, call.reader.error!.message);
}

function onUnaryEnd(this: UnaryStream): void {
  const call = this[UNARY];
  if (call.reader.error) return;
  if (call.messages !== 1 || call.reader.partial) {
    return replyStatus(
      this,
      Status.INTERNAL,
      `a unary call carries exactly one message; got ${call.messages}${call.reader.partial ? ' and a partial one' : ''}`,
    );
  }
  call.methods.answer(this, call, call.request!);
}

function onUnaryClose(this: UnaryStream): void {
  // The client reset the call before its answer: stop the routed call too.
  const cancel = this[UNARY].cancel;
  this[UNARY].cancel = undefined;
  cancel?.();
}

/** The front's unary methods: one per front, shared by its calls (it holds the ModelMetadata cache). */
export class UnaryMethods {
  private readonly metadataCache = new Map<string, { bytes: Buffer; until: number }>();

  constructor(private readonly deps: FrontDeps) {}

  /** Takes a unary call whose headers were accepted: reads its one message, then answers it. encoding: its grpc-encoding header. */
  start(stream: H2Stream, kind: UnaryKind, md: grpc.Metadata, deadline: number, encoding?: string | string[]): void {
    (stream as UnaryStream)[UNARY] = {
      methods: this,
      kind,
      md,
      deadline,
      reader: new MessageReader(encoding),
      request: undefined,
      messages: 0,
      cancel: undefined,
    };
    stream.on('data', onUnaryData);
    stream.on('end', onUnaryEnd);
    stream.on('close', onUnaryClose);
  }

  /** @internal A complete unary request (onUnaryEnd). */
  answer(stream: H2Stream, call: UnaryCall, bytes: Buffer): void {
    const { router, clusters, clock } = this.deps;
    switch (call.kind) {
      case 'live':
        return replyMessage(stream, Buffer.from([0x08, 0x01]));
      case 'serverReady':
        return replyMessage(stream, Buffer.from([0x08, isReady(clusters) ? 0x01 : 0x00]));
      case 'serverMetadata': {
        const m = serverMetadata();
        return replyMessage(
          stream,
          Buffer.concat([stringField(1, m.name), stringField(2, m.version), ...m.extensions.map((e) => stringField(3, e))]),
        );
      }
      default:
        break;
    }
    const rc = routeCall(bytes, call.md, call.deadline, undefined);
    if (!('bytes' in rc)) return replyStatus(stream, rc.code, rc.details);
    if (call.kind === 'infer') {
      call.cancel = router.infer(rc, (o) => {
        call.cancel = undefined;
        reply(stream, o);
      });
      return;
    }
    if (call.kind === 'metadata') {
      const key = bytes.toString('base64');
      const hit = this.metadataCache.get(key);
      if (hit && hit.until > clock.now()) return replyMessage(stream, hit.bytes);
      call.cancel = router.forward(INFER_METHODS.metadata, rc, (o) => {
        call.cancel = undefined;
        if (o.code === Status.OK && o.response) {
          if (this.metadataCache.size > 1000) this.metadataCache.clear();
          this.metadataCache.set(key, { bytes: o.response, until: clock.now() + METADATA_TTL_MS });
        }
        reply(stream, o);
      });
      return;
    }
    // ModelReady: a model (or version) nothing can serve now, known or not, is ready=false, not an error (Triton's answer).
    if (!modelRoutable(clusters, rc.model, rc.version)) return replyMessage(stream, NOT_READY_RESPONSE);
    call.cancel = router.forward(INFER_METHODS.ready, rc, (o) => {
      call.cancel = undefined;
      reply(stream, modelReadyOutcome(o));
    });
  }
}
