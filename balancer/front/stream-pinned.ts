// A client ModelStreamInfer stream under `stream_routing: per_stream`: the
// first message picked one endpoint (Router.pinStream) and from then on the
// stream's bytes pass through to one upstream stream on it and back, as
// Envoy and Linkerd balance gRPC streams. Nothing is parsed unless the route
// points messages at another model or version (a split, an objective), and
// then only the gRPC framing, to append the two fields.
//
// Why: routing every message costs the balancer ~35-40 us of CPU per message
// against ~13 us for this pass-through (bench:cost, 2 cores, 4 x 16 in
// flight). What it gives up: per-message balancing, retries (messages are not
// kept, so an endpoint that dies ends the stream with UNAVAILABLE and the
// client resends), and per-message metrics (the stream counts as one call).
//
// Flow control is end to end: a write that fills the other side's buffer
// pauses the side that sent it until 'drain'.
import * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../../common/clock';
import { Status } from '../../protocol/status';
import { frame, MessageReader } from '../../protocol/grpc-wire';
import { replyStatus, takeStatus } from '../../protocol/grpc-answer';
import type { H2Stream } from '../../http2/stream';
import { requestHeaders } from '../upstream/call';
import type { H2Connection } from '../upstream/connection';
import type { PinnedRoute } from '../routing/route-call';
import { stringField } from '../../protocol/wire-fields';
import { METHOD } from '../../protocol/paths';
import { noop } from '../../common/noop';

const { NGHTTP2_CANCEL } = http2.constants;

function writeMessage(msg: Buffer, p: PinnedStream): void {
  p.writeUp(frame(p.suffix ? Buffer.concat([msg, p.suffix]) : msg));
}

/** One client stream passed through to one endpoint; ends exactly once, with the upstream's status or why it could not go on. */
export class PinnedStream {
  /** Fields appended to every message when the route rewrites model or version. */
  readonly suffix: Buffer | undefined;
  private readonly reader: MessageReader | undefined;
  private upstream: http2.ClientHttp2Stream | undefined;
  /** @internal The status as the upstream said it or as it ended (what takeStatus writes). */
  code: Status | undefined;
  /** @internal */
  details = '';
  /** @internal The endpoint's ORCA load report, from its trailers. */
  orca: Buffer | undefined;
  private cancelled = false;
  private done = false;
  /** The client is paused because the upstream's buffer is full; its 'drain' resumes it. */
  waitingForUpstream = false;
  private timer: TimerHandle | undefined;

  /** Opens the upstream stream with the client's metadata and the remaining deadline (on clock, Infinity: none). */
  constructor(
    private readonly client: H2Stream,
    private readonly route: PinnedRoute,
    metadata: grpc.Metadata,
    deadline: number,
    private readonly clock: Clock,
  ) {
    const leftMs = Number.isFinite(deadline) ? deadline - clock.now() : Infinity;
    if (route.rewrite) {
      this.suffix = Buffer.concat([stringField(1, route.rewrite.model), stringField(2, route.rewrite.version)]);
      this.reader = new MessageReader();
    }
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
      this.finish(Status.UNAVAILABLE, `connection to ${route.endpoint} failed: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.upstream = up;
    this.listen(up, conn, session);
    client.on('drain', () => up.resume());
    if (Number.isFinite(leftMs)) {
      this.timer = clock.setTimeout(
        () => {
          this.code ??= Status.DEADLINE_EXCEEDED;
          this.details ||= `deadline exceeded on the stream to ${route.endpoint}`;
          up.destroy(); // close() does nothing on a stream HTTP/2 already closed but whose reading is paused
        },
        Math.max(0, leftMs),
      );
    }
  }

  /** One whole message of the client's (the first, and any read with it before the pin existed). */
  fromMessage(msg: Buffer): void {
    if (!this.done && this.upstream) writeMessage(msg, this);
  }

  /** Bytes of the client's stream, as they came (whole gRPC frames or not). */
  fromClient(chunk: Buffer): void {
    if (this.done || !this.upstream) return;
    if (!this.reader) return this.writeUp(chunk);
    if (!this.reader.push(chunk, writeMessage, this)) {
      this.code = this.reader.error!.code;
      this.details = this.reader.error!.message;
      this.upstream.destroy();
    }
  }

  /** @internal Writes to the upstream stream, pausing the client while the upstream's buffer is full. */
  writeUp(buf: Buffer): void {
    if (this.upstream!.write(buf)) return;
    this.waitingForUpstream = true;
    this.client.pause();
  }

  /** The client half-closed: the endpoint answers what it has, then ends the stream. */
  clientEnded(): void {
    if (!this.done) this.upstream?.end();
  }

  /** The client's stream closed (finished or reset): the upstream stream goes too. */
  clientClosed(): void {
    if (this.done || !this.upstream) return;
    this.cancelled = true;
    this.upstream.destroy(); // see the deadline timer
  }

  private listen(up: http2.ClientHttp2Stream, conn: H2Connection, session: http2.ClientHttp2Session): void {
    const client = this.client;
    up.on('response', (h: http2.IncomingHttpHeaders) => {
      if (Number(h[':status']) !== 200) {
        this.code = Status.UNAVAILABLE;
        this.details = `${this.route.endpoint} answered HTTP ${h[':status']}`;
        up.close(NGHTTP2_CANCEL);
      } else takeStatus(this, h); // a trailers-only answer
    });
    up.on('data', (chunk: Buffer) => {
      if (!client.destroyed && !client.write(chunk)) up.pause();
    });
    up.on('drain', () => {
      this.waitingForUpstream = false;
      client.resume();
    });
    up.on('trailers', (h: http2.IncomingHttpHeaders) => takeStatus(this, h));
    // The sidecar ended the stream (its status is in): end ours too, or the client, still sending,
    // would hear nothing until it half-closed. After 'end', so answers before the status go out first.
    up.on('end', () => {
      if (!up.closed) up.close(NGHTTP2_CANCEL);
    });
    up.on('error', noop);
    up.on('close', () => {
      conn.release(session);
      if (this.timer) this.clock.clearTimeout(this.timer);
      if (this.cancelled) return this.finish(Status.CANCELLED, 'cancelled by the client');
      this.finish(
        this.code ?? Status.UNAVAILABLE,
        this.code === undefined ? `stream to ${this.route.endpoint} closed (HTTP/2 code ${up.rstCode})` : this.details,
      );
    });
  }

  /** Ends the client's stream with code (its headers went out when it opened) and frees the endpoint. */
  private finish(code: Status, details: string): void {
    if (this.done) return;
    this.done = true;
    this.route.ended(code, this.orca);
    const client = this.client;
    // Not OK: the status goes in place of the OK trailers the front set when it answered the stream's headers.
    if (code !== Status.OK) return replyStatus(client, code, details);
    if (client.destroyed || client.closed || client.writableEnded) return;
    client.resume(); // a client paused for the upstream must read on, or its stream never finishes closing
    client.end();
  }
}
