// The hub between one store and many watchers. It keeps the materialized
// view (every record at the store's latest revision, with the routing
// config's static endpoints and overrides laid over it), turns store writes
// and config reloads into per-cluster changes, keeps a bounded history of
// them so a watcher that reconnects with its last version gets only what it
// missed, and fans each change out to the subscribers that watch its cluster.
//
// Versions: a config reload changes the view without a store write, so it
// needs versions the store does not number. A view version is
// store revision × VERSION_STEPS + reloads since that revision: versions stay
// comparable across replicas sharing one etcd (a watcher moves to another
// replica and resumes, provided the replicas read the same routing file).
//
// Warm-up (static stability across a restart): for warmUpMs after start()
// every message says partial. A memory store comes back empty, and even etcd
// may have let leases lapse while no replica was up; the sidecars are
// re-registering meanwhile. Watchers merge a partial snapshot instead of
// replacing their view (discovery/client/watcher-view.ts), so a restart
// shrinks nobody's view; when the warm-up ends each watcher gets one message
// with partial false and no changes, and drops what it kept that no sidecar
// re-registered (an endpoint that died while discovery was away).
import { systemClock, type Clock, type TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/log';
import { Backoff } from '../../common/backoff';
import { ChangeHistory } from './change-history';
import { clusterEndpoints, diffRecord, wants } from '../cluster-changes';
import { ConfigOverlay } from './config-overlay';
import type { DiscoveryStore, StoreEvent, StoredRecord, StoreSnapshot, StoreWatch } from '../store/store';
import type { ClusterChange, ClusterEndpoint, EndpointRecord, HubMessage, RoutingConfigVersion } from '../types';

/**
 * Config reloads that change the view, per store revision. Decimal so the
 * admin page reads: version 42001 = store revision 42, one reload since.
 * Running out (999 view-changing reloads with no store write between)
 * starts a new epoch: every watcher gets a snapshot.
 */
export const VERSION_STEPS = 1000;

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

/** Options for the hub. */
export interface WatchHubOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  /** Store writes remembered for resuming watchers (default 4096). */
  readonly historySize?: number;
  /** How long after start() the view counts as partial (ms, default 0: never; see the file comment). */
  readonly warmUpMs?: number;
}

/** Materialized view + history + fan-out over one store. */
export class WatchHub {
  /** History name; watchers' versions are only comparable within it. The store's epoch, suffixed after a rebase. */
  epoch = '';
  /** View version: the version watchers hold after the latest change (see VERSION_STEPS). */
  revision = 0;
  /** Counters for metrics. */
  readonly stats = { snapshots: 0, resumes: 0, messages: 0, resyncs: 0 };
  /** Registered records, as stored (before the overlay). */
  private readonly view = new Map<string, StoredRecord>();
  private readonly history: ChangeHistory;
  private readonly subs = new Set<Sub>();
  private config: RoutingConfigVersion | undefined;
  private overlay = ConfigOverlay.EMPTY;
  private storeEpoch = '';
  private storeRevision = 0;
  /** Config reloads applied since storeRevision. */
  private step = 0;
  private rebases = 0;
  private loaded = false;
  private storeWatch: StoreWatch | undefined;
  private readonly clock: Clock;
  private closed = false;
  /** Within the warm-up: messages say partial. */
  private warming = false;
  private warmUpTimer: TimerHandle | undefined;

  constructor(
    private readonly store: DiscoveryStore,
    private readonly opts: WatchHubOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.history = new ChangeHistory(opts.historySize ?? 4096);
  }

  /** Loads the store's records and starts following its changes; the warm-up starts now. */
  async start(): Promise<void> {
    const warmUpMs = this.opts.warmUpMs ?? 0;
    this.warming = warmUpMs > 0;
    this.load(await this.store.list());
    if (!this.warming || this.closed) return;
    this.warmUpTimer = this.clock.setTimeout(() => this.endWarmUp(), warmUpMs);
    this.clock.unref(this.warmUpTimer);
  }

  /** True within the warm-up: the view may lack endpoints that are alive and re-registering. */
  get partial(): boolean {
    return this.warming;
  }

