// The etcd store, for several discovery replicas sharing one state. Records
// are JSON values under <prefix>ep/<id>, each bound to an etcd lease, so etcd
// itself deletes a dead sidecar's record when its lease runs out, whichever
// replica granted it. Revisions are etcd's: global across replicas, so a
// watcher can resume on replica B with a version it got from replica A.
//
// Expiry. etcd rounds TTLs up to whole seconds and clamps them to its
// minimum (1.5 x election timeout, 2 s with default flags); its lessor checks
// for expiry every 500 ms, so on its own a lease ends up to ~0.5 s (or a
// whole rounded-up second) after the TTL the sidecar asked for. So each
// replica enforces the TTL itself: every grant and every heartbeat writes
// <prefix>hb/<lease> = TTL in ms, bound to the lease; every replica watches
// hb/ and keeps a timer per lease at (when it saw the last hb write, by its
// own monotonic clock) + TTL + EXPIRY_GRACE_MS. When one fires, the replica
// asks etcd whether a newer hb write exists (its watch may lag) and if not
// revokes the lease, which deletes the records through etcd, so every
// replica's watchers see the removal at once. A heartbeat through any
// replica refreshes the timers on all of them, and receipt times are local,
// so clock skew between replicas does not matter. etcd's own expiry stays as
// the backstop when no replica runs. The cost is one small put per heartbeat.
import { Etcd3, type IDuplexStream, type IKeyValue, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse, type Watcher } from 'etcd3';
import { systemClock, systemRandom, type Clock, type Random, type TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/log';
import { Backoff } from '../../common/backoff';
import type { DiscoveryStore, LeaseId, StoreEvent, StoredRecord, StoreSnapshot, StoreWatch, StoreWatchListener } from './store';
import type { EndpointRecord } from '../types';

/** Options for the etcd store. */
export interface EtcdStoreOptions {
  /** etcd client URLs, e.g. http://127.0.0.1:2379. */
  readonly endpoints: readonly string[];
  /** Key prefix; several deployments can share one etcd (default /infergate/discovery/). */
  readonly prefix?: string;
  readonly log: Logger;
  /** Random source for the epoch name written on first use and retry jitter. */
  readonly random?: Random;
  /** Time source for the replica's lease timers (default: the process clock). */
  readonly clock?: Clock;
  /** Longest a keepalive waits for etcd's answer (ms, default 3000). */
  readonly keepAliveTimeoutMs?: number;
}

/**
 * Slack past a lease's TTL before a replica revokes it. A replica times a
 * lease from when it sees heartbeat k's hb write, and sees heartbeat k+1
 * only after it is relayed (an etcd put plus watch delivery, a few ms on
 * loopback). When that relay is slower for k+1 than it was for k, a
 * heartbeat that reached discovery inside the TTL could otherwise be judged
 * late; 40 ms covers a loaded host and still leaves the check and revoke
 * round trips inside the TTL + 100 ms target.
 */
export const EXPIRY_GRACE_MS = 40;

/** Wait before re-checking a lease whose expiry check failed (etcd unreachable); etcd's own expiry covers the gap. */
export const EXPIRY_RETRY_MS = 500;

interface Waiter { resolve(ttl: number | null): void; reject(e: Error): void }

/** A lease this replica times: the TTL, the hb write it timed from, and when its timer fires. */
interface LeaseTimer { readonly ttlMs: number; readonly revision: number; readonly at: number; readonly timer: TimerHandle }

/** A DiscoveryStore over etcd v3 (etcd 3.4+). */
export class EtcdStore implements DiscoveryStore {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly epPrefix: string;
  private readonly epochKey: string;
  /** One LeaseKeepAlive stream multiplexes every heartbeat this replica relays. */
  private keepAliveStream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse> | undefined;
  private opening: Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> | undefined;
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly hbPrefix: string;
  private readonly clock: Clock;
  /** Every lease with an hb key, as this replica last saw it. */
  private readonly timers = new Map<LeaseId, LeaseTimer>();
  private hbWatcher: Watcher | undefined;
  /** The hb watch's retry wait, cut short by close(). */
  private retryWait: { timer: TimerHandle; wake: () => void } | undefined;
  private closed = false;
  /** Counters for tests and the admin page. */
  readonly stats = {
    /** Leases this replica revoked because no heartbeat came within TTL + grace. */
    expiryRevokes: 0,
    /** Timers that fired for a lease already gone (another replica, or etcd, was first). */
    expiryAlreadyGone: 0,
    /** Timers that fired while etcd held a newer heartbeat than this replica's watch had delivered: re-armed. */
    expiryRearms: 0,
    /** Times the hb watch had to list and start again. */
    heartbeatWatchRestarts: 0,
  };

  constructor(private readonly opts: EtcdStoreOptions) {
    this.client = new Etcd3({ hosts: [...opts.endpoints], dialTimeout: 3000 });
    this.prefix = opts.prefix ?? '/infergate/discovery/';
    this.epPrefix = `${this.prefix}ep/`;
    this.hbPrefix = `${this.prefix}hb/`;
    this.epochKey = `${this.prefix}epoch`;
    this.clock = opts.clock ?? systemClock;
    void this.followHeartbeats();
  }

  /**
   * The etcd lease is the TTL rounded up to what etcd grants; the TTL the
   * sidecar is told (and the replicas enforce) is the one asked for, to the
   * millisecond. A timer can only shorten etcd's lease, never extend it.
   */
  async grantLease(ttlMs: number): Promise<{ lease: LeaseId; ttlMs: number }> {
    const res = await this.client.leaseClient.leaseGrant({ TTL: Math.max(1, Math.ceil(ttlMs / 1000)) });
    if (res.error) throw new Error(`etcd lease grant: ${res.error}`);
    const granted = Math.min(Number(res.TTL) * 1000, Math.max(1, Math.round(ttlMs)));
    try {
      const put = await this.client.put(this.hbPrefix + res.ID).value(String(granted)).lease(res.ID).exec();
      this.sawHeartbeat(res.ID, granted, Number(put.header.revision));
    } catch (e) {
      await this.revoke(res.ID).catch(() => undefined);
      throw e;
    }
    return { lease: res.ID, ttlMs: granted };
  }

  /** Renews etcd's lease and, in parallel, rewrites the lease's hb key so every replica restarts its timer. */
  async keepAlive(lease: LeaseId): Promise<number | null> {
    const [ttl, hb] = await Promise.all([this.renew(lease), this.touchHeartbeat(lease)]);
    return ttl === null ? null : hb ?? ttl;
  }

  /** Milliseconds until this replica's timer for a lease fires, or undefined when it times none (tests, admin page). */
  expiryIn(lease: LeaseId): number | undefined {
    const t = this.timers.get(lease);
    return t ? t.at - this.clock.now() : undefined;
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    await this.revoke(lease);
  }

  async put(record: EndpointRecord, lease: LeaseId): Promise<number | null> {
    try {
      const res = await this.client.put(this.epPrefix + record.id).value(JSON.stringify(record)).lease(lease).exec();
      return Number(res.header.revision);
    } catch (e) {
      if (/lease not found/i.test(String(e))) return null;
      throw e;
    }
  }

  async delete(id: string): Promise<number | null> {
    const res = await this.client.delete().key(this.epPrefix + id).exec();
    return Number(res.deleted) > 0 ? Number(res.header.revision) : null;
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const res = await this.client.get(this.epPrefix + id).exec();
    const kv = res.kvs[0];
    return kv ? this.decode(kv) : undefined;
  }

  async list(): Promise<StoreSnapshot> {
    const epoch = await this.epoch();
    const res = await this.client.getAll().prefix(this.epPrefix).exec();
    const records = res.kvs.map((kv) => this.decode(kv)).filter((r): r is StoredRecord => r !== undefined);
    return { epoch, revision: Number(res.header.revision), records };
  }

  watch(afterRevision: number, listener: StoreWatchListener): StoreWatch {
    let cancelled = false;
    let cancel: (() => Promise<void>) | undefined;
    // etcd3's watcher reconnects on its own and resumes after the last
    // revision it saw; it gives up ('error') only when etcd cancels the
    // watch, e.g. because the revision was compacted.
    this.client.watch().prefix(this.epPrefix).startRevision(String(afterRevision + 1)).create().then(
      (w) => {
        cancel = () => w.cancel();
        if (cancelled) return void w.cancel();
        w.on('data', (res) => {
          const events: StoreEvent[] = [];
          for (const ev of res.events) {
            const id = ev.kv.key.toString('utf8').slice(this.epPrefix.length);
            const revision = Number(ev.kv.mod_revision);
            if (ev.type === 'Delete') events.push({ revision, type: 'delete', id });
            else {
              const stored = this.decode(ev.kv);
              if (stored) events.push({ revision, type: 'put', id, record: stored.record, lease: stored.lease });
            }
          }
          if (events.length > 0 && !cancelled) listener.onEvents(events);
        });
        w.on('error', (e) => { if (!cancelled) listener.onReset(`etcd watch ended: ${String(e)}`); });
      },
      (e: unknown) => { if (!cancelled) listener.onReset(`etcd watch failed: ${String(e)}`); },
    );
    return {
      cancel: () => {
        cancelled = true;
        void cancel?.().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    void this.hbWatcher?.cancel().catch(() => undefined);
    if (this.retryWait) {
      this.clock.clearTimeout(this.retryWait.timer);
      this.retryWait.wake();
    }
    for (const t of this.timers.values()) this.clock.clearTimeout(t.timer);
    this.timers.clear();
    this.keepAliveStream?.end();
    this.failWaiters(new Error('etcd store closed'));
    this.client.close();
  }

  /** Revokes a lease; true if etcd still had it. */
  private async revoke(lease: LeaseId): Promise<boolean> {
    try {
      await this.client.leaseClient.leaseRevoke({ ID: lease });
    } catch (e) {
      if (!/lease not found/i.test(String(e))) throw e;
      this.forget(lease);
      return false;
    }
    this.forget(lease);
    return true;
  }

  /**
   * Rewrites hb/<lease> with its own value (etcd's ignore_value), so no
   * replica has to know the TTL to relay a heartbeat; the previous value
   * tells it. Resolves with the TTL (ms), or undefined when the lease is
   * gone (renew() reports that) or has no hb key: granted by a replica that
   * predates hb keys, so etcd's own expiry applies.
   */
  private async touchHeartbeat(lease: LeaseId): Promise<number | undefined> {
    try {
      const res = await this.client.kv.put({ key: Buffer.from(this.hbPrefix + lease), lease, ignore_value: true, prev_kv: true });
      const ttlMs = Number(res.prev_kv?.value.toString('utf8'));
      if (!(ttlMs > 0)) return undefined;
      this.sawHeartbeat(lease, ttlMs, Number(res.header.revision));
      return ttlMs;
    } catch (e) {
      if (/lease not found|key not found/i.test(String(e))) return undefined;
      throw e;
    }
  }

  /**
   * Follows hb/ for the life of the store: lists it, then watches from the
   * list's revision; lists again when the watch ends (compaction).
   * Leases found in the list are timed from when this replica read it: their
   * last heartbeat was earlier, so the timer is late by less than one TTL,
   * never early. (Using etcd's remaining TTL instead would cost an RPC per
   * lease and is whole seconds.) A live sidecar's next heartbeat re-times it.
   */
  private async followHeartbeats(): Promise<void> {
    const backoff = new Backoff({}, this.opts.random ?? systemRandom);
    while (!this.closed) {
      try {
        const res = await this.client.getAll().prefix(this.hbPrefix).exec();
        if (this.closed) return;
        const listed = Number(res.header.revision);
        const present = new Set<LeaseId>();
        for (const kv of res.kvs) present.add(this.onHeartbeatKey(kv));
        for (const [lease, t] of this.timers) if (!present.has(lease) && t.revision <= listed) this.forget(lease);
        const w = await this.client.watch().prefix(this.hbPrefix).startRevision(String(listed + 1)).create();
        if (this.closed) return void w.cancel().catch(() => undefined);
        this.hbWatcher = w;
        backoff.reset();
        const reason = await new Promise<string>((resolve) => {
          w.on('data', (r) => {
            for (const ev of r.events) {
              if (ev.type === 'Delete') this.forget(this.leaseOf(ev.kv));
              else this.onHeartbeatKey(ev.kv);
            }
          });
          w.on('error', (e) => resolve(String(e)));
        });
        this.hbWatcher = undefined;
        void w.cancel().catch(() => undefined);
        if (this.closed) return;
        this.stats.heartbeatWatchRestarts++;
        this.opts.log.warn('etcd heartbeat watch ended; listing again', { reason });
      } catch (e) {
        if (this.closed) return;
        this.opts.log.warn('etcd heartbeat watch failed; retrying', { err: String(e) });
        await new Promise<void>((wake) => (this.retryWait = { timer: this.clock.setTimeout(wake, backoff.next()), wake }));
        this.retryWait = undefined;
      }
    }
  }

  private leaseOf(kv: IKeyValue): LeaseId {
    return kv.key.toString('utf8').slice(this.hbPrefix.length);
  }

  /** Times a lease from an hb key read or watched; returns the lease. */
  private onHeartbeatKey(kv: IKeyValue): LeaseId {
    const lease = this.leaseOf(kv);
    const ttlMs = Number(kv.value.toString('utf8'));
    if (ttlMs > 0) this.sawHeartbeat(lease, ttlMs, Number(kv.mod_revision));
    return lease;
  }

  /** (Re)starts a lease's timer from now, unless it already runs from this hb write or a later one. */
  private sawHeartbeat(lease: LeaseId, ttlMs: number, revision: number): void {
    if (this.closed) return;
    const cur = this.timers.get(lease);
    if (cur && cur.revision >= revision) return;
    if (cur) this.clock.clearTimeout(cur.timer);
    const ms = ttlMs + EXPIRY_GRACE_MS;
    const timer = this.clock.setTimeout(() => void this.expire(lease, revision), ms);
    this.timers.set(lease, { ttlMs, revision, at: this.clock.now() + ms, timer });
  }

  private forget(lease: LeaseId): void {
    const cur = this.timers.get(lease);
    if (cur) this.clock.clearTimeout(cur.timer);
    this.timers.delete(lease);
  }

  /**
   * A lease's timer fired: no hb write reached this replica for TTL + grace.
   * The watch may lag (reconnecting, a slow stream), so etcd decides: a
   * linearizable read of the hb key; a newer write re-arms, none revokes.
   */
  private async expire(lease: LeaseId, revision: number): Promise<void> {
    const cur = this.timers.get(lease);
    if (!cur || cur.revision !== revision || this.closed) return;
    try {
      const kv = (await this.client.get(this.hbPrefix + lease).exec()).kvs[0];
      if (this.timers.get(lease) !== cur) return; // re-timed or forgotten meanwhile
      if (!kv) {
        this.forget(lease);
        this.stats.expiryAlreadyGone++;
      } else if (Number(kv.mod_revision) > revision) {
        this.stats.expiryRearms++;
        this.sawHeartbeat(lease, cur.ttlMs, Number(kv.mod_revision));
      } else if (await this.revoke(lease)) {
        this.stats.expiryRevokes++;
        this.opts.log.info('lease expired: no heartbeat within its TTL; revoked', { lease, ttl_ms: cur.ttlMs });
      } else {
        this.stats.expiryAlreadyGone++;
      }
    } catch (e) {
      if (this.closed) return;
      this.opts.log.warn('lease expiry check failed; etcd expires the lease if this replica cannot', { lease, err: String(e) });
      if (this.timers.get(lease) === cur) {
        const timer = this.clock.setTimeout(() => void this.expire(lease, revision), EXPIRY_RETRY_MS);
        this.timers.set(lease, { ...cur, at: this.clock.now() + EXPIRY_RETRY_MS, timer });
      }
    }
  }

  /** The epoch key's value, created on first use by whichever replica gets there first. */
  private async epoch(): Promise<string> {
    const fresh = `etcd-${Math.floor((this.opts.random ?? systemRandom)() * 2 ** 32).toString(16).padStart(8, '0')}`;
    await this.client.if(this.epochKey, 'Create', '==', 0).then(this.client.put(this.epochKey).value(fresh)).commit();
    return (await this.client.get(this.epochKey).string()) ?? fresh;
  }

  private decode(kv: IKeyValue): StoredRecord | undefined {
    try {
      return { record: JSON.parse(kv.value.toString('utf8')) as EndpointRecord, lease: kv.lease };
    } catch (e) {
      this.opts.log.warn('skipping an unreadable endpoint record in etcd', { key: kv.key.toString('utf8'), err: String(e) });
      return undefined;
    }
  }

  /** etcd's keepalive: the lease's etcd TTL (ms), or null when etcd no longer knows it. */
  private async renew(lease: LeaseId): Promise<number | null> {
    const stream = await this.keepAliveChannel();
    return new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.takeWaiter(lease, w);
        reject(new Error(`etcd keepalive for lease ${lease} timed out`));
      }, this.opts.keepAliveTimeoutMs ?? 3000);
      const w: Waiter = {
        resolve: (ttl) => { clearTimeout(timer); resolve(ttl); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      const queue = this.waiters.get(lease) ?? [];
      queue.push(w);
      this.waiters.set(lease, queue);
      stream.write({ ID: lease });
    });
  }

  private keepAliveChannel(): Promise<IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>> {
    if (this.keepAliveStream) return Promise.resolve(this.keepAliveStream);
    if (!this.opening) {
      this.opening = this.client.leaseClient.leaseKeepAlive().then((s) => {
        s.on('data', (res) => {
          const w = this.takeWaiter(res.ID);
          // etcd answers TTL 0 for a lease it does not know (expired or revoked).
          w?.resolve(Number(res.TTL) > 0 ? Number(res.TTL) * 1000 : null);
        });
        const broken = (e: Error) => {
          if (this.keepAliveStream === s) this.keepAliveStream = undefined;
          this.failWaiters(e);
        };
        s.on('error', broken);
        s.on('end', () => broken(new Error('etcd keepalive stream ended')));
        this.keepAliveStream = s;
        this.opening = undefined;
        return s;
      }, (e: unknown) => {
        this.opening = undefined;
        throw e;
      });
    }
    return this.opening;
  }

  /** Removes and returns the oldest waiter for a lease (or the given one). */
  private takeWaiter(lease: string, which?: Waiter): Waiter | undefined {
    const queue = this.waiters.get(lease);
    if (!queue) return undefined;
    const i = which ? queue.indexOf(which) : 0;
    const [w] = i >= 0 ? queue.splice(i, 1) : [];
    if (queue.length === 0) this.waiters.delete(lease);
    return w;
  }

  private failWaiters(e: Error): void {
    const all = [...this.waiters.values()].flat();
    this.waiters.clear();
    for (const w of all) w.reject(e);
  }
}
