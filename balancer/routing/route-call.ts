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

/** The endpoint a per_stream client stream is passed through to (Router.pinStream), for one leg of the stream. */
export interface PinnedRoute {
  readonly pool: UpstreamPool;
  /** The endpoint's address, for logs and statuses. */
  readonly endpoint: string;
  /** The endpoint's id: a re-pin names it to avoid it. */
  readonly id: string;
  /** The version the stream is pinned to ('' for any); a re-pin keeps it, so a split applies to the whole stream. */
  readonly version: string;
  /** Set when messages must be pointed at another model or version (a split or an objective): fields to append. */
  readonly rewrite: { readonly model: string; readonly version: string } | undefined;
  /** How often in a row the stream may replay its unanswered messages on another endpoint: max(1, retry.max_retries). */
  readonly maxReplays: number;
  /** True once the endpoint drains (DRAINING in the view, an endpoint_overrides drain) or left the view. */
  draining(): boolean;
  /** Calls cb whenever the view changes while this leg is open (it checks draining() itself); returns the unsubscriber. */
  onViewChange(cb: () => void): () => void;
  /** Call once when the leg ends: frees the endpoint's slot, counts the leg, applies its load trailer. */
  ended(code: Status, orca: Buffer | undefined): void;
}

/** What a re-pin keeps of the stream's first pin, and the endpoints it must not go back to. */
export interface RepinOptions {
  readonly version: string;
  /** Endpoint ids to avoid (the one draining, ones that failed); ignored when every candidate is among them. */
  readonly avoid: readonly string[];
}
