// Messages of client ModelStreamInfer streams, multiplexed onto long-lived
// upstream ModelStreamInfer streams to a sidecar, instead of one upstream
// unary call per message: grpc-js costs ~10.6 us of CPU per stream message
// against ~55 us per unary call (shared/reference.md), and the balancer pays
// it on both sides.
//
// The sidecar may answer out of order (batches finish when they finish), so
// each message is tagged: its id (field 3) is overridden by appending a
// correlation key (a decoder keeps the last occurrence), the sidecar echoes
// it in the response's id, and the client's own id is appended back onto the
// response before it goes out. Neither the tensors nor anything else in the
// message is decoded.
//
// A stream carries one set of request metadata (headers are per stream, not
// per message), so client streams share an upstream stream only when the
// metadata they forward is equal (streamKey). A stream with nothing pending
// ends after IDLE_END_MS: a draining sidecar waits for open streams before it
// stops, and one the balancer no longer sends to must not be held open.
import { systemClock, type Clock, type TimerHandle } from '../../common/clock';
import { Status } from '../../protocol/status';
import type { CancelFn, UpstreamResult } from './types';
import { bytesField, lastBytesField } from '../../protocol/wire-fields';

/** How long an upstream stream with nothing pending stays open. */
export const IDLE_END_MS = 1000;

const EMPTY = Buffer.alloc(0);
const STATUS_PREFIX = /^\[([A-Z_]+)\] /;

/** The upstream call UpstreamStream drives: one message per write and 'data', one 'status' however it ends (call.ts H2MessageStream). */
export interface MessageStream {
  /** False once the stream should take no new messages (its connection got GOAWAY, or it closed). */
  readonly usable: boolean;
  /** Sends req with field 3 (id) overridden by key, as one message. */
  writeWithId(req: Buffer, key: string): void;
  end(): void;
  cancel(): void;
  on(event: 'data', cb: (msg: Buffer) => void): this;
  /** refused: the stream was refused as a whole, so none of its messages was processed (UpstreamResult.refused). */
  on(event: 'status', cb: (s: { code: Status; details: string; refused?: boolean }) => void): this;
  on(event: 'error', cb: (e: Error) => void): this;
}

interface Pending {
  readonly done: (r: UpstreamResult) => void;
  /** The client's id bytes (field 3), restored on the response. */
  readonly id: Buffer;
  /** The upstream call it went out on: when that call ends, only its messages fail. */
  readonly call: MessageStream;
  timer: TimerHandle | undefined;
}

/** The result of a stream message the sidecar answered with error_message ('[STATUS] text', the sidecar's convention). */
function errorResult(message: string): UpstreamResult {
  const m = STATUS_PREFIX.exec(message);
  const code = m && m[1] in Status ? (Status[m[1] as keyof typeof Status] as Status) : Status.UNKNOWN;
  return { code, details: m ? message.slice(m[0].length) : message, response: undefined, orca: undefined, connectionFailure: false };
}

/** One upstream ModelStreamInfer stream, opened on first use and reopened after it ends. */
export class UpstreamStream {
  private call: MessageStream | undefined;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private idle: TimerHandle | undefined;

