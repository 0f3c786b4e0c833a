// One discovery process: a store, the hub over it, the gRPC service and the
// admin HTTP port. Used by the CLI, the demo and tests.
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random } from '../../common/clock';
import type { Logger } from '../../common/log';
import { adminHandler } from './admin-http';
import { DiscoveryMetrics } from './metrics';
import { discoveryHandlers } from './service';
import type { DiscoveryStore } from '../store/store';
import { MemoryStore } from '../store/memory';
import type { ConfigSource } from '../types';
import { WatchHub } from './watch-hub';
import { loadDiscoveryProto } from '../wire';

/** Default lease TTL: a dead sidecar leaves every view within ~3 s. */
export const DEFAULT_LEASE_TTL_MS = 3000;

/**
 * What the warm-up adds to the lease TTL by default: the longest a live sidecar may take to
 * register again with a restarted discovery. Its registrar retries at most every 5 s
 * (common/backoff.ts DEFAULT_BACKOFF.maxMs) and grpc-js waits at most 2 s to reconnect
 * (discovery/wire.ts CLIENT_OPTIONS).
 */
export const REREGISTER_MS = 7000;

/** The default warm-up for a lease TTL (see WatchHubOptions.warmUpMs). */
export function defaultWarmUpMs(leaseTtlMs: number): number {
  return leaseTtlMs + REREGISTER_MS;
}

/** What a discovery process needs. Ports may be 0 (pick a free one). */
export interface DiscoveryOptions {
  readonly host: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  /** Defaults to a new in-memory store, closed with the server; a store passed in stays the caller's to close. */
  readonly store?: DiscoveryStore;
  /** Routing config to relay to watchers; none by default. */
  readonly config?: ConfigSource;
  /** TTL for sidecars that ask for none (ms). */
  readonly leaseTtlMs?: number;
  /**
   * How long after start the view counts as partial, so watchers merge it rather than replace
   * theirs (watch-hub.ts); default defaultWarmUpMs(leaseTtlMs); 0: never (a store known complete).
   */
  readonly warmUpMs?: number;
  /** Shortest TTL granted (ms, default 500). */
  readonly minLeaseTtlMs?: number;
  /** Store writes remembered for resuming watchers. */
  readonly historySize?: number;
  /** Messages buffered for one watcher before its stream is cut (default 1000). */
  readonly maxQueuedPerWatcher?: number;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
}

/** A running discovery process. */
export interface DiscoveryServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly hub: WatchHub;
  readonly store: DiscoveryStore;
  readonly metrics: DiscoveryMetrics;
  /** Ends watch streams (watchers resume elsewhere), stops serving, closes the store if it made it. */
  close(): Promise<void>;
}

/** Starts the store's view, the gRPC service and the admin port. */
export async function startDiscovery(opts: DiscoveryOptions): Promise<DiscoveryServer> {
  const clock = opts.clock ?? systemClock;
  const ownStore = !opts.store;
  const store = opts.store ?? new MemoryStore({ clock, random: opts.random ?? systemRandom, historySize: opts.historySize });
  const warmUpMs = opts.warmUpMs ?? defaultWarmUpMs(opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS);
  const hub = new WatchHub(store, { log: opts.log, clock, historySize: opts.historySize, warmUpMs });
  // Before start(): the first view already holds the config's static endpoints.
  hub.setConfig(opts.config?.current());
  await hub.start();
  const unwatchConfig = opts.config?.onChange((cfg) => {
    opts.log.info('pushing routing config to watchers', { version: cfg.version, watchers: hub.watchers().length });
    hub.setConfig(cfg);
  });
  const metrics = new DiscoveryMetrics(hub);

  const server = new grpc.Server({
    // Pings find watchers whose host vanished without closing the
    // connection, so their subscriptions do not linger.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
  });
  server.addService(
    loadDiscoveryProto().Discovery.service,
    discoveryHandlers({
      store,
      hub,
      metrics,
      log: opts.log,
      clock,
      defaultTtlMs: opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      minTtlMs: opts.minLeaseTtlMs,
      maxQueuedPerWatcher: opts.maxQueuedPerWatcher,
    }),
  );
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let admin: http.Server | undefined;
  try {
    const grpcPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${opts.grpcPort}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    admin = http.createServer(adminHandler({ hub, metrics, config: () => hub.currentConfig() }));
    await new Promise<void>((resolve, reject) => {
      admin!.once('error', reject);
      admin!.listen(opts.httpPort, opts.host, () => resolve());
    });
    const httpPort = (admin.address() as { port: number }).port;
    opts.log.info('discovery serving', {
      grpc_port: grpcPort,
      http_port: httpPort,
      epoch: hub.epoch,
      version: hub.revision,
      warm_up_ms: warmUpMs,
    });
    const adminServer = admin;
    return {
      grpcPort,
      httpPort,
      hub,
      store,
      metrics,
      close: async () => {
        unwatchConfig?.();
        hub.close();
        // Watch streams never end on their own: cut them so tryShutdown
        // returns, and so watchers move to another replica at once.
        server.forceShutdown();
        adminServer.closeAllConnections();
        await new Promise<void>((resolve) => adminServer.close(() => resolve()));
        if (ownStore) await store.close();
      },
    };
  } catch (e) {
    server.forceShutdown();
    admin?.close();
    hub.close();
    if (ownStore) await store.close();
    throw e;
  }
}
