// Calls to one sidecar. Requests and responses stay as bytes: the balancer
// never decodes a tensor. Each sidecar gets a small pool of long-lived
// HTTP/2 connections on bare node:http2 (connection.ts, call.ts; why
// not grpc-js: protocol/grpc-wire.ts), each multiplexing many calls, so one
// connection's flow-control window or a single slow socket write does not
// serialize all traffic to the sidecar.
import * as grpc from '@grpc/grpc-js';
import { HOP_BY_HOP } from '../../protocol/grpc-wire';
import { systemClock, type Clock } from '../../common/clock';
import { H2MessageStream, unaryCall } from './call';
import { H2Connection } from './connection';
import { UpstreamStream } from './stream';
import { INFER_METHODS, STREAM_METHOD, type CancelFn, type UpstreamMethod, type UpstreamResult } from './types';

/** How long a pool no endpoint uses any more stays open for the calls already sent on it. */
const RETIRE_AFTER_MS = 10_000;

/** Distinct forwarded-metadata sets with upstream streams per sidecar; past this, stream messages go as unary calls. */
const MAX_STREAM_KEYS = 64;

/**
 * The key under which calls may share upstream streams: their forwarded metadata, serialized
 * ('' for none, the common case, without serializing anything).
 */
export function streamKeyOf(md: grpc.Metadata): string {
  const json = md.toJSON();
  for (const _ in json) return JSON.stringify(json);
  return '';
}

/** The client metadata worth forwarding upstream (HOP_BY_HOP headers dropped, as metadataFromHeaders drops them). */
export function forwardedMetadata(md: grpc.Metadata): grpc.Metadata {
  const out = new grpc.Metadata();
  // getMap keeps only each key's first value; get(k) returns them all for repeated keys.
  for (const k of Object.keys(md.getMap())) {
    if (!HOP_BY_HOP.has(k)) for (const v of md.get(k)) out.add(k, v);
  }
  return out;
}

/** A pool of connections to one sidecar address. */
export class UpstreamPool {
  private readonly conns: H2Connection[];
  private next = 0;
  /** Upstream ModelStreamInfer streams by streamKey: one per connection. */
  private readonly streams = new Map<string, { streams: UpstreamStream[]; next: number }>();
  private streamSeq = 0;

  /** address: host:port; connections: how many to keep (>= 1); clock: what deadlines are read on. */
  constructor(
    readonly address: string,
    connections = 2,
    private readonly clock: Clock = systemClock,
  ) {
    this.conns = Array.from({ length: Math.max(1, connections) }, () => new H2Connection(address, clock));
  }

  /** Sends request bytes to method with metadata and an absolute deadline (on the pool's clock, Infinity: none); done is called once, asynchronously. */
  call(method: UpstreamMethod, req: Buffer, metadata: grpc.Metadata, deadline: number, done: (r: UpstreamResult) => void): CancelFn {
    const conn = this.conns[this.next];
    this.next = (this.next + 1) % this.conns.length;
    return unaryCall(conn, method, req, metadata, deadline, done, this.clock);
  }

  /** Opens every connection now (see H2Connection.preconnect). */
  preconnect(): void {
    for (const c of this.conns) c.preconnect();
  }

  /** The next connection, round robin, for a call this pool does not frame itself (a per_stream pass-through). */
  connection(): H2Connection {
    const conn = this.conns[this.next];
    this.next = (this.next + 1) % this.conns.length;
    return conn;
  }

  /**
   * Sends a ModelInferRequest that came on a client stream over a shared upstream stream (stream.ts);
   * key: streamKeyOf(metadata). Same result shape as call().
   */
  stream(key: string, req: Buffer, metadata: grpc.Metadata, deadline: number, done: (r: UpstreamResult) => void): CancelFn {
    let e = this.streams.get(key);
    if (!e) {
      if (this.streams.size >= MAX_STREAM_KEYS) this.evictIdleStreams();
      if (this.streams.size >= MAX_STREAM_KEYS) return this.call(INFER_METHODS.infer, req, metadata, deadline, done);
      const prefix = `ig${(this.streamSeq++).toString(36)}.`;
      e = {
        streams: this.conns.map(
          (c, i) => new UpstreamStream(() => new H2MessageStream(c, STREAM_METHOD, metadata), `${prefix}${i}.`, this.clock),
        ),
        next: 0,
      };
      this.streams.set(key, e);
    }
    const s = e.streams[e.next];
    e.next = (e.next + 1) % e.streams.length;
    return s.send(req, deadline, done);
  }

  private evictIdleStreams(): void {
    for (const [key, e] of this.streams) {
      if (e.streams.every((s) => s.size === 0)) {
        for (const s of e.streams) s.close();
        this.streams.delete(key);
      }
    }
  }

  /** Connections established now; reading this does not start one. */
  connected(): number {
    let n = 0;
    for (const c of this.conns) if (c.connected) n++;
    return n;
  }

  /** Closes every connection; calls in flight fail. */
  close(): void {
    for (const e of this.streams.values()) for (const s of e.streams) s.close();
    this.streams.clear();
    for (const c of this.conns) c.close();
  }
}

/** Upstream pools shared by address: one sidecar serving several models has one pool. */
export class UpstreamPools {
  private readonly pools = new Map<string, { pool: UpstreamPool; refs: number }>();
  private readonly retired = new Set<UpstreamPool>();

  constructor(
    private readonly channelsPerEndpoint = 2,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The pool for address, creating it; pair with release(). */
  acquire(address: string): UpstreamPool {
    let e = this.pools.get(address);
    if (!e) {
      this.pools.set(address, (e = { pool: new UpstreamPool(address, this.channelsPerEndpoint, this.clock), refs: 0 }));
      // An endpoint that joins is connected at once: at a cold start the first calls otherwise
      // waited for the handshakes, and the first second's p99 with them (bench:skew-matrix).
      e.pool.preconnect();
    }
    e.refs++;
    return e.pool;
  }

  /** Drops one reference; the last one closes the pool. */
  release(address: string): void {
    const e = this.pools.get(address);
    if (!e || --e.refs > 0) return;
    this.pools.delete(address);
    // Give calls already sent time to finish before the channels go.
    this.retired.add(e.pool);
    this.clock.unref(
      this.clock.setTimeout(() => {
        this.retired.delete(e.pool);
        e.pool.close();
      }, RETIRE_AFTER_MS),
    );
  }

  /** The pool for address, if any endpoint uses it. */
  get(address: string): UpstreamPool | undefined {
    return this.pools.get(address)?.pool;
  }

  /** Connected channels per address in use (retired pools excluded). */
  connectedCounts(): Array<[string, number]> {
    return [...this.pools].map(([address, e]) => [address, e.pool.connected()]);
  }

  /** Closes every pool. */
  close(): void {
    for (const e of this.pools.values()) e.pool.close();
    for (const p of this.retired) p.close();
    this.pools.clear();
    this.retired.clear();
  }
}
