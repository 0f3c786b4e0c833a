// A client ModelStreamInfer stream under `stream_routing: per_stream`: the
// first message picked one endpoint (Router.pinStream) and the stream's
// messages go to one upstream stream on it, as Envoy and Linkerd balance
// gRPC streams, without routing each message: ~13 us of balancer CPU per
// message against ~35-40 us per_message (bench:cost, 2 cores, 4 x 16 in
// flight). Only the gRPC framing is read, and each answer's id.
//
// An upstream stream is a leg (pinned-leg.ts). The stream moves to a new leg,
// re-pinned to another endpoint with the same version, when:
// - its endpoint drains (DRAINING in the view, or a GOAWAY): new messages
//   wait, the messages on the leg finish, the leg is half-closed (so the
//   sidecar's drain does not wait for this stream), and the waiting ones go
//   to the next leg. An answer the draining endpoint gave as an in-band
//   UNAVAILABLE (it stopped taking work) is not forwarded: that message goes
//   to the next leg too (at most maxReplays times);
// - its leg dies without a status (reset, connection lost, refused, never
//   connected): its unanswered messages are replayed on the next leg, at most
//   maxReplays legs in a row without an answer, and only while which
//   messages are unanswered is known (ids unique among those in flight;
//   PinnedLeg.ambiguous). Otherwise the stream ends with UNAVAILABLE, as any
//   failure of a pass-through would. Like any connection failure the router
//   retries, a message the endpoint took but never answered may run twice.
// A leg with nothing outstanding that ends is replaced only when the next
// message comes. The endpoint's own status (not OK) ends the client stream.
//
// Memory: the messages kept (unanswered plus waiting) stop the client from
// being read past MAX_PINNED_KEPT messages or MAX_PINNED_KEPT_BYTES, until
// half of that is answered.
import type * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../../common/clock';
import { Status } from '../../protocol/status';
import { MessageReader } from '../../protocol/grpc-wire';
import { replyStatus } from '../../protocol/grpc-answer';
import { lastBytesField } from '../../protocol/wire-fields';
import type { H2Stream } from '../../http2/stream';
import type { PinnedRoute, RouteOutcome } from '../routing/route-call';
import { PinnedLeg, type LegEnd, type LegOwner, type SentMessage } from './pinned-leg';

/** Messages kept for one pinned stream (unanswered, or waiting for a leg) past which the client is not read. */
export const MAX_PINNED_KEPT = 1024;
/** Bytes of those messages past which the client is not read (a message larger than this still goes, alone). */
export const MAX_PINNED_KEPT_BYTES = 16 * 1024 * 1024;

/** Picks the endpoint of the stream's next leg, avoiding the endpoint ids given. */
export type Repin = (avoid: readonly string[]) => PinnedRoute | RouteOutcome;

function idOf(msg: Buffer): string {
  try {
    return lastBytesField(msg, 3)?.toString('utf8') ?? '';
  } catch {
    return ''; // the endpoint answers a malformed message with an empty id, as it reads it
  }
}

function onClientMessage(msg: Buffer, p: PinnedStream): void {
  p.fromMessage(msg);
}

/** One client stream over a sequence of legs; ends exactly once, with the endpoint's status or why it could not go on. */
export class PinnedStream implements LegOwner {
  private readonly reader: MessageReader;
  private leg: PinnedLeg | undefined;
  private unwatch: (() => void) | undefined;
  /** Messages waiting for the next leg, in arrival order. */
  private held: SentMessage[] = [];
  private heldBytes = 0;
  private seq = 0;
  /** While fromClient reads a chunk: the messages read from it so far. */
  private chunk: SentMessage[] | undefined;
  private clientEnded = false;
  private done = false;
  /** The status the stream ended with (what a leg cut short by it reports for its endpoint). */
  private doneCode = Status.OK;
  /** Legs in a row that died with messages unanswered and no answer forwarded since. */
  private failures = 0;
  /** Endpoints the next pick avoids: the ones left or failed since the last answer. */
  private avoid: string[] = [];
  private timer: TimerHandle | undefined;
  private waitingForUpstream = false;
  private capped = false;