  /** open: starts a new ModelStreamInfer call with this stream's metadata; prefix makes correlation keys unique per stream. */
  constructor(
    private readonly open: () => MessageStream,
    private readonly prefix: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Messages sent and not yet answered. */
  get size(): number {
    return this.pending.size;
  }

  /** Sends one serialized ModelInferRequest; done gets the ModelInferResponse bytes (client id restored) or a status. */
  send(req: Buffer, deadline: number, done: (r: UpstreamResult) => void): CancelFn {
    let call = this.call;
    if (call && !call.usable) {
      // Its connection is going away (a sidecar draining): answers to what is on it still come; new messages go on a new stream.
      this.call = undefined;
      call.end();
      call = undefined;
    }
    call ??= this.start();
    this.stopIdle();
    const key = this.prefix + (this.seq++).toString(36);
    // The router peeked this request already, so it is well-formed.
    const p: Pending = { done, id: lastBytesField(req, 3) ?? EMPTY, call, timer: undefined };
    if (Number.isFinite(deadline)) {
      p.timer = this.clock.setTimeout(
        () =>
          this.settle(key, {
            code: Status.DEADLINE_EXCEEDED,
            details: 'deadline exceeded waiting for the sidecar',
            response: undefined,
            orca: undefined,
            connectionFailure: false,
          }),
        Math.max(0, deadline - this.clock.now()),
      );
    }
    this.pending.set(key, p);
    call.writeWithId(req, key);
    // Settle, not just forget: the router releases the endpoint's in-flight slot when the attempt ends.
    return () =>
      this.settle(key, { code: Status.CANCELLED, details: 'cancelled', response: undefined, orca: undefined, connectionFailure: false });
  }

  /** Ends the stream; messages pending fail as connection failures (retryable elsewhere). */
  close(): void {
    this.stopIdle();
    const call = this.call;
    this.call = undefined;
    if (call) {
      call.cancel();
      this.failAll(call, 'upstream stream closed');
    }
  }

  private start(): MessageStream {
    const call = this.open();
    this.call = call;
    call.on('data', (msg: Buffer) => this.onMessage(msg));
    // 'status' comes once, however the stream ended (end, error, cancel).
    call.on('status', (s: { code: Status; details: string; refused?: boolean }) => {
      if (this.call === call) this.call = undefined;
      this.failAll(call, `upstream stream ended: ${Status[s.code] ?? s.code} ${s.details}`, s.refused === true);
    });
    call.on('error', () => undefined); // reported through 'status'
    return call;
  }

  private onMessage(msg: Buffer): void {
    let inner: Buffer | undefined;
    let error: Buffer | undefined;
    let key: string | undefined;
    try {
      inner = lastBytesField(msg, 2);
      error = lastBytesField(msg, 1);
      key = inner && lastBytesField(inner, 3)?.toString('utf8');
    } catch {
      return; // not ours to answer: without a key nobody is waiting on it
    }
    if (key === undefined) return;
    const p = this.pending.get(key);
    if (!p) return; // cancelled or timed out already
    if (error && error.length > 0) return this.settle(key, errorResult(error.toString('utf8')));
    // Appending the client's id overrides the key the sidecar echoed (last occurrence wins).
    const response = Buffer.concat([inner!, bytesField(3, p.id)]);
    this.settle(key, { code: Status.OK, details: '', response, orca: undefined, connectionFailure: false });
  }

  private settle(key: string, r: UpstreamResult): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.forget(key);
    p.done(r);
  }

  private forget(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    if (p.timer) this.clock.clearTimeout(p.timer);
    this.pending.delete(key);
    if (this.pending.size === 0 && this.call && !this.idle) {
      this.idle = this.clock.setTimeout(() => {
        this.idle = undefined;
        if (this.pending.size > 0 || !this.call) return;
        const call = this.call;
        this.call = undefined;
        call.end();
      }, IDLE_END_MS);
    }
  }

  private stopIdle(): void {
    if (!this.idle) return;
    this.clock.clearTimeout(this.idle);
    this.idle = undefined;
  }

  /** Fails the messages pending on call as connection failures; refused: the sidecar processed none of them. */
  private failAll(call: MessageStream, details: string, refused = false): void {
    const failed: Pending[] = [];
    for (const [key, p] of this.pending) {
      if (p.call !== call) continue;
      if (p.timer) this.clock.clearTimeout(p.timer);
      this.pending.delete(key);
      failed.push(p);
    }
    for (const p of failed)
      p.done({ code: Status.UNAVAILABLE, details, response: undefined, orca: undefined, connectionFailure: true, refused });
  }
}
