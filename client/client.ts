// The typed inference client: infer(model, inputs, options) → typed outputs,
// and stream() for high rates, over either transport (transport.ts). The
// client owns what is the caller's business (encoding tensors, the shard
// key's placement, deadlines, errors as InferenceError); the transport owns
// where the bytes go.
import * as grpc from '@grpc/grpc-js';
import { systemClock, type Clock } from '../common/clock';
import { Status } from '../protocol/status';
import { streamKeyOf } from '../balancer/core';
import { InferenceError } from './inference-error';
import { InferResult } from './result';
import { inputList, type Inputs } from './tensor';
import { ChannelTransport, type RouteCall, type Transport } from './transport';
import { ProxylessTransport, type ProxylessOptions } from './transport-proxyless';
import { decodeInferResponse, encodeInferRequest, type ParamValue } from './wire';

/** Per-call options. */
export interface InferOptions {
  /** Model version; absent = the routing split's (or the server's) choice. */
  readonly version?: string | number;
  /** An absolute Date, or milliseconds from now; maps to the gRPC deadline. Default: the client's deadlineMs. */
  readonly deadline?: Date | number;
  /** Shard key: the same key goes to the same subset of sidecars (sent where ClientOptions.shard says). */
  readonly shardKey?: string;
  /** A use case the routing config maps to a model and version (sent as `objective` metadata). */
  readonly objective?: string;
  /** Request id, echoed in the result. */
  readonly id?: string;
  /** Request parameters, e.g. Triton's `priority` and `timeout` (µs). */
  readonly parameters?: Readonly<Record<string, ParamValue>>;
  /** Outputs to return; default all. */
  readonly outputs?: readonly string[];
  /** Extra request metadata. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** Aborting cancels the call; it rejects with CANCELLED. */
  readonly signal?: AbortSignal;
}

/** Options fixed for a whole stream: headers travel once per stream, not per message. */
export type StreamOptions = Pick<InferOptions, 'shardKey' | 'objective' | 'metadata'>;

/** Options per stream message. */
export type StreamInferOptions = Omit<InferOptions, keyof StreamOptions>;

/** Where the shard key travels: the routing config's `shard.header` or `shard.parameter`. */
export type ShardPlacement = { readonly header: string } | { readonly parameter: string };

/** Options shared by both modes. */
export interface CommonClientOptions {
  /** Where shardKey goes (default { header: 'x-tenant-id' }); match the routing config's shard setting. */
  readonly shard?: ShardPlacement;
  /** Deadline for calls that set none, ms from the call (default: none). */
  readonly deadlineMs?: number;
  /** Metadata sent with every call. */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Time source for deadlines (default: the process clock; tests inject a fake). The transports
   * the client builds use it too; a transport of one's own must read deadlines on the same clock.
   */
  readonly clock?: Clock;
}

/** A balancer's (or a sidecar's) address; one gRPC channel. */
export interface ChannelClientOptions extends CommonClientOptions {
  /** host:port. */
  readonly address: string;
  /** Connections to keep (default 1). */
  readonly channels?: number;
}

/** How to build a client: an address, discovery (proxyless), or a transport of one's own. */
export type ClientOptions =
  ChannelClientOptions | (CommonClientOptions & ProxylessOptions) | (CommonClientOptions & { readonly transport: Transport });

/** Stream-level routing fields: built once per stream(). */
interface StreamContext {
  /** Sent once, as the stream's headers. */
  readonly metadata: grpc.Metadata;
  /** streamKeyOf(metadata): streams of equal metadata share upstream streams. */
  readonly streamKey: string;
  /** For the proxyless router, which reads it from the call rather than from headers. */
  readonly objective: string | undefined;
  /** The shard key as a request parameter, when the placement is a parameter and the stream has a key. */
  readonly shardParam: Readonly<Record<string, string>> | undefined;
}

const NO_PARAMS: Readonly<Record<string, ParamValue>> = {};

/** A client for the Open Inference Protocol; see the file comment. */
export class InferenceClient {
  /** The transport calls go through (a ProxylessTransport in proxyless mode). */
  readonly transport: Transport;
  private readonly shard: ShardPlacement;
  private readonly deadlineMs: number | undefined;
  private readonly clock: Clock;
  private readonly baseMetadata: Readonly<Record<string, string>>;
  // Reused for calls that add no metadata of their own: a transport only reads it (grpc-js sets its own headers on it, the same each time).
  private readonly sharedMetadata: grpc.Metadata;

  constructor(opts: ClientOptions) {
    this.clock = opts.clock ?? systemClock;
    if ('transport' in opts) this.transport = opts.transport;
    else if ('address' in opts) this.transport = new ChannelTransport(opts.address, opts.channels, this.clock);
    else this.transport = new ProxylessTransport(opts); // the same clock: opts.clock, or the process clock for both
    this.shard = opts.shard ?? { header: 'x-tenant-id' };
    this.deadlineMs = opts.deadlineMs;
    this.baseMetadata = opts.metadata ?? {};
    this.sharedMetadata = this.metadata({});
  }

  /** Runs one ModelInfer; rejects with InferenceError carrying the gRPC status. */
  infer(model: string, inputs: Inputs, opts: InferOptions = {}): Promise<InferResult> {
    return this.run(() => this.routeCall(model, inputs, opts, undefined), opts.signal);
  }

