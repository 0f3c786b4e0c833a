// One structured log line per routing state change, never one per call:
// an endpoint added, removed, draining or back to health; ejected by
// outlier detection or returned; its in-flight cap reached (breaker full)
// or room again (breaker clear); a model forgotten. Callers log on
// transitions only (the breaker and the detector report edges, the cluster
// compares health before and after), so a line means something changed.
// Every line carries `event` (a stable name to filter on), `model`,
// `endpoint` (its id), `address` and `reason`; readiness flips are logged
// by front/service-info.ts with `event: readiness`.
import type { Logger } from '../../common/log';
import type { ClusterEndpoint, Health } from '../../discovery/types';

/** The routing state changes that are logged. */
export type EndpointEvent =
  | 'endpoint_added'
  | 'endpoint_removed'
  | 'endpoint_draining'
  | 'endpoint_unhealthy'
  | 'endpoint_healthy'
  | 'endpoint_ejected'
  | 'endpoint_returned'
  | 'breaker_full'
  | 'breaker_clear';

/** Changes an operator should notice: capacity was lost. */
const WARN: ReadonlySet<EndpointEvent> = new Set(['endpoint_ejected', 'breaker_full', 'endpoint_unhealthy']);

/** Logs one endpoint's state change: message 'endpoint ejected' etc., with event, model, endpoint, address and reason. */
export function logEndpoint(log: Logger, event: EndpointEvent, model: string, ep: ClusterEndpoint, reason: string): void {
  const fields = { event, model, endpoint: ep.id, address: ep.address, reason };
  const msg = event.replace('_', ' ');
  if (WARN.has(event)) log.warn(msg, fields);
  else log.info(msg, fields);
}

/** The event for an endpoint whose health (after operator overrides) became `to`. */
export function healthEvent(to: Health): EndpointEvent {
  return to === 'DRAINING' ? 'endpoint_draining' : to === 'HEALTHY' ? 'endpoint_healthy' : 'endpoint_unhealthy';
}

/** Logs that a model without endpoints was forgotten: calls for it now get NOT_FOUND. */
export function logModelForgotten(log: Logger, model: string, reason: string): void {
  log.info('model forgotten', { event: 'model_forgotten', model, reason });
}
