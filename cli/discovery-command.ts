// `infergate discovery`: the endpoint-discovery service. The routing config
// (--config) is opened by a hook the routing-config module provides, so this
// command does not depend on its file format.
import { nonNegative, port, UsageError, text, type CommandSpec, type FlagSpec, type FlagValues } from '../common/flags';
import { createLogger, type Logger } from '../common/log';
import { DEFAULT_LEASE_TTL_MS, startDiscovery } from '../discovery/server/server';
import type { DiscoveryStore } from '../discovery/store/store';
import { EtcdStore } from '../discovery/store/etcd';
import type { ConfigSource } from '../discovery/types';
import { runUntilSignal } from './signals';

export const discoverySpec = {
  name: 'discovery',
  summary: 'Run the endpoint-discovery service: sidecars register with leases, balancers watch a versioned view.',
  flags: {
    host: { name: 'host', arg: 'ADDR', help: 'Address to bind both ports on.', default: '0.0.0.0', parse: text } as FlagSpec<string>,
    grpcPort: {
      name: 'grpc-port',
      arg: 'PORT',
      help: 'gRPC port (infergate.discovery.v1.Discovery).',
      default: 50050,
      parse: port,
    } as FlagSpec<number>,
    httpPort: {
      name: 'http-port',
      arg: 'PORT',
      help: 'Admin HTTP port (/endpoints, /config, /metrics, /healthz).',
      default: 50051,
      parse: port,
    } as FlagSpec<number>,
    config: {
      name: 'config',
      arg: 'FILE',
      help: 'Routing config YAML, pushed to watchers; reloaded on change and SIGHUP.',
      default: '',
      parse: text,
    } as FlagSpec<string>,
    store: {
      name: 'store',
      arg: 'KIND',
      help: 'Where registrations live: memory (one process) or etcd (shared by replicas).',
      default: 'memory',
      parse: (raw: string) => {
        if (raw !== 'memory' && raw !== 'etcd') throw new Error(`'${raw}' is not a store; expected memory or etcd`);
        return raw;
      },
    } as FlagSpec<'memory' | 'etcd'>,
    etcdEndpoints: {
      name: 'etcd-endpoints',
      arg: 'URL,...',
      help: 'etcd client URLs (with --store etcd).',
      default: 'http://127.0.0.1:2379',
      parse: text,
    } as FlagSpec<string>,
    etcdPrefix: {
      name: 'etcd-prefix',
      arg: 'KEY',
      help: 'etcd key prefix; replicas of one deployment share it.',
      default: '/infergate/discovery/',
      parse: text,
    } as FlagSpec<string>,
    leaseTtlMs: {
      name: 'lease-ttl-ms',
      arg: 'MS',
      help: 'Lease TTL for sidecars that ask for none: a dead sidecar disappears this long after its last heartbeat.',
      default: DEFAULT_LEASE_TTL_MS,
      parse: nonNegative,
    } as FlagSpec<number>,
    warmUpMs: {
      name: 'warm-up-ms',
      arg: 'MS|auto',
      help:
        'After start, how long the view counts as partial: watchers merge it into theirs instead of replacing it, ' +
        'so a restart shrinks no view while sidecars re-register. auto: the lease TTL + 7000 (the longest a live sidecar takes to re-register); 0: off.',
      default: 'auto',
      parse: (raw: string) => (raw === 'auto' ? 'auto' : nonNegative(raw)),
    } as FlagSpec<number | 'auto'>,
  },
} satisfies CommandSpec<Record<string, FlagSpec<unknown>>>;

type Flags = FlagValues<typeof discoverySpec.flags>;

/** Extension points filled by other modules (the routing config). */
export interface DiscoveryHooks {
  /** Opens the routing config file; rejects with every validation error if it is invalid. */
  readonly openConfig?: (path: string, log: Logger) => Promise<ConfigSource>;
}

/** Builds the store the flags ask for. */
export function storeFromFlags(f: Flags, log: Logger): DiscoveryStore | undefined {
  if (f.store === 'memory') return undefined;
  const endpoints = f.etcdEndpoints
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (endpoints.length === 0) throw new UsageError('--etcd-endpoints: expected one or more URLs, e.g. http://127.0.0.1:2379');
  return new EtcdStore({ endpoints, prefix: f.etcdPrefix, log });
}

/** Runs discovery until SIGINT/SIGTERM. */
export async function runDiscoveryCommand(f: Flags, hooks: DiscoveryHooks = {}): Promise<void> {
  const log = createLogger('discovery');
  let config: ConfigSource | undefined;
  if (f.config) {
    if (!hooks.openConfig) throw new UsageError('--config: this build has no routing-config module');
    config = await hooks.openConfig(f.config, log);
  }
  const store = storeFromFlags(f, log);
  const server = await startDiscovery({
    host: f.host,
    grpcPort: f.grpcPort,
    httpPort: f.httpPort,
    store,
    config,
    leaseTtlMs: f.leaseTtlMs,
    warmUpMs: f.warmUpMs === 'auto' ? undefined : f.warmUpMs,
    log,
  }).catch(async (e: unknown) => {
    config?.close?.();
    await store?.close();
    throw e;
  });
  await runUntilSignal(log, async () => {
    config?.close?.();
    await server.close();
    await store?.close();
  });
}
