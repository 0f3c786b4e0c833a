// The Discovery gRPC service: registration and heartbeats write records to
// the store; watches subscribe to the hub. The service holds no state of its
// own beyond pacing load writes, so any replica can serve any call.
import * as grpc from '@grpc/grpc-js';
import { systemClock, type Clock } from '../../common/clock';
import type { Logger } from '../../common/log';
import { InferError, invalidArgument, notFound, Status, toInferError, unavailable } from '../../protocol/status';
import type { DiscoveryHandlers } from '../../proto/gen/infergate/discovery/v1/Discovery';
import type { RegisterRequest__Output } from '../../proto/gen/infergate/discovery/v1/RegisterRequest';
import type { WatchResponse } from '../../proto/gen/infergate/discovery/v1/WatchResponse';
import { loadMoved } from './load-change';
import type { DiscoveryMetrics } from './metrics';
import type { DiscoveryStore } from '../store/store';
import type { EndpointRecord } from '../types';
import type { Subscription, WatchHub } from './watch-hub';
import { encodeWatchResponse, healthFromProto, loadFromProto } from '../wire';

/** Lease and pacing settings. */
export interface ServiceOptions {
  readonly store: DiscoveryStore;
  readonly hub: WatchHub;
  readonly metrics: DiscoveryMetrics;
  readonly log: Logger;
  readonly clock?: Clock;
  /** TTL when a sidecar asks for none (ms). */
  readonly defaultTtlMs: number;
  /** Smallest and largest TTL granted (ms). */
  readonly minTtlMs?: number;
  readonly maxTtlMs?: number;
  /** Rewrite an unchanged-looking load at least this often (ms, default 5000). */
  readonly loadRefreshMs?: number;
  /** A watcher with more queued messages than this is cut off; it reconnects and resumes (default 1000). */
  readonly maxQueuedPerWatcher?: number;
}

function fail(err: unknown): Partial<grpc.StatusObject> {
  const e = toInferError(err);
  return { code: e.code, details: e.message };
}

