// The hub between one store and many watchers. It keeps the materialized
// view (every record at the store's latest revision), turns store writes
// into per-cluster changes, keeps a bounded history of them so a watcher that
// reconnects with its last version gets only what it missed, and fans each
// change out to the subscribers that watch its cluster.
import { systemClock, type Clock } from '../common/clock';
import type { Logger } from '../common/log';
import { Backoff } from './backoff';
import { clusterEndpoints, coalesce, diffRecord, wants } from './cluster-changes';
import type { DiscoveryStore, StoreEvent, StoredRecord, StoreSnapshot, StoreWatch } from './store';
import type { ClusterChange, ClusterEndpoint, RoutingConfigVersion } from './types';

/** A message for one watcher, in domain form (service.ts encodes it). */
export interface HubMessage {
  /** History the version belongs to. */
  readonly epoch: string;
  /** View version after this message. */
  readonly version: number;
  /** True: `clusters` replaces the watcher's whole view. */
  readonly snapshot: boolean;
  /** Full view (snapshots only), cluster → endpoints sorted by id. */
  readonly clusters: ReadonlyMap<string, readonly ClusterEndpoint[]>;
  /** Changes to apply in order (deltas only). */
  readonly changes: readonly ClusterChange[];
  /** New routing config, when it changed for this watcher. */
  readonly config?: RoutingConfigVersion;
}

/** What a watcher asks for. */
export interface SubscribeRequest {
  /** Epoch of its last message ('' when new). */
  readonly epoch: string;
  /** Version of its last message (0 when new). */
  readonly lastVersion: number;
  /** Clusters wanted; empty = all. */
  readonly clusters: readonly string[];
  /** Routing config version held (0 = none). */
  readonly configVersion: number;
  /** Name for the admin page. */
  readonly watcherId: string;
}

/** A live subscription. */
export interface Subscription {
  /** Stops delivery. */
  close(): void;
}

/** What the admin page shows per watcher. */
export interface WatcherInfo {
  readonly watcherId: string;
  readonly clusters: readonly string[];
  /** Version of the last message sent. */
  readonly version: number;
  readonly configVersion: number;
}

interface Sub {
  readonly req: SubscribeRequest;
  readonly filter: ReadonlySet<string>;
  readonly send: (m: HubMessage) => void;
  version: number;
  configVersion: number;
}

interface Batch { readonly revision: number; readonly changes: readonly ClusterChange[] }

/** Options for the hub. */
export interface WatchHubOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /** Store writes remembered for resuming watchers (default 4096). */
  readonly historySize?: number;
}

/** Materialized view + history + fan-out over one store. */
export class WatchHub {
  /** Store history name; watchers' versions are only comparable within it. */
  epoch = '';
  /** Latest store revision applied. */
  revision = 0;
  /** Counters for metrics. */
  readonly stats = { snapshots: 0, resumes: 0, messages: 0, resyncs: 0 };
  private readonly view = new Map<string, StoredRecord>();
  private history: Batch[] = [];
  private floor = 0;
  private readonly subs = new Set<Sub>();
  private config: RoutingConfigVersion | undefined;
  private storeWatch: StoreWatch | undefined;
  private readonly clock: Clock;
  private readonly historySize: number;
  private closed = false;

  constructor(private readonly store: DiscoveryStore, private readonly opts: WatchHubOptions) {
    this.clock = opts.clock ?? systemClock;
    this.historySize = opts.historySize ?? 4096;
  }

  /** Loads the store's records and starts following its changes. */
  async start(): Promise<void> {
    this.load(await this.store.list());
  }

  /** Stops following the store and drops every subscriber. */
  close(): void {
    this.closed = true;
    this.storeWatch?.cancel();
    this.subs.clear();
  }

  /** The record stored under an endpoint id, as of the latest revision seen. */
  record(id: string): StoredRecord | undefined {
    return this.view.get(id);
  }

