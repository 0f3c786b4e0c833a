// What the balancer says about itself, shared by its gRPC and REST faces so
// the two cannot drift: ServerMetadata's answer, ServerReady's rule and
// ModelReady's answer for models it cannot route.
//
// Readiness (ServerReady, GET /v2/health/ready, /readyz) is not "every model
// ever seen has an endpoint", which one retired model would hold false
// forever and which would pull every balancer out of service when one model's
// only sidecar restarts. It is what Envoy's and Triton's users expect of a
// front: the view is current (discovery's first snapshot applied, or static
// endpoints loaded) and at least one model can be routed (has a candidate
// endpoint, in-flight caps aside: a saturated fleet is load, not a reason to
// leave the service). A balancer that lost discovery keeps its last view and
// stays ready (static stability).
import type { Logger } from '../../common/log';
import { Status } from '../../protocol/status';
import type { Clusters } from '../routing/clusters';
import type { RouteOutcome } from '../routing/route-call';

/** Name and version the balancer reports in ServerMetadata (and GET /v2). */
export const BALANCER_NAME = 'infergate-balancer';
export const BALANCER_VERSION = '0.1.0';
/** Protocol extensions the balancer serves. */
export const BALANCER_EXTENSIONS: readonly string[] = ['model_stream_infer'];

/** ServerMetadata's answer. */
export function serverMetadata(): { name: string; version: string; extensions: string[] } {
  return { name: BALANCER_NAME, version: BALANCER_VERSION, extensions: [...BALANCER_EXTENSIONS] };
}

/** What the readiness rule reads. */
export interface ReadinessInput {
  /** Discovery's first snapshot applied, or static endpoints loaded. */
  readonly current: boolean;
  /** Per known model: whether it has a candidate endpoint now. */
  readonly models: ReadonlyArray<{ readonly model: string; readonly routable: boolean }>;
}

/** The rule's answer and why, for the log line of a flip. */
export interface Readiness {
  readonly ready: boolean;
  readonly reason: string;
}

/** The readiness rule (see the file comment). */
export function readiness(input: ReadinessInput): Readiness {
  if (!input.current) return { ready: false, reason: 'no view of the endpoints yet (discovery not synced, no static endpoints)' };
  const routable = input.models.filter((m) => m.routable).map((m) => m.model);
  if (routable.length === 0)
    return { ready: false, reason: `no model has a candidate endpoint (${input.models.length} known without one)` };
  const names = routable.length <= 5 ? routable.join(', ') : `${routable.slice(0, 5).join(', ')}, ...`;
  return { ready: true, reason: `${routable.length} of ${input.models.length} models routable (${names})` };
}

/** The rule's input as the clusters stand now. */
export function readinessInput(clusters: Clusters): ReadinessInput {
  return {
    current: clusters.current,
    models: [...clusters.byModel.values()].map((c) => ({ model: c.model, routable: c.snapshot.routable() })),
  };
}

/** ServerReady's answer (and /readyz's). */
export function isReady(clusters: Clusters): boolean {
  return readiness(readinessInput(clusters)).ready;
}

/** Logs one line each time readiness flips, a balancer starting as not ready (so one already ready logs now); returns the unsubscriber. */
export function logReadinessFlips(clusters: Clusters, log: Logger): () => void {
  let ready = false;
  const check = (): void => {
    const r = readiness(readinessInput(clusters));
    if (r.ready === ready) return;
    ready = r.ready;
    const fields = { event: 'readiness', ready: r.ready, reason: r.reason };
    if (r.ready) log.info('balancer ready', fields);
    else log.warn('balancer not ready', fields);
  };
  check();
  return clusters.onChange(check);
}

/** True when ModelReady can be forwarded: the model (version '' = any) has a candidate endpoint. */
export function modelRoutable(clusters: Clusters, model: string, version: string): boolean {
  return clusters.get(model)?.snapshot.routable(version) ?? false;
}

/** Why a model (version '' = any) that modelRoutable refused cannot be routed, naming it. */
export function unroutableReason(clusters: Clusters, model: string, version: string, now: number): string {
  const c = clusters.get(model);
  if (!c || c.members.size === 0) return clusters.noEndpoint(model).details;
  const s = c.snapshot.select({ version: version || undefined }, c.currentPolicy, now);
  return s.kind === 'none' ? s.reason : `model '${model}' has a candidate endpoint now`;
}

/** ModelReadyResponse { ready: false }: proto3 writes nothing for a false bool. */
export const NOT_READY_RESPONSE = Buffer.alloc(0);

/**
 * ModelReady's outcome as Triton gives it: ready=false, not an error, when no endpoint can answer
 * for the model now (a forwarded call that ended UNAVAILABLE after its retries included).
 */
export function modelReadyOutcome(o: RouteOutcome): RouteOutcome {
  return o.code === Status.UNAVAILABLE ? { code: Status.OK, details: o.details, response: NOT_READY_RESPONSE } : o;
}
