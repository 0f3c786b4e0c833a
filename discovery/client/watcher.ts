// The balancer-side watch client. Static stability first: the view only
// changes on messages from discovery, never because discovery went away. A
// broken stream leaves the last view in place, and the watcher reconnects
// with backoff (rotating through the discovery addresses given), presenting
// its epoch and version so the server can send only what it missed.
import type * as grpc from '@grpc/grpc-js';
import { systemClock, systemRandom, type Clock, type Random, type TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/log';
import { Status } from '../../protocol/status';
import type { WatchResponse__Output } from '../../proto/gen/infergate/discovery/v1/WatchResponse';
import { Backoff, type BackoffOptions } from '../../common/backoff';
import type { ClusterChange, RoutingConfigVersion } from '../types';
import { applyWatchResponse, EMPTY_VIEW, type DiscoveryView } from './watcher-view';
import { discoveryClient, type DiscoveryClient } from '../wire';

export type { DiscoveryView } from './watcher-view';

/** Connection state: synced = stream open and the first message applied. */
export type WatcherState = 'connecting' | 'synced' | 'disconnected' | 'stopped';

/** One applied message. */
export interface ViewUpdate {
  /** The view after it. */
  readonly view: DiscoveryView;
  /** Endpoint changes in order (may be empty, e.g. a resume that missed nothing). */
  readonly changes: readonly ClusterChange[];
  /** True when it was a full snapshot rather than a delta. */
  readonly snapshot: boolean;
}

/** Options for a watcher. */
export interface WatcherOptions {
  /** Discovery address(es): host:port[,host:port...]; tried in turn. */
  readonly discovery: string;
  /** Clusters (models) to watch; empty or absent = all. */
  readonly clusters?: readonly string[];
  /** Name shown on discovery's admin page. */
  readonly watcherId?: string;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly backoff?: BackoffOptions;
}

/** Watches discovery and keeps the latest view. */
export class DiscoveryWatcher {
  private current: DiscoveryView = EMPTY_VIEW;
  private st: WatcherState = 'connecting';
  private readonly addresses: string[];
  private next = 0;
  private readonly clients = new Map<string, DiscoveryClient>();
  private call: grpc.ClientReadableStream<WatchResponse__Output> | undefined;
  private timer: TimerHandle | undefined;
  private readonly backoff: Backoff;
  private readonly clock: Clock;
  private readonly updateCbs = new Set<(u: ViewUpdate) => void>();
  private readonly configCbs = new Set<(c: RoutingConfigVersion) => void>();
  private readonly stateCbs = new Set<(s: WatcherState) => void>();

  constructor(private readonly opts: WatcherOptions) {
    this.addresses = opts.discovery
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (this.addresses.length === 0) throw new Error('discovery address is empty; expected host:port[,host:port...]');
    this.clock = opts.clock ?? systemClock;
    this.backoff = new Backoff(opts.backoff, opts.random ?? systemRandom);
  }

  /** The latest view (immutable; kept while discovery is unreachable). */
  view(): DiscoveryView {
    return this.current;
  }

  /** Connection state. */
  get state(): WatcherState {
    return this.st;
  }

  /** Calls cb after every applied message; returns an unsubscribe function. */
  onUpdate(cb: (u: ViewUpdate) => void): () => void {
    this.updateCbs.add(cb);
    return () => this.updateCbs.delete(cb);
  }

  /** Calls cb when the routing config version changes; returns an unsubscribe function. */
  onConfig(cb: (c: RoutingConfigVersion) => void): () => void {
    this.configCbs.add(cb);
    return () => this.configCbs.delete(cb);
  }

  /** Calls cb on every state change; returns an unsubscribe function. */
  onState(cb: (s: WatcherState) => void): () => void {
    this.stateCbs.add(cb);
    return () => this.stateCbs.delete(cb);
  }

  /** Opens the first stream. Returns at once: nothing waits on discovery. */
  start(): void {
    this.connect();
  }

  /** Closes the stream and stops reconnecting; the view stays readable. */
  stop(): void {
    this.setState('stopped');
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.call?.cancel();
    this.call = undefined;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private connect(): void {
    if (this.st === 'stopped') return;
    const address = this.addresses[this.next % this.addresses.length];
    let client = this.clients.get(address);
    if (!client) this.clients.set(address, (client = discoveryClient(address)));
    const v = this.current;
    const call = client.Watch({
      epoch: v.epoch,
      last_version: v.version,
      clusters: [...(this.opts.clusters ?? [])],
      config_version: v.config?.version ?? 0,
      watcher_id: this.opts.watcherId ?? '',
    });
    this.call = call;
    let ended = false;
    const end = (why: string) => {
      if (ended || this.call !== call) return;
      ended = true;
      this.call = undefined;
      this.retry(address, why);
    };
    call.on('data', (msg: WatchResponse__Output) => {
      if (this.call !== call) return;
      this.backoff.reset();
      this.apply(msg);
      if (this.st !== 'synced') {
        this.opts.log.info('discovery watch synced', { address, version: msg.version, snapshot: msg.snapshot, partial: msg.partial });
        this.setState('synced');
      }
    });
    call.on('error', (e: grpc.ServiceError) =>
      end(e.code === Status.CANCELLED ? 'cancelled' : `${Status[e.code] ?? e.code}: ${e.details}`),
    );
    call.on('end', () => end('stream ended'));
  }

  private retry(address: string, why: string): void {
    if (this.st === 'stopped') return;
    const delay = this.backoff.next();
    if (this.st !== 'disconnected') {
      this.opts.log.warn('discovery watch lost; keeping the last view and reconnecting', {
        address,
        reason: why,
        version: this.current.version,
      });
      this.setState('disconnected');
    }
    this.next++;
    this.timer = this.clock.setTimeout(() => this.connect(), delay);
  }

  private apply(msg: WatchResponse__Output): void {
    const a = applyWatchResponse(this.current, msg);
    this.current = a.view;
    const u: ViewUpdate = { view: a.view, changes: a.changes, snapshot: msg.snapshot };
    for (const cb of this.updateCbs) cb(u);
    if (a.configChanged && a.view.config) for (const cb of this.configCbs) cb(a.view.config);
  }

  private setState(s: WatcherState): void {
    if (this.st === s) return;
    this.st = s;
    for (const cb of this.stateCbs) cb(s);
  }
}
