// One leg of a per_stream client stream (stream-pinned.ts): one upstream
// ModelStreamInfer stream to the endpoint the leg was pinned to. It writes
// the client's messages, reads the answers back, and keeps every message it
// sent until that message's answer came (matched by the request id the
// sidecar echoes in infer_response.id, first unanswered one with that id
// first), so that a leg which dies, or a drain that moves the stream,
// loses nothing: what is unanswered goes to the next leg.
//
// Answers are framed messages: a chunk made of whole messages, none held
// back, goes to the client as it came; otherwise the answers in it go one
// by one. Flow control is end to end, as before: a full upstream buffer
// pauses the client (the stream's job), a full client buffer pauses this
// upstream until the client's 'drain' (resumeReading).
import * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { Status } from '../../protocol/status';
import { frame, MessageReader, writeCoalesced } from '../../protocol/grpc-wire';
import { takeStatus, type CallStatus } from '../../protocol/grpc-answer';
import { lastBytesField } from '../../protocol/wire-fields';
import { METHOD } from '../../protocol/paths';
import { noop } from '../../common/noop';
import { requestHeaders } from '../upstream/call';
import type { PinnedRoute } from '../routing/route-call';
import { stringField } from '../../protocol/wire-fields';

const { NGHTTP2_CANCEL } = http2.constants;
const STATUS_PREFIX = /^\[([A-Z_]+)\] /;

/** A message sent on a leg and not yet answered to the client. */
export interface SentMessage {
  /** The client's message as it came (no route rewrite: each leg appends its own). */
  readonly msg: Buffer;
  /** Its request id (field 3), '' when none or unreadable. */
  readonly id: string;
  /** Order of arrival on the client stream, so replays keep it. */
  readonly seq: number;
  /** Legs it was sent on before this one. */
  tries: number;
}

/** How a leg ended: the sidecar's status, or none (reset, connection lost, refused, never connected). */
export interface LegEnd {
  readonly code: Status | undefined;
  readonly details: string;
  readonly orca: Buffer | undefined;
}

/** What a leg asks of its stream. */
export interface LegOwner {
  /** Writes answer bytes to the client; false when its buffer is full (the leg then pauses until resumeReading()). */
  deliver(buf: Buffer): boolean;
  /** The answer to m is an in-band error with `code`: true to hold it back for the next leg instead of forwarding it. */
  holdBack(leg: PinnedLeg, m: SentMessage, code: Status): boolean;
  /** An answer went to the client, or one was held back: unanswered() shrank. */
  answered(leg: PinnedLeg, forwarded: boolean): void;
  /** The upstream's buffer drained: the client may be read again. */
  writable(leg: PinnedLeg): void;
  /** The endpoint said GOAWAY: this leg takes no new messages; what is on it still finishes. */
  goingAway(leg: PinnedLeg): void;
  /** The leg's upstream stream closed (exactly once). */
  ended(leg: PinnedLeg, end: LegEnd): void;
}

/** The status code an in-band error answer names (the sidecar's '[STATUS] text' convention), if it is one. */
function errorCode(answer: Buffer): Status | undefined {
  const err = lastBytesField(answer, 1);
  if (!err || err.length === 0) return undefined;
  const m = STATUS_PREFIX.exec(err.toString('utf8'));
  return m && m[1] in Status ? (Status[m[1] as keyof typeof Status] as Status) : Status.UNKNOWN;
}

/** The request id an answer echoes (infer_response.id); undefined when it cannot be read. */
function answerId(answer: Buffer): string | undefined {
  const inner = lastBytesField(answer, 2);
  return inner ? (lastBytesField(inner, 3)?.toString('utf8') ?? '') : '';
}

function onAnswer(msg: Buffer, leg: PinnedLeg): void {
  leg.onAnswer(msg);
}

