// How encoded calls leave the client. One interface, two implementations,
// so infer() and stream() behave the same whichever is used:
//
// - ChannelTransport: one connection (a gRPC channel) to a balancer, or to
//   a single sidecar. It is the balancer's own upstream pool
//   (balancer/upstream/pool.ts) of size one: unary ModelInfer on raw bytes,
//   and stream messages multiplexed over a long-lived ModelStreamInfer call
//   correlated by request id (balancer/upstream/stream.ts), so out-of-order
//   answers and in-stream errors ('[STATUS] text') are handled by the same
//   code the balancer runs, and the client gets faster when it does.
// - ProxylessTransport (transport-proxyless.ts): the balancer's router over
//   discovery, in this process.
//
// The call shape is the router's RouteCall: a transport is exactly "something
// that routes a RouteCall", which is what lets the proxyless one be the
// router itself.
import * as grpc from '@grpc/grpc-js';
import { systemClock, type Clock } from '../common/clock';
import { Status } from '../protocol/status';
import { METHOD } from '../protocol/paths';
import { UpstreamPool, type CancelFn, type RouteCall, type RouteOutcome } from '../balancer/core';
import { decodeReady, encodeReadyRequest } from './wire';

export type { CancelFn, RouteCall, RouteOutcome } from '../balancer/core';

/** Carries encoded ModelInferRequests; see the file comment for the two implementations. */
export interface Transport {
  /**
   * Sends one serialized ModelInferRequest; with call.streamKey set, as a message on a
   * ModelStreamInfer stream shared by calls of equal key (streamKeyOf their metadata).
   * done is called exactly once; the returned function cancels the call.
   */
  send(call: RouteCall, done: (o: RouteOutcome) => void): CancelFn;
  /** Whether model (version '' = any) can take calls now. */
  ready(model: string, version: string): Promise<boolean>;
  /** Closes connections; calls in flight fail. */
  close(): void;
}

/** How long one readiness probe may take. */
const READY_PROBE_MS = 2_000;

/** A Transport over one connection to one address (a balancer, or a sidecar). */
export class ChannelTransport implements Transport {
  private readonly pool: UpstreamPool;

  /** address: host:port; channels: connections to keep (default 1); clock: what calls' deadlines are on. */
  constructor(
    readonly address: string,
    channels = 1,
    private readonly clock: Clock = systemClock,
  ) {
    this.pool = new UpstreamPool(address, channels, clock);
  }

  /** See Transport.send. */
  send(call: RouteCall, done: (o: RouteOutcome) => void): CancelFn {
    if (call.streamKey !== undefined) return this.pool.stream(call.streamKey, call.bytes, call.metadata, call.deadline, done);
    return this.pool.call(METHOD.ModelInfer, call.bytes, call.metadata, call.deadline, done);
  }

  /** ModelReady through the channel (a balancer forwards it to a sidecar serving the model). */
  ready(model: string, version: string): Promise<boolean> {
    return new Promise((resolve) => {
      this.pool.call(METHOD.ModelReady, encodeReadyRequest(model, version), new grpc.Metadata(), this.clock.now() + READY_PROBE_MS, (r) =>
        resolve(r.code === Status.OK && r.response !== undefined && decodeReady(r.response)),
      );
    });
  }

  /** See Transport.close. */
  close(): void {
    this.pool.close();
  }
}