  /** Stops following the store and drops every subscriber. */
  close(): void {
    this.closed = true;
    if (this.warmUpTimer) this.clock.clearTimeout(this.warmUpTimer);
    this.storeWatch?.cancel();
    this.subs.clear();
  }

  /** The record stored under an endpoint id (without config overrides), as of the latest revision seen. */
  record(id: string): StoredRecord | undefined {
    return this.view.get(id);
  }

  /** Cluster → endpoints (sorted by id) as watchers see them, optionally only some clusters. */
  clusters(filter: ReadonlySet<string> = new Set()): Map<string, ClusterEndpoint[]> {
    const out = new Map<string, ClusterEndpoint[]>();
    for (const id of this.ids()) {
      for (const [cluster, ep] of clusterEndpoints(this.effective(id)!)) {
        if (!wants(filter, cluster)) continue;
        let list = out.get(cluster);
        if (!list) out.set(cluster, (list = []));
        list.push(ep);
      }
    }
    for (const list of out.values()) list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** Number of endpoints in the view (registered and static). */
  endpointCount(): number {
    let n = this.view.size;
    for (const id of this.overlay.staticIds()) if (!this.view.has(id)) n++;
    return n;
  }

  /** Every subscriber, for the admin page. */
  watchers(): WatcherInfo[] {
    return [...this.subs].map((s) => ({
      watcherId: s.req.watcherId,
      clusters: s.req.clusters,
      version: s.version,
      configVersion: s.configVersion,
    }));
  }

  /** The routing config currently pushed to watchers. */
  currentConfig(): RoutingConfigVersion | undefined {
    return this.config;
  }

  /**
   * Applies a routing config version: its static endpoints and overrides
   * change the view (as one delta at the next version), and the config goes
   * to every watcher that lacks it, in the same message. Before start() it
   * only sets what start() builds the view with.
   */
  setConfig(cfg: RoutingConfigVersion | undefined): void {
    this.config = cfg;
    const next = ConfigOverlay.fromConfig(cfg);
    if (!this.loaded) {
      this.overlay = next;
      return;
    }
    const changes = this.changesOf([...this.ids(), ...next.staticIds()], () => (this.overlay = next));
    if (changes.length > 0 && this.step + 1 >= VERSION_STEPS) {
      this.rebases++;
      this.reset(`${this.storeEpoch}~${this.rebases}`, this.storeRevision);
      return;
    }
    if (changes.length > 0) this.step++;
    this.publish(this.storeRevision * VERSION_STEPS + this.step, changes, cfg);
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
    const changes = req.epoch === this.epoch ? this.history.since(req.lastVersion, this.revision, filter) : undefined;
    if (changes) {
      this.stats.resumes++;
      this.deliver(sub, { epoch: this.epoch, version: this.revision, snapshot: false, clusters: new Map(), changes, config });
    } else {
      this.stats.snapshots++;
      this.deliver(sub, {
        epoch: this.epoch,
        version: this.revision,
        snapshot: true,
        clusters: this.clusters(filter),
        changes: [],
        config,
      });
    }
    this.subs.add(sub);
    return { close: () => this.subs.delete(sub) };
  }

  /** Replaces the view with a store snapshot and follows changes after it. */
  private load(snap: StoreSnapshot): void {
    const next = new Map(snap.records.map((r) => [r.record.id, r]));
    if (snap.epoch !== this.storeEpoch) {
      // A different history: nothing a watcher holds can be resumed.
      this.storeEpoch = snap.epoch;
      this.rebases = 0;
      this.view.clear();
      for (const [id, r] of next) this.view.set(id, r);
      this.loaded = true;
      this.reset(snap.epoch, snap.revision);
    } else if (snap.revision > this.storeRevision) {
      // Same history, but events were missed (compaction): send the net difference.
      const changes = this.changesOf([...this.ids(), ...next.keys()], () => {
        this.view.clear();
        for (const [id, r] of next) this.view.set(id, r);
      });
      this.commitStore(snap.revision, changes);
    }
    this.storeWatch = this.store.watch(snap.revision, {
      onEvents: (events) => this.apply(events),
      onReset: (reason) => void this.resync(reason),
    });
  }

  private async resync(reason: string): Promise<void> {
    this.storeWatch?.cancel();
    this.stats.resyncs++;
    this.opts.log.warn('store watch reset; reloading the view', { reason, revision: this.storeRevision });
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
        if (ev.revision <= this.storeRevision) continue; // replayed after a resync
        if (ev.type === 'put' && ev.record) {
          const stored = { record: ev.record, lease: ev.lease ?? '' };
          changes.push(...this.changesOf([ev.id], () => this.view.set(ev.id, stored)));
        } else if (ev.type === 'delete') {
          changes.push(...this.changesOf([ev.id], () => this.view.delete(ev.id)));
        }
      }
      if (revision > this.storeRevision) this.commitStore(revision, changes);
    }
  }

  /** Every endpoint id in the view: registered, then static ones no registration shadows. */
  private *ids(): IterableIterator<string> {
    yield* this.view.keys();
    for (const id of this.overlay.staticIds()) if (!this.view.has(id)) yield id;
  }

  /** An endpoint as watchers see it. */
  private effective(id: string): EndpointRecord | undefined {
    return this.overlay.effective(id, this.view.get(id)?.record);
  }

  /** The changes watchers see when `mutate` alters the view; `ids` must name every id it may touch. */
  private changesOf(ids: Iterable<string>, mutate: () => void): ClusterChange[] {
    const before = new Map<string, EndpointRecord | undefined>();
    for (const id of ids) before.set(id, this.effective(id));
    mutate();
    const out: ClusterChange[] = [];
    for (const [id, prev] of before) out.push(...diffRecord(prev, this.effective(id)));
    return out;
  }

  /** Starts a new history at a store revision: every watcher gets a snapshot (with the config, if it lacks it). */
  private reset(epoch: string, storeRevision: number): void {
    this.epoch = epoch;
    this.storeRevision = storeRevision;
    this.step = 0;
    this.revision = storeRevision * VERSION_STEPS;
    this.history.reset(this.revision);
    const cfg = this.config;
    for (const s of this.subs) {
      const config = cfg && s.configVersion !== cfg.version ? cfg : undefined;
      if (config) s.configVersion = config.version;
      this.stats.snapshots++;
      this.deliver(s, {
        epoch: this.epoch,
        version: this.revision,
        snapshot: true,
        clusters: this.clusters(s.filter),
        changes: [],
        config,
      });
    }
  }

  private commitStore(storeRevision: number, changes: ClusterChange[]): void {
    this.storeRevision = storeRevision;
    this.step = 0;
    this.publish(storeRevision * VERSION_STEPS, changes);
  }

  /** Records changes at a version and sends each watcher its share, with the config when it lacks that version. */
  private publish(version: number, changes: ClusterChange[], cfg?: RoutingConfigVersion): void {
    this.revision = version;
    if (changes.length > 0) this.history.push(version, changes);
    for (const s of [...this.subs]) {
      const mine = s.filter.size === 0 ? changes : changes.filter((c) => s.filter.has(c.cluster));
      const config = cfg && s.configVersion !== cfg.version ? cfg : undefined;
      if (mine.length === 0 && !config) continue;
      if (config) s.configVersion = config.version;
      this.deliver(s, { epoch: this.epoch, version, snapshot: false, clusters: new Map(), changes: mine, config });
    }
  }

  /** The warm-up is over: the view is complete; every watcher hears so (and drops what nobody re-registered). */
  private endWarmUp(): void {
    this.warmUpTimer = undefined;
    if (this.closed || !this.warming) return;
    this.warming = false;
    this.opts.log.info('discovery warm-up over; the view is complete', { endpoints: this.endpointCount(), watchers: this.subs.size });
    for (const s of [...this.subs]) {
      this.deliver(s, { epoch: this.epoch, version: this.revision, snapshot: false, clusters: new Map(), changes: [], partial: false });
    }
  }

  /** Sends m, marked partial while the warm-up lasts unless it says otherwise. */
  private deliver(s: Sub, m: Omit<HubMessage, 'partial'> & { readonly partial?: boolean }): void {
    s.version = m.version;
    this.stats.messages++;
    s.send({ ...m, partial: m.partial ?? this.warming });
  }
}
