// What the two call paths of the gRPC face share: the unary one
// (unary-call.ts) and the stream one (stream-call.ts) each keep their own
// per-call state, and both turn a request message into the router's
// RouteCall here. Neither imports grpc-front.ts, which imports both.
import type * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../common/clock';
import { Status } from '../../protocol/status';
import type { Clusters } from '../routing/clusters';
import { MalformedRequest, peekRoute } from '../routing/peek-request';
import type { RouteCall, RouteOutcome } from '../routing/route-call';
import type { Router } from '../routing/router';

/** The methods the front serves. */
export type Kind = 'infer' | 'ready' | 'metadata' | 'live' | 'serverReady' | 'serverMetadata' | 'stream';

/** The methods answered with one message (everything but ModelStreamInfer). */
export type UnaryKind = Exclude<Kind, 'stream'>;

/** What the front needs. */
export interface FrontDeps {
  readonly router: Router;
  readonly clusters: Clusters;
  readonly clock: Clock;
}

/** The RouteCall for request bytes, or a status to answer with; streamKey only for messages of a client stream. */
export function routeCall(bytes: Buffer, md: grpc.Metadata, deadline: number, streamKey: string | undefined): RouteCall | RouteOutcome {
  try {
    const { model, version } = peekRoute(bytes);
    const objective = md.get('objective')[0];
    return {
      bytes,
      model,
      version,
      objective: objective === undefined ? undefined : String(objective),
      metadata: md,
      deadline,
      streamKey,
    };
  } catch (e) {
    if (e instanceof MalformedRequest) return { code: Status.INVALID_ARGUMENT, details: `malformed request: ${e.message}` };
    throw e;
  }
}
