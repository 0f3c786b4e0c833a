// The call the router routes (RouteCall) and how it ends (RouteOutcome), as
// the front, the REST face and the client's transports hand it over, and the
// endpoint a per_stream stream is pinned to. Apart from router.ts so that
// route-pick.ts and the callers need not import the router for its types.
import type * as grpc from '@grpc/grpc-js';
import type { Status } from '../../protocol/status';
import type { UpstreamPool } from '../upstream/pool';

/** How a routed call ended, as the client should see it. */
export interface RouteOutcome {
  readonly code: Status;
  readonly details: string;
  /** Response bytes when code is OK. */
  readonly response?: Buffer;
}

/** One call to route. */
export interface RouteCall {
  /** Serialized request (ModelInferRequest, ModelReadyRequest or ModelMetadataRequest). */
  readonly bytes: Buffer;
  /** Model and version the request names ('' when none). */
  readonly model: string;
  readonly version: string;
  /** The `objective` header, when the client named a use case instead of a model. */
  readonly objective?: string;
  /** Metadata to forward upstream. */
  readonly metadata: grpc.Metadata;
  /** Absolute deadline on the routing core's Clock (Clock.now() ms; Infinity: none). */
  readonly deadline: number;
  /** Set for messages of a client stream: they go over upstream streams shared under this key (streamKeyOf). */
  readonly streamKey?: string;
}

/** The endpoint a per_stream client stream is passed through to (Router.pinStream). */
export interface PinnedRoute {
  readonly pool: UpstreamPool;
  /** The endpoint's address, for logs and statuses. */
  readonly endpoint: string;
  /** Set when messages must be pointed at another model or version (a split or an objective): fields to append. */
  readonly rewrite: { readonly model: string; readonly version: string } | undefined;
  /** Call once when the stream ends: frees the endpoint's slot, counts the stream, applies its load trailer. */
  ended(code: Status, orca: Buffer | undefined): void;
}
