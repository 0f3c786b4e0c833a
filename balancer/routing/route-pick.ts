// The pieces of a routed call that do not depend on the Router's state:
// picking an endpoint with an in-flight slot, decoding a load trailer, and
// pointing request bytes at the routed model and version.
import { Status } from '../../protocol/status';
import type { OrcaLoadReport__Output } from '../../proto/gen/xds/data/orca/v3/OrcaLoadReport';
import type { RoutingPolicy } from '../../routing-config/types';
import { decodeLoadReport } from '../../protocol/load-report';
import { withoutTried } from './candidates';
import type { ModelCluster } from './cluster';
import type { LoadSummary } from '../../discovery/types';
import { loadFromOrca, type EndpointState } from './endpoint-state';
import type { PickerCache } from './pick';
import type { RouteOutcome } from './route-call';
import type { CancelFn } from '../upstream/types';
import { stringField } from '../../protocol/wire-fields';

/** What pick() reads of a route. */
export interface PickRoute {
  readonly policy: RoutingPolicy;
  readonly cache: PickerCache;
}

/**
 * An endpoint with an in-flight slot taken, or why there is none. kind 'call': the call
 * starts at `now`, and must end in onCallEnded(status, now); 'stream': a pinned stream,
 * ended by onStreamEnded.
 */
export function pick(
  cluster: ModelCluster,
  rs: PickRoute,
  version: string | undefined,
  shardKey: string | undefined,
  tried: EndpointState[],
  now: number,
  kind: 'call' | 'stream' = 'call',
): EndpointState | string {
  const c = cluster.snapshot.select({ version, shardKey }, rs.policy, now);
  if (c.kind === 'none') return c.reason;
  const full: EndpointState[] = [];
  // Each failed tryStart removes one endpoint, so this ends within the list's length.
  for (;;) {
    const list = withoutTried(c, full.length ? [...tried, ...full] : tried);
    const r = rs.cache.get(list.endpoints, list.stable).pick();
    if (r.kind === 'unavailable') return `model '${cluster.model}': ${r.reason}`;
    if (r.endpoint.tryStart(kind === 'call' ? now : undefined)) return r.endpoint;
    if (full.includes(r.endpoint)) return `every candidate endpoint of model '${cluster.model}' is at its in-flight cap`;
    full.push(r.endpoint);
  }
}

/** True when the call has a candidate endpoint not in tried (breaker-full ones are no candidates). */
export function hasUntried(
  cluster: ModelCluster,
  rs: PickRoute,
  version: string | undefined,
  shardKey: string | undefined,
  tried: readonly EndpointState[],
  now: number,
): boolean {
  const c = cluster.snapshot.select({ version, shardKey }, rs.policy, now);
  return c.kind === 'ok' && c.endpoints.some((e) => !tried.includes(e));
}

/** The load in an ORCA trailer, if it carries one. */
export function orcaLoad(buf: Buffer): LoadSummary | undefined {
  const r = decodeLoadReport(buf);
  return r ? loadFromOrca(r as OrcaLoadReport__Output) : undefined;
}

/** Ends a call that never started with a status; returns a cancel that does nothing. */
export function fail(done: (o: RouteOutcome) => void, code: Status, details: string): CancelFn {
  done({ code, details });
  return () => undefined;
}

/**
 * The request with model_name/model_version set to the routed ones, without
 * decoding it: protobuf lets a later occurrence of a scalar field override an
 * earlier one, so appending the two fields is enough (one copy, no re-encode).
 */
export function withRoute(bytes: Buffer, model: string, version: string, toModel: string, toVersion: string): Buffer {
  if (model === toModel && version === toVersion) return bytes;
  const parts: Buffer[] = [bytes];
  if (model !== toModel) parts.push(stringField(1, toModel));
  if (version !== toVersion) parts.push(stringField(2, toVersion));
  return Buffer.concat(parts);
}
