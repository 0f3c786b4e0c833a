// Prometheus metrics for one discovery process, in a Registry of its own so
// tests can run several replicas in one process. View sizes and hub counters
// are read when scraped, so the hot paths only bump plain numbers.
import { Counter, Gauge, Registry } from 'prom-client';
import type { WatchHub } from './watch-hub';

/** The discovery service's metric families. */
export class DiscoveryMetrics {
  /** The registry to expose on /metrics. */
  readonly registry = new Registry();
  /** Register calls by result. */
  readonly registrations: Counter<'result'>;
  /** Heartbeat calls by result (ok, not_found, error). */
  readonly heartbeats: Counter<'result'>;
  /** Deregister calls. */
  readonly deregistrations: Counter;
  /** Record writes caused by heartbeats (load or status changed). */
  readonly heartbeatWrites: Counter;

  constructor(hub: WatchHub) {
    const registers = [this.registry];
    this.registrations = new Counter({ name: 'discovery_registrations_total', help: 'Register calls.', labelNames: ['result'], registers });
    this.heartbeats = new Counter({ name: 'discovery_heartbeats_total', help: 'Heartbeat calls.', labelNames: ['result'], registers });
    this.deregistrations = new Counter({ name: 'discovery_deregistrations_total', help: 'Deregister calls.', registers });
    this.heartbeatWrites = new Counter({
      name: 'discovery_heartbeat_writes_total',
      help: 'Heartbeats that rewrote the record (status or load moved).',
      registers,
    });
    new Gauge({
      name: 'discovery_endpoints',
      help: 'Endpoints in the view.',
      registers,
      collect() {
        this.set(hub.endpointCount());
      },
    });
    new Gauge({
      name: 'discovery_watchers',
      help: 'Open watch streams.',
      registers,
      collect() {
        this.set(hub.watchers().length);
      },
    });
    new Gauge({
      name: 'discovery_view_partial',
      help: '1 within the warm-up after start (the view may lack sidecars still re-registering), else 0.',
      registers,
      collect() {
        this.set(hub.partial ? 1 : 0);
      },
    });
    new Gauge({
      name: 'discovery_view_version',
      help: 'Version of the view watchers see (store revision × 1000 + config reloads since).',
      registers,
      collect() {
        this.set(hub.revision);
      },
    });
    const fromHub = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    fromHub('discovery_watch_snapshots_total', 'Full snapshots sent to watchers.', () => hub.stats.snapshots);
    fromHub('discovery_watch_resumes_total', 'Watches resumed from a version without a snapshot.', () => hub.stats.resumes);
    fromHub('discovery_watch_messages_total', 'Messages sent to watchers.', () => hub.stats.messages);
    fromHub('discovery_store_resyncs_total', 'Store watches that had to be reloaded (e.g. etcd compaction).', () => hub.stats.resyncs);
  }
}