/** One upstream stream of a pinned client stream. */
export class PinnedLeg {
  /** Sent and unanswered, in send order. */
  private readonly out: SentMessage[] = [];
  /** Held back (an in-band error worth sending to the next leg), in send order. */
  private readonly back: SentMessage[] = [];
  private readonly reader = new MessageReader();
  private readonly suffix: Buffer | undefined;
  private upstream: http2.ClientHttp2Stream | undefined;
  /** The status as the endpoint said it, or why the leg could not go on (what takeStatus writes). */
  private readonly status: CallStatus = { code: undefined, details: '', orca: undefined };
  /** How many messages in `out` carry each id: a second one makes an answer with that id ambiguous. */
  private readonly ids = new Map<string, number>();
  private closed = false;
  private halfClosed = false;
  /** Answers in the chunk being read, when it cannot go to the client as it came. */
  private batch: Buffer[] | undefined;
  private heldInChunk = false;
  /** The last take() matched its answer's id to exactly one unanswered message. */
  private exact = false;
  /** Bytes of the messages in `out`. */
  bytes = 0;
  /** An answer matched no unanswered message unambiguously: which ones are unanswered is no longer known. */
  ambiguous = false;
  /** Answers forwarded to the client. */
  forwarded = 0;
  /** GOAWAY came, or the stream ended it (end()): no new messages. */
  closing = false;

  /** Opens the upstream stream with the client's metadata and what is left of the stream's deadline (ms). */
  constructor(
    readonly route: PinnedRoute,
    private readonly owner: LegOwner,
    metadata: grpc.Metadata,
    leftMs: number,
  ) {
    if (route.rewrite) this.suffix = Buffer.concat([stringField(1, route.rewrite.model), stringField(2, route.rewrite.version)]);
    const conn = route.pool.connection();
    let session: http2.ClientHttp2Session;
    let up: http2.ClientHttp2Stream;
    try {
      session = conn.acquire();
      try {
        up = session.request(requestHeaders(METHOD.ModelStreamInfer, metadata, leftMs), { endStream: false });
      } catch (e) {
        conn.release(session);
        throw e;
      }
    } catch (e) {
      // Nothing left this process: like a refused stream, the messages go to the next leg.
      this.status.details = `connection to ${route.endpoint} failed: ${e instanceof Error ? e.message : String(e)}`;
      process.nextTick(() => this.close());
      return;
    }
    this.upstream = up;
    const onGoaway = (): void => {
      this.closing = true;
      owner.goingAway(this);
    };
    session.once('goaway', onGoaway);
    up.on('response', (h: http2.IncomingHttpHeaders) => {
      if (Number(h[':status']) !== 200) {
        this.status.code = Status.UNAVAILABLE;
        this.status.details = `${route.endpoint} answered HTTP ${h[':status']}`;
        up.close(NGHTTP2_CANCEL);
      } else takeStatus(this.status, h); // a trailers-only answer
    });
    up.on('data', (chunk: Buffer) => this.onData(chunk));
    up.on('drain', () => owner.writable(this));
    up.on('trailers', (h: http2.IncomingHttpHeaders) => takeStatus(this.status, h));
    // The sidecar ended the stream (its status is in): end ours too, after the answers before it, unless
    // we half-closed already (a RST on a stream closed both ways counts against the connection: call.ts endIfOpen).
    up.on('end', () => {
      if (!up.closed && !up.writableFinished) up.close(NGHTTP2_CANCEL);
    });
    up.on('error', noop);
    up.on('close', () => {
      session.off('goaway', onGoaway);
      conn.release(session);
      if (this.status.code === undefined) this.status.details ||= `stream to ${route.endpoint} closed (HTTP/2 code ${up.rstCode})`;
      this.close();
    });
  }

  /** Messages sent and not answered. */
  get unanswered(): number {
    return this.out.length;
  }

  /**
   * Sends client messages (unrewritten); raw: the bytes they came in, exactly these messages framed,
   * sent as they are when the route rewrites nothing (no copy). False when the upstream's buffer is full.
   */
  write(ms: readonly SentMessage[], raw?: Buffer): boolean {
    for (const m of ms) {
      this.out.push(m);
      this.ids.set(m.id, (this.ids.get(m.id) ?? 0) + 1);
      this.bytes += m.msg.length;
    }
    const up = this.upstream;
    if (!up || this.closed) return true; // closing soon: they are replayed from `out`
    if (raw && !this.suffix) return writeCoalesced(up, raw);
    let room = true;
    for (const m of ms) room = writeCoalesced(up, frame(this.suffix ? Buffer.concat([m.msg, this.suffix]) : m.msg)) && room;
    return room;
  }