  /** Cluster → endpoints (sorted by id), optionally only some clusters. */
  clusters(filter: ReadonlySet<string> = new Set()): Map<string, ClusterEndpoint[]> {
    const out = new Map<string, ClusterEndpoint[]>();
    for (const { record } of this.view.values()) {
      for (const [cluster, ep] of clusterEndpoints(record)) {
        if (!wants(filter, cluster)) continue;
        let list = out.get(cluster);
        if (!list) out.set(cluster, (list = []));
        list.push(ep);
      }
    }
    for (const list of out.values()) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** Number of records in the view. */
  endpointCount(): number {
    return this.view.size;
  }

  /** Every subscriber, for the admin page. */
  watchers(): WatcherInfo[] {
    return [...this.subs].map((s) => ({ watcherId: s.req.watcherId, clusters: s.req.clusters, version: s.version, configVersion: s.configVersion }));
  }

  /** The routing config currently pushed to watchers. */
  currentConfig(): RoutingConfigVersion | undefined {
    return this.config;
  }

  /** Pushes a new routing config version to every watcher that lacks it. */
  setConfig(cfg: RoutingConfigVersion | undefined): void {
    this.config = cfg;
    if (!cfg) return;
    for (const s of this.subs) {
      if (s.configVersion === cfg.version) continue;
      s.configVersion = cfg.version;
      this.deliver(s, { epoch: this.epoch, version: s.version, snapshot: false, clusters: new Map(), changes: [], config: cfg });
    }
  }

  /**
   * Adds a watcher. Its first message is sent before this returns: the
   * changes since its version when the history still holds them, else a
   * snapshot. Precondition: start() resolved.
   */
  subscribe(req: SubscribeRequest, send: (m: HubMessage) => void): Subscription {
    const filter = new Set(req.clusters);
    const sub: Sub = { req, filter, send, version: req.lastVersion, configVersion: req.configVersion };
    // The first message always carries the config: replicas load their
    // files independently, so a version number from another replica (or an
    // earlier life of this one) does not prove the watcher holds this content.
    const config = this.config;
    if (config) sub.configVersion = config.version;
    const canResume = req.epoch === this.epoch && req.lastVersion >= this.floor && req.lastVersion <= this.revision;
    if (canResume) {
      const missed = this.history.filter((b) => b.revision > req.lastVersion).flatMap((b) => b.changes);
      const changes = coalesce(missed.filter((c) => wants(filter, c.cluster)));
      this.stats.resumes++;
      this.deliver(sub, { epoch: this.epoch, version: this.revision, snapshot: false, clusters: new Map(), changes, config });
    } else {
      this.stats.snapshots++;
      this.deliver(sub, { epoch: this.epoch, version: this.revision, snapshot: true, clusters: this.clusters(filter), changes: [], config });
    }
    this.subs.add(sub);
    return { close: () => this.subs.delete(sub) };
  }

  /** Replaces the view with a store snapshot and follows changes after it. */
  private load(snap: StoreSnapshot): void {
    const newEpoch = snap.epoch !== this.epoch;
    const next = new Map(snap.records.map((r) => [r.record.id, r]));
    if (newEpoch) {
      // A different history: nothing a watcher holds can be resumed.
      this.epoch = snap.epoch;
      this.view.clear();
      for (const [id, r] of next) this.view.set(id, r);
      this.history = [];
      this.floor = snap.revision;
      this.revision = snap.revision;
      for (const s of this.subs) {
        this.stats.snapshots++;
        this.deliver(s, { epoch: this.epoch, version: this.revision, snapshot: true, clusters: this.clusters(s.filter), changes: [] });
      }
    } else if (snap.revision > this.revision) {
      // Same history, but events were missed (compaction): send the net difference.
      const changes: ClusterChange[] = [];
      for (const id of new Set([...this.view.keys(), ...next.keys()])) {
        changes.push(...diffRecord(this.view.get(id)?.record, next.get(id)?.record));
        const r = next.get(id);
        if (r) this.view.set(id, r);
        else this.view.delete(id);
      }
      this.commit(snap.revision, changes);
    }
    this.storeWatch = this.store.watch(snap.revision, {
      onEvents: (events) => this.apply(events),
      onReset: (reason) => void this.resync(reason),
    });
  }

  private async resync(reason: string): Promise<void> {
    this.storeWatch?.cancel();
    this.stats.resyncs++;
    this.opts.log.warn('store watch reset; reloading the view', { reason, revision: this.revision });
    const backoff = new Backoff();
    while (!this.closed) {
      try {
        this.load(await this.store.list());
        return;
      } catch (e) {
        this.opts.log.warn('store list failed; retrying', { err: String(e) });
        await new Promise<void>((r) => this.clock.setTimeout(r, backoff.next()));
      }
    }
  }

  /** Applies store events (grouped per revision) to the view and fans them out. */
  private apply(events: readonly StoreEvent[]): void {
    let i = 0;
    while (i < events.length) {
      const revision = events[i].revision;
      const changes: ClusterChange[] = [];
      for (; i < events.length && events[i].revision === revision; i++) {
        const ev = events[i];
        if (ev.revision <= this.revision) continue; // replayed after a resync
        const prev = this.view.get(ev.id)?.record;
        if (ev.type === 'put' && ev.record) {
          this.view.set(ev.id, { record: ev.record, lease: ev.lease ?? '' });
          changes.push(...diffRecord(prev, ev.record));
        } else if (ev.type === 'delete') {
          this.view.delete(ev.id);
          changes.push(...diffRecord(prev, undefined));
        }
      }
      if (revision > this.revision) this.commit(revision, changes);
    }
  }

  private commit(revision: number, changes: ClusterChange[]): void {
    this.revision = revision;
    if (changes.length === 0) return;
    this.history.push({ revision, changes });
    if (this.history.length > this.historySize * 1.25) {
      const drop = this.history.length - this.historySize;
      this.floor = this.history[drop - 1].revision;
      this.history = this.history.slice(drop);
    }
    for (const s of [...this.subs]) {
      const mine = s.filter.size === 0 ? changes : changes.filter((c) => s.filter.has(c.cluster));
      if (mine.length === 0) continue;
      this.deliver(s, { epoch: this.epoch, version: revision, snapshot: false, clusters: new Map(), changes: mine });
    }
  }

  private deliver(s: Sub, m: HubMessage): void {
    s.version = m.version;
    this.stats.messages++;
    s.send(m);
  }
}