  /** first: the endpoint the first message picked (its slot is taken); deadline on clock (Infinity: none); encoding: grpc-encoding. */
  constructor(
    private readonly client: H2Stream,
    first: PinnedRoute,
    private readonly repin: Repin,
    private readonly metadata: grpc.Metadata,
    private readonly deadline: number,
    private readonly clock: Clock,
    encoding?: string | string[],
  ) {
    this.reader = new MessageReader(encoding);
    this.openLeg(first);
    client.on('drain', () => this.leg?.resumeReading());
    if (Number.isFinite(deadline)) {
      this.timer = clock.setTimeout(
        () => this.finish(Status.DEADLINE_EXCEEDED, `deadline exceeded on the stream to ${this.leg?.route.endpoint ?? first.endpoint}`),
        Math.max(0, deadline - clock.now()),
      );
    }
  }

  /** True while the client must stay paused for this stream's sake (upstream full, or too much kept). */
  get holdsClient(): boolean {
    return this.waitingForUpstream || this.capped;
  }

  /** One whole message of the client's (the first, any read with it before the pin existed, and those fromClient reads). */
  fromMessage(msg: Buffer): void {
    if (this.done) return;
    const m: SentMessage = { msg, id: idOf(msg), seq: this.seq++, tries: 0 };
    if (this.chunk) this.chunk.push(m);
    else this.dispatch([m], undefined);
  }

  /** Bytes of the client's stream, as they came; a chunk of whole messages goes upstream as it came. */
  fromClient(chunk: Buffer): void {
    if (this.done) return;
    const whole = !this.reader.partial;
    this.chunk = [];
    const ok = this.reader.push(chunk, onClientMessage, this);
    const ms = this.chunk;
    this.chunk = undefined;
    if (!ok) return this.finish(this.reader.error!.code, this.reader.error!.message);
    if (ms.length > 0) this.dispatch(ms, whole && !this.reader.partial ? chunk : undefined);
  }

  /** Sends messages to the current leg, or holds them for the next one; raw: their bytes as they came, if exactly them. */
  private dispatch(ms: SentMessage[], raw: Buffer | undefined): void {
    const leg = this.sendingLeg();
    if (this.done) return;
    if (!leg) {
      for (const m of ms) {
        this.held.push(m);
        this.heldBytes += m.msg.length;
      }
    } else if (!leg.write(ms, raw)) {
      this.waitingForUpstream = true;
      this.client.pause();
    }
    this.checkCap();
  }

  /** The client half-closed: the endpoint answers what it has, then the stream ends. */
  clientEnd(): void {
    if (this.done) return;
    this.clientEnded = true;
    if (this.reader.partial) return this.finish(Status.INTERNAL, 'the stream ended inside a message');
    if (this.leg && !this.leg.closing) this.leg.end();
    else if (!this.leg) this.proceed();
  }

  /** The client's stream closed (finished or reset): the upstream goes too. */
  clientClosed(): void {
    this.finish(Status.CANCELLED, 'cancelled by the client');
  }

  deliver(buf: Buffer): boolean {
    return !this.client.destroyed && this.client.write(buf);
  }

  holdBack(leg: PinnedLeg, m: SentMessage, code: Status): boolean {
    // A draining endpoint answers what it no longer takes with UNAVAILABLE: that message was not run.
    return code === Status.UNAVAILABLE && leg.closing && m.tries < leg.route.maxReplays;
  }

  answered(leg: PinnedLeg, forwarded: boolean): void {
    if (forwarded) {
      this.failures = 0;
      this.avoid = [];
    }
    if (leg === this.leg && leg.closing && leg.unanswered === 0) leg.end();
    this.checkCap();
  }

  writable(leg: PinnedLeg): void {
    if (leg !== this.leg) return;
    this.waitingForUpstream = false;
    if (!this.capped) this.client.resume();
  }

  goingAway(leg: PinnedLeg): void {
    if (leg === this.leg) this.move(leg);
  }

