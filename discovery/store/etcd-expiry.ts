// The etcd store's own lease expiry, apart from the records it guards
// (etcd.ts), so the timing can be read, and tested on a fake clock, alone.
//
// etcd rounds TTLs up to whole seconds and clamps them to its minimum (1.5 x
// election timeout, 2 s with default flags); its lessor checks for expiry
// every 500 ms, so on its own a lease ends up to ~0.5 s (or a whole
// rounded-up second) after the TTL the sidecar asked for. So each replica
// enforces the TTL itself: every grant and every heartbeat writes
// <prefix>hb/<lease> = TTL in ms, bound to the lease; every replica watches
// hb/ and keeps a timer per lease at (when it saw the last hb write, by its
// own monotonic clock) + TTL + EXPIRY_GRACE_MS. When one fires, the replica
// asks etcd whether a newer hb write exists (its watch may lag) and if not
// revokes the lease, which deletes the records through etcd, so every
// replica's watchers see the removal at once. A heartbeat through any
// replica refreshes the timers on all of them, and receipt times are local,
// so clock skew between replicas does not matter. etcd's own expiry stays as
// the backstop when no replica runs. The cost is one small put per heartbeat.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Clock, Random, TimerHandle } from '../../common/clock';
import type { Logger } from '../../common/log';
import { Backoff } from '../../common/backoff';
import type { LeaseId } from './store';

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

/** What the expiry needs from the store that owns it. */
export interface LeaseExpiryOptions {
  /** The store's etcd client (shared: one connection per replica). */
  readonly client: Etcd3;
  /** Key prefix of the hb keys, <prefix>hb/. */
  readonly hbPrefix: string;
  readonly log: Logger;
  /** Time source for the lease timers and the hb watch's retry wait. */
  readonly clock: Clock;
  /** Retry jitter. */
  readonly random: Random;
  /** Revokes a lease through etcd, calling forget(); true if etcd still had it. */
  readonly revoke: (lease: LeaseId) => Promise<boolean>;
}

/** A lease this replica times: the TTL, the hb write it timed from, and when its timer fires. */
interface LeaseTimer {
  readonly ttlMs: number;
  readonly revision: number;
  readonly at: number;
  readonly timer: TimerHandle;
}

/** Counters for tests and the admin page. */
export interface LeaseExpiryStats {
  /** Leases this replica revoked because no heartbeat came within TTL + grace. */
  expiryRevokes: number;
  /** Timers that fired for a lease already gone (another replica, or etcd, was first). */
  expiryAlreadyGone: number;
  /** Timers that fired while etcd held a newer heartbeat than this replica's watch had delivered: re-armed. */
  expiryRearms: number;
  /** Times the hb watch had to list and start again. */
  heartbeatWatchRestarts: number;
}

/** One replica's timers for every lease with an hb key, fed by its own writes and by the hb watch. */
export class LeaseExpiry {
  readonly stats: LeaseExpiryStats = { expiryRevokes: 0, expiryAlreadyGone: 0, expiryRearms: 0, heartbeatWatchRestarts: 0 };
  private readonly client: Etcd3;
  private readonly hbPrefix: string;
  private readonly clock: Clock;
  /** Every lease with an hb key, as this replica last saw it. */
  private readonly timers = new Map<LeaseId, LeaseTimer>();
  private hbWatcher: Watcher | undefined;
  /** The hb watch's retry wait, cut short by close(). */
  private retryWait: { timer: TimerHandle; wake: () => void } | undefined;
  private closed = false;

  constructor(private readonly opts: LeaseExpiryOptions) {
    this.client = opts.client;
    this.hbPrefix = opts.hbPrefix;
    this.clock = opts.clock;
    void this.followHeartbeats();
  }

  /** Writes a new lease's hb key (its TTL, bound to it) and starts this replica's timer for it. */
  async track(lease: LeaseId, ttlMs: number): Promise<void> {
    const put = await this.client
      .put(this.hbPrefix + lease)
      .value(String(ttlMs))
      .lease(lease)
      .exec();
    this.sawHeartbeat(lease, ttlMs, Number(put.header.revision));
  }

  /**
   * Rewrites hb/<lease> with its own value (etcd's ignore_value), so no
   * replica has to know the TTL to relay a heartbeat; the previous value
   * tells it. Resolves with the TTL (ms), or undefined when the lease is
   * gone (the keepalive reports that) or has no hb key: granted by a replica
   * that predates hb keys, so etcd's own expiry applies.
   */
  async touch(lease: LeaseId): Promise<number | undefined> {
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

  /** Milliseconds until this replica's timer for a lease fires, or undefined when it times none. */
  expiryIn(lease: LeaseId): number | undefined {
    const t = this.timers.get(lease);
    return t ? t.at - this.clock.now() : undefined;
  }

  /** Stops timing a lease (revoked, or its hb key deleted). */
  forget(lease: LeaseId): void {
    const cur = this.timers.get(lease);
    if (cur) this.clock.clearTimeout(cur.timer);
    this.timers.delete(lease);
  }

  /** Stops the hb watch and every timer; leases are left to etcd. */
  close(): void {
    this.closed = true;
    void this.hbWatcher?.cancel().catch(() => undefined);
    if (this.retryWait) {
      this.clock.clearTimeout(this.retryWait.timer);
      this.retryWait.wake();
    }
    for (const t of this.timers.values()) this.clock.clearTimeout(t.timer);
    this.timers.clear();
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
    const backoff = new Backoff({}, this.opts.random);
    while (!this.closed) {
      try {
        const res = await this.client.getAll().prefix(this.hbPrefix).exec();
        if (this.closed) return;
        const listed = Number(res.header.revision);
        const present = new Set<LeaseId>();
        for (const kv of res.kvs) present.add(this.onHeartbeatKey(kv));
        for (const [lease, t] of this.timers) if (!present.has(lease) && t.revision <= listed) this.forget(lease);
        const w = await this.client
          .watch()
          .prefix(this.hbPrefix)
          .startRevision(String(listed + 1))
          .create();
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
      } else if (await this.opts.revoke(lease)) {
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
}