  /** Half-closes (once): the endpoint answers what it has, then ends the stream. */
  end(): void {
    this.closing = true;
    if (this.halfClosed) return;
    this.halfClosed = true;
    this.upstream?.end();
  }

  /** Resets the stream now. */
  destroy(): void {
    this.upstream?.destroy(); // close() does nothing on a stream HTTP/2 already closed but whose reading is paused
  }

  /** Reads answers again after the client's buffer drained. */
  resumeReading(): void {
    this.upstream?.resume();
  }

  /**
   * The messages the next leg must carry, in arrival order, and empties the leg: the ones held
   * back, and with `unanswered` also those without an answer (after a leg lost its stream; after
   * the endpoint ended it with a status, it answered all it will).
   */
  takeLeft(unanswered: boolean): SentMessage[] {
    const all = unanswered ? [...this.back, ...this.out].sort((a, b) => a.seq - b.seq) : [...this.back];
    this.back.length = 0;
    this.out.length = 0;
    this.ids.clear();
    this.bytes = 0;
    return all;
  }

  /** @internal One answer from the endpoint (onData's reader). */
  onAnswer(msg: Buffer): void {
    let id: string | undefined;
    let code: Status | undefined;
    try {
      id = answerId(msg);
      code = errorCode(msg);
    } catch {
      id = undefined; // unreadable: forwarded as it is, but which message it answers is unknown
    }
    const m = this.take(id);
    // Held back only when this answer is certainly m's (its id unique among the unanswered).
    if (m && this.exact && code !== undefined && this.owner.holdBack(this, m, code)) {
      this.back.push(m);
      this.heldInChunk = true;
      this.owner.answered(this, false);
      return;
    }
    this.batch?.push(msg);
    this.forwarded++;
    this.owner.answered(this, true);
  }

  private onData(chunk: Buffer): void {
    const whole = !this.reader.partial;
    this.batch = [];
    this.heldInChunk = false;
    if (!this.reader.push(chunk, onAnswer, this)) {
      this.status.code = this.reader.error!.code;
      this.status.details = `${this.route.endpoint} sent a stream this balancer cannot read: ${this.reader.error!.message}`;
      this.batch = undefined;
      this.upstream!.destroy();
      return;
    }
    const batch = this.batch;
    this.batch = undefined;
    let room = true;
    if (whole && !this.reader.partial && !this.heldInChunk) room = this.owner.deliver(chunk);
    else for (const msg of batch) room = this.owner.deliver(frame(msg)) && room;
    if (!room) this.upstream!.pause();
  }

  /**
   * The message an answer with this id answers: the first unanswered one with it. Another with the
   * same id, or none (an id the endpoint did not echo, an unreadable answer: undefined), makes the
   * leg ambiguous; with none, the oldest is taken, so counts stay right for a peer answering each
   * message once, and only a replay, which needs to know which, is given up.
   */
  private take(id: string | undefined): SentMessage | undefined {
    if (this.out.length === 0) {
      this.ambiguous = true;
      this.exact = false; // more answers than messages (a decoupled model): forwarded, nothing to match
      return undefined;
    }
    const n = id === undefined ? 0 : (this.ids.get(id) ?? 0);
    this.exact = n === 1;
    if (!this.exact) this.ambiguous = true;
    const i = n === 0 ? 0 : this.out.findIndex((m) => m.id === id);
    const [m] = this.out.splice(i, 1);
    const left = (this.ids.get(m.id) ?? 1) - 1;
    if (left > 0) this.ids.set(m.id, left);
    else this.ids.delete(m.id);
    this.bytes -= m.msg.length;
    return m;
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.owner.ended(this, { code: this.status.code, details: this.status.details, orca: this.status.orca });
  }
}