  ended(leg: PinnedLeg, end: LegEnd): void {
    if (leg !== this.leg) return;
    this.leg = undefined;
    this.unwatch?.();
    this.unwatch = undefined;
    leg.route.ended(this.done ? this.doneCode : (end.code ?? Status.UNAVAILABLE), end.orca);
    if (this.done) return;
    this.waitingForUpstream = false; // that leg's buffer is gone with it
    const left = leg.takeLeft(end.code === undefined);
    if (end.code !== undefined && end.code !== Status.OK) return this.finish(end.code, end.details);
    if (end.code === Status.OK && !leg.closing) return this.finish(Status.OK, ''); // the endpoint ended the stream itself
    if (end.code === undefined && left.length > 0) {
      // Lost with messages unanswered: replay them elsewhere while that is known to be complete, and not forever.
      if (leg.ambiguous || ++this.failures > leg.route.maxReplays) {
        const why = leg.ambiguous ? 'which are unanswered is not known (request ids repeat)' : `${this.failures} legs in a row failed`;
        return this.finish(Status.UNAVAILABLE, `${end.details}; ${left.length} messages unanswered, not replayed: ${why}`);
      }
    }
    this.avoid.push(leg.route.id);
    for (const m of left) m.tries++;
    this.held = [...left, ...this.held];
    this.heldBytes = this.held.reduce((n, m) => n + m.msg.length, 0);
    this.proceed();
  }

  /** The leg new messages go to: the current one unless it is leaving (then none: they wait), else a new one. */
  private sendingLeg(): PinnedLeg | undefined {
    const leg = this.leg;
    if (leg && !leg.closing && leg.route.draining()) this.move(leg);
    if (leg) return leg.closing ? undefined : leg;
    return this.openLeg(undefined);
  }

  /** The current leg's endpoint drains: it takes nothing new and is half-closed once its messages are answered. */
  private move(leg: PinnedLeg): void {
    leg.closing = true;
    if (leg.unanswered === 0) leg.end();
  }

  /** Between legs: what waits goes to a new leg; with nothing waiting and the client done, the stream ends. */
  private proceed(): void {
    if (this.held.length > 0) {
      const leg = this.openLeg(undefined);
      if (!leg) return;
      const held = this.held;
      this.held = [];
      this.heldBytes = 0;
      if (!leg.write(held)) {
        this.waitingForUpstream = true;
        this.client.pause();
      }
      if (this.clientEnded) leg.end();
    } else if (this.clientEnded) {
      return this.finish(Status.OK, '');
    }
    this.checkCap();
  }

  /** Starts a leg on route, or on a new pin (undefined, and the stream ended, when there is none). */
  private openLeg(route: PinnedRoute | undefined): PinnedLeg | undefined {
    if (!route) {
      const r = this.repin(this.avoid);
      if (!('pool' in r)) {
        this.finish(r.code, r.details);
        return undefined;
      }
      route = r;
    }
    const leftMs = Number.isFinite(this.deadline) ? this.deadline - this.clock.now() : Infinity;
    const leg = new PinnedLeg(route, this, this.metadata, leftMs);
    this.leg = leg;
    this.unwatch = route.onViewChange(() => {
      if (leg === this.leg && !leg.closing && leg.route.draining()) this.move(leg);
    });
    return leg;
  }

  /** Pauses the client while too much is kept, resumes it once half of that is answered. */
  private checkCap(): void {
    const kept = (this.leg?.unanswered ?? 0) + this.held.length;
    const bytes = (this.leg?.bytes ?? 0) + this.heldBytes;
    if (!this.capped && (kept >= MAX_PINNED_KEPT || bytes >= MAX_PINNED_KEPT_BYTES)) {
      this.capped = true;
      this.client.pause();
    } else if (this.capped && kept <= MAX_PINNED_KEPT / 2 && bytes <= MAX_PINNED_KEPT_BYTES / 2) {
      this.capped = false;
      if (!this.waitingForUpstream) this.client.resume();
    }
  }

  /** Ends the client's stream with code (its headers went out when it opened); a leg still open is cut. */
  private finish(code: Status, details: string): void {
    if (this.done) return;
    this.done = true;
    this.doneCode = code;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.held = [];
    this.leg?.destroy(); // its 'ended' frees the endpoint with doneCode
    const client = this.client;
    // Not OK: the status goes in place of the OK trailers the front set when it answered the stream's headers.
    if (code !== Status.OK) return replyStatus(client, code, details);
    if (client.destroyed || client.closed || client.writableEnded) return;
    client.resume(); // a client paused for the upstream must read on, or its stream never finishes closing
    client.end();
  }
}