  /** A stream for high rates: many infer() calls multiplexed over ModelStreamInfer, answered in any order. */
  stream(opts: StreamOptions = {}): InferStream {
    const header = 'header' in this.shard && opts.shardKey !== undefined ? { [this.shard.header]: opts.shardKey } : {};
    const metadata = this.metadata({ ...opts.metadata, ...header, ...(opts.objective ? { objective: opts.objective } : {}) });
    const shardParam = 'parameter' in this.shard && opts.shardKey !== undefined ? { [this.shard.parameter]: opts.shardKey } : undefined;
    return new InferStream(this, { metadata, streamKey: streamKeyOf(metadata), objective: opts.objective, shardParam });
  }

  /** Resolves once model (optionally a version) can take calls; rejects with UNAVAILABLE after timeoutMs. */
  async waitForReady(model: string, opts: { version?: string | number; timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const until = this.clock.now() + timeoutMs;
    while (!(await this.transport.ready(model, String(opts.version ?? '')))) {
      if (this.clock.now() > until) throw new InferenceError(Status.UNAVAILABLE, `model '${model}' not ready after ${timeoutMs} ms`);
      await new Promise<void>((r) => this.clock.setTimeout(r, 50));
    }
  }

  /** Closes the transport; calls in flight fail. */
  close(): void {
    this.transport.close();
  }

  /** @internal Sends a call built by build(); shared by infer() and InferStream. */
  run(build: () => RouteCall, signal: AbortSignal | undefined): Promise<InferResult> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new InferenceError(Status.CANCELLED, 'aborted before it was sent'));
      let call: RouteCall;
      try {
        call = build();
      } catch (e) {
        return reject(e);
      }
      let settled = false;
      const onAbort = () => {
        cancel();
        if (!settled) reject(new InferenceError(Status.CANCELLED, 'cancelled by the caller'));
        settled = true;
      };
      const cancel = this.transport.send(call, (o) => {
        signal?.removeEventListener('abort', onAbort);
        if (settled) return;
        settled = true;
        if (o.code !== Status.OK || !o.response) return reject(new InferenceError(o.code, o.details));
        try {
          resolve(new InferResult(decodeInferResponse(o.response)));
        } catch (e) {
          reject(e);
        }
      });
      if (!settled) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** @internal The RouteCall for one request; throws InferenceError(INVALID_ARGUMENT) for bad inputs. */
  routeCall(model: string, inputs: Inputs, opts: InferOptions, stream: StreamContext | undefined): RouteCall {
    let parameters = opts.parameters ?? NO_PARAMS;
    let metadata = stream?.metadata ?? this.sharedMetadata;
    const objective = stream ? stream.objective : opts.objective;
    if (stream) {
      if (stream.shardParam) parameters = { ...parameters, ...stream.shardParam };
    } else if (opts.shardKey !== undefined || opts.objective || opts.metadata) {
      const extra: Record<string, string> = { ...opts.metadata };
      if (opts.objective) extra.objective = opts.objective;
      if (opts.shardKey !== undefined) {
        if ('header' in this.shard) extra[this.shard.header] = opts.shardKey;
        else parameters = { ...parameters, [this.shard.parameter]: opts.shardKey };
      }
      metadata = this.metadata(extra);
    }
    const version = opts.version === undefined ? '' : String(opts.version);
    const bytes = encodeInferRequest({
      model,
      version,
      id: opts.id ?? '',
      parameters,
      inputs: inputList(inputs),
      outputs: opts.outputs ?? [],
    });
    return { bytes, model, version, objective, metadata, deadline: this.deadline(opts.deadline), streamKey: stream?.streamKey };
  }

  /** The call's deadline on the clock (Infinity: none). */
  private deadline(d: Date | number | undefined): number {
    // A Date is wall-clock time: what is left of it now is the one reading of the wall clock.
    if (d instanceof Date) return this.clock.now() + (d.getTime() - Date.now());
    const ms = d ?? this.deadlineMs;
    return ms === undefined ? Infinity : this.clock.now() + ms;
  }

  private metadata(extra: Readonly<Record<string, string>>): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ ...this.baseMetadata, ...extra })) md.set(k, v);
    return md;
  }
}

/**
 * Many concurrent calls over one ModelStreamInfer stream per connection (streams of equal
 * metadata share it). Answers come in any order and are matched to their calls by request id;
 * an error answers only its own call.
 */
export class InferStream {
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  /** Built by InferenceClient.stream(). */
  constructor(
    private readonly client: InferenceClient,
    private readonly ctx: StreamContext,
  ) {}

  /** Calls answered not yet. */
  get pending(): number {
    return this.inFlight.size;
  }

  /** Sends one request on the stream; rejects with InferenceError as infer() does. */
  infer(model: string, inputs: Inputs, opts: StreamInferOptions = {}): Promise<InferResult> {
    if (this.closed) return Promise.reject(new InferenceError(Status.FAILED_PRECONDITION, 'stream is closed'));
    const p = this.client.run(() => this.client.routeCall(model, inputs, opts, this.ctx), opts.signal);
    const tracked = p
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
    return p;
  }

  /** Refuses new calls and resolves once every call sent has been answered (the shared stream then idles out). */
  async close(): Promise<void> {
    this.closed = true;
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}