/** The handlers of infergate.discovery.v1.Discovery. */
export function discoveryHandlers(o: ServiceOptions): DiscoveryHandlers {
  const clock = o.clock ?? systemClock;
  const minTtl = o.minTtlMs ?? 500;
  const maxTtl = o.maxTtlMs ?? 300_000;
  const loadRefreshMs = o.loadRefreshMs ?? 5000;
  const maxQueued = o.maxQueuedPerWatcher ?? 1000;
  // When each endpoint's load was last written by this replica.
  const lastLoadWrite = new Map<string, number>();

  const unary =
    <Req, Res>(name: string, fn: (req: Req) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => {
      fn(call.request).then(
        (res) => cb(null, res),
        (e: unknown) => {
          if (!(e instanceof InferError)) o.log.warn(`${name} failed`, { err: String(e) });
          cb(fail(e instanceof InferError ? e : unavailable(`discovery store: ${String(e)}`)));
        },
      );
    };

  return {
    Register: unary('Register', async (req: RegisterRequest__Output) => {
      const record = recordFrom(req);
      const ttlMs = Math.min(maxTtl, Math.max(minTtl, req.ttl_ms || o.defaultTtlMs));
      const previous = o.hub.record(record.id) ?? (await o.store.get(record.id));
      const { lease, ttlMs: granted } = await o.store.grantLease(ttlMs);
      if ((await o.store.put(record, lease)) === null) throw unavailable('lease expired before the record was written; retry');
      // The record now hangs off the new lease; the old one would only keep
      // a dead lease around until its TTL.
      if (previous && previous.lease !== lease) await o.store.revokeLease(previous.lease).catch(() => undefined);
      lastLoadWrite.set(record.id, clock.now());
      o.metrics.registrations.inc({ result: previous ? 'replaced' : 'new' });
      o.log.info('endpoint registered', {
        id: record.id,
        address: record.address,
        zone: record.zone,
        lease,
        ttl_ms: granted,
        models: record.models.map((m) => m.name),
      });
      return { lease_id: lease, ttl_ms: granted, endpoint_id: record.id, heartbeat_interval_ms: Math.max(50, Math.floor(granted / 3)) };
    }),

    Heartbeat: unary('Heartbeat', async (req) => {
      const ttl = await o.store.keepAlive(req.lease_id);
      const lost = (why: string) => {
        o.metrics.heartbeats.inc({ result: 'not_found' });
        return notFound(`${why}: register again`);
      };
      if (ttl === null) throw lost(`lease ${req.lease_id} is unknown (expired, revoked, or discovery lost its state)`);
      let cur = o.hub.record(req.endpoint_id);
      if (!cur || cur.lease !== req.lease_id) cur = await o.store.get(req.endpoint_id);
      if (!cur || cur.lease !== req.lease_id) throw lost(`endpoint '${req.endpoint_id}' is not bound to lease ${req.lease_id}`);
      const health = healthFromProto(req.status) ?? cur.record.health;
      const load = req.load ? loadFromProto(req.load) : cur.record.load;
      const now = clock.now();
      const stale = now - (lastLoadWrite.get(cur.record.id) ?? -Infinity) >= loadRefreshMs;
      if (health !== cur.record.health || loadMoved(cur.record.load, load, stale)) {
        await o.store.put({ ...cur.record, health, load }, req.lease_id);
        lastLoadWrite.set(cur.record.id, now);
        o.metrics.heartbeatWrites.inc();
        if (health !== cur.record.health) o.log.info('endpoint status changed', { id: cur.record.id, from: cur.record.health, to: health });
      }
      o.metrics.heartbeats.inc({ result: 'ok' });
      if (lastLoadWrite.size > 2 * o.hub.endpointCount() + 1000) {
        for (const id of lastLoadWrite.keys()) if (!o.hub.record(id)) lastLoadWrite.delete(id);
      }
      return { ttl_ms: ttl };
    }),

    Deregister: unary('Deregister', async (req) => {
      await o.store.revokeLease(req.lease_id);
      o.metrics.deregistrations.inc();
      o.log.info('lease revoked', { lease: req.lease_id });
      return {};
    }),

    Watch: (call) => {
      const r = call.request;
      const peer = call.getPeer();
      let sub: Subscription | undefined;
      let cut = false;
      sub = o.hub.subscribe(
        {
          epoch: r.epoch,
          lastVersion: r.last_version,
          clusters: r.clusters,
          configVersion: r.config_version,
          watcherId: r.watcher_id || peer,
        },
        (m) => {
          if (cut || call.cancelled || call.destroyed) return;
          // A watcher that stopped reading would make us buffer without
          // bound; cut it off: it reconnects and resumes from its version.
          if (call.writableLength >= maxQueued) {
            cut = true;
            sub?.close();
            o.log.warn('watcher too slow; ending its stream', { watcher: r.watcher_id || peer, queued: call.writableLength });
            call.emit('error', {
              code: Status.RESOURCE_EXHAUSTED,
              details: `watcher fell ${maxQueued} messages behind; resume from your version`,
            });
            return;
          }
          call.write(encodeWatchResponse(m) satisfies WatchResponse);
        },
      );
      const done = () => sub?.close();
      call.on('cancelled', done);
      call.on('close', done);
      call.on('error', done);
    },
  };
}

/** Validates a Register request into a record (throws INVALID_ARGUMENT naming the field). */
export function recordFrom(req: RegisterRequest__Output): EndpointRecord {
  if (!req.address) throw invalidArgument('address is empty; expected host:port of the sidecar gRPC server');
  if (!/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(req.address)) throw invalidArgument(`address '${req.address}' is not host:port`);
  if (req.models.length === 0) throw invalidArgument('models is empty; expected at least one model served');
  const seen = new Set<string>();
  for (const [i, m] of req.models.entries()) {
    if (!m.name) throw invalidArgument(`models[${i}].name is empty`);
    if (seen.has(m.name)) throw invalidArgument(`models[${i}].name '${m.name}' is listed twice`);
    seen.add(m.name);
  }
  return {
    id: req.endpoint_id || req.address,
    address: req.address,
    zone: req.zone,
    labels: req.labels,
    models: req.models.map((m) => ({ name: m.name, versions: [...m.versions] })),
    weight: req.weight || 1,
    capacity: req.capacity,
    priority: req.priority,
    health: healthFromProto(req.status) ?? 'HEALTHY',
    load: loadFromProto(req.load),
  };
}
