// The discovery protocol on the wire: loading proto/discovery.proto and
// converting between its messages and the domain types, in both directions,
// so the service, the registrar and the watcher share one mapping.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS } from '../protocol/proto';
import type { ProtoGrpcType } from '../proto/gen/discovery';
import type { DiscoveryClient } from '../proto/gen/infergate/discovery/v1/Discovery';
import type { HealthStatus } from '../proto/gen/infergate/discovery/v1/HealthStatus';
import type { LbEndpoint, LbEndpoint__Output } from '../proto/gen/infergate/discovery/v1/LbEndpoint';
import type { LoadSummary as PbLoad, LoadSummary__Output as PbLoadOut } from '../proto/gen/infergate/discovery/v1/LoadSummary';
import type { WatchResponse } from '../proto/gen/infergate/discovery/v1/WatchResponse';
import { HEALTH_VALUES, NO_LOAD, type ClusterEndpoint, type Health, type HubMessage, type LoadSummary } from './types';

export type { DiscoveryClient };
type DiscoveryPackage = ProtoGrpcType['infergate']['discovery']['v1'];

let pkg: DiscoveryPackage | undefined;

/** The `infergate.discovery.v1` package, loaded once per process. */
export function loadDiscoveryProto(): DiscoveryPackage {
  if (!pkg) {
    const def = protoLoader.loadSync('discovery.proto', PROTO_LOADER_OPTIONS);
    pkg = (grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType).infergate.discovery.v1;
  }
  return pkg;
}

/** Client options shared by the registrar and the watcher. */
export const CLIENT_OPTIONS: grpc.ChannelOptions = {
  // A half-open connection (peer vanished without a RST) would otherwise
  // leave a watch silently stale; pings find it within ~15 s.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Our own backoff decides when to retry; keep grpc-js's reconnects short.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** A Discovery client for host:port (plaintext). */
export function discoveryClient(address: string): DiscoveryClient {
  const { Discovery } = loadDiscoveryProto();
  return new Discovery(address, grpc.credentials.createInsecure(), CLIENT_OPTIONS);
}

/** A proto health value as a domain health; UNKNOWN (or garbage) gives undefined. */
export function healthFromProto(h: HealthStatus | undefined): Health | undefined {
  if (typeof h === 'number') return HEALTH_VALUES[h - 1];
  return HEALTH_VALUES.includes(h as Health) ? (h as Health) : undefined;
}

/** Load summary to the wire. */
export function loadToProto(l: LoadSummary): PbLoad {
  return { queue_depth: l.queueDepth, in_flight: l.inFlight, latency_ewma_ms: l.latencyMs };
}

/** Load summary from the wire (absent = no load). */
export function loadFromProto(l: PbLoadOut | null | undefined): LoadSummary {
  if (!l) return NO_LOAD;
  return { queueDepth: l.queue_depth, inFlight: l.in_flight, latencyMs: l.latency_ewma_ms };
}

/** A cluster endpoint to the wire. */
export function endpointToProto(e: ClusterEndpoint): LbEndpoint {
  return {
    id: e.id,
    address: e.address,
    zone: e.zone,
    weight: e.weight,
    priority: e.priority,
    health: e.health,
    versions: [...e.versions],
    labels: { ...e.labels },
    load: loadToProto(e.load),
    capacity: e.capacity,
  };
}

/** A cluster endpoint from the wire. */
export function endpointFromProto(p: LbEndpoint__Output): ClusterEndpoint {
  return {
    id: p.id,
    address: p.address,
    zone: p.zone,
    weight: p.weight || 1,
    priority: p.priority,
    health: healthFromProto(p.health) ?? 'HEALTHY',
    versions: p.versions,
    labels: p.labels,
    load: loadFromProto(p.load),
    capacity: p.capacity,
  };
}

/** A hub message as a WatchResponse. */
export function encodeWatchResponse(m: HubMessage): WatchResponse {
  return {
    epoch: m.epoch,
    version: m.version,
    snapshot: m.snapshot,
    clusters: [...m.clusters].map(([name, eps]) => ({ cluster_name: name, endpoints: eps.map(endpointToProto) })),
    changes: m.changes.map((c) => ({
      type: c.type,
      cluster_name: c.cluster,
      // A removal names the endpoint; the rest of it is of no use to the watcher.
      endpoint: c.type === 'REMOVE' ? { id: c.endpoint.id, address: c.endpoint.address } : endpointToProto(c.endpoint),
    })),
    config: m.config ? { version: m.config.version, json: m.config.json } : null,
    partial: m.partial,
  };
}
