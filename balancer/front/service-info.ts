// What the balancer says about itself, shared by its gRPC and REST faces so
// the two cannot drift: ServerMetadata's answer and ServerReady's rule.
import type { Clusters } from '../routing/cluster';

/** Name and version the balancer reports in ServerMetadata (and GET /v2). */
export const BALANCER_NAME = 'infergate-balancer';
export const BALANCER_VERSION = '0.1.0';
/** Protocol extensions the balancer serves. */
export const BALANCER_EXTENSIONS: readonly string[] = ['model_stream_infer'];

/** ServerMetadata's answer. */
export function serverMetadata(): { name: string; version: string; extensions: string[] } {
  return { name: BALANCER_NAME, version: BALANCER_VERSION, extensions: [...BALANCER_EXTENSIONS] };
}

/** ServerReady's answer (and /readyz's): some model is known and every known model has a candidate endpoint. */
export function isReady(clusters: Clusters, now: number): boolean {
  if (clusters.byModel.size === 0) return false;
  for (const c of clusters.byModel.values()) {
    if (c.snapshot.select({}, c.currentPolicy, now).kind !== 'ok') return false;
  }
  return true;
}
