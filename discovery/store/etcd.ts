// The etcd store, for several discovery replicas sharing one state. Records
// are JSON values under <prefix>ep/<id>, each bound to an etcd lease, so etcd
// itself deletes a dead sidecar's record when its lease runs out, whichever
// replica granted it. Revisions are etcd's: global across replicas, so a
// watcher can resume on replica B with a version it got from replica A.
//
// Expiry: each replica also enforces the TTL the sidecar asked for, to the
// millisecond, rather than leave it to etcd's rounded-up leases; that lives
// in etcd-expiry.ts. This file holds the records, their watch and the
// keepalive stream.
import { Etcd3, type IDuplexStream, type IKeyValue, type ILeaseKeepAliveRequest, type ILeaseKeepAliveResponse } from 'etcd3';
import { systemClock, systemRandom, type Clock, type Random } from '../../common/clock';
import type { Logger } from '../../common/log';
import { LeaseExpiry, type LeaseExpiryStats } from './etcd-expiry';
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
  /** Time source for the replica's lease timers and keepalive timeouts (default: the process clock). */
  readonly clock?: Clock;
  /** Longest a keepalive waits for etcd's answer (ms, default 3000). */
  readonly keepAliveTimeoutMs?: number;
}

interface Waiter {
  resolve(ttl: number | null): void;
  reject(e: Error): void;
}

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
  private readonly clock: Clock;
  /** This replica's timers for every lease with an hb key. */
  private readonly expiry: LeaseExpiry;
  /** The expiry's counters, for tests and the admin page. */
  readonly stats: LeaseExpiryStats;

  constructor(private readonly opts: EtcdStoreOptions) {
    this.client = new Etcd3({ hosts: [...opts.endpoints], dialTimeout: 3000 });
    this.prefix = opts.prefix ?? '/infergate/discovery/';
    this.epPrefix = `${this.prefix}ep/`;
    this.epochKey = `${this.prefix}epoch`;
    this.clock = opts.clock ?? systemClock;
    this.expiry = new LeaseExpiry({
      client: this.client,
      hbPrefix: `${this.prefix}hb/`,
      log: opts.log,
      clock: this.clock,
      random: opts.random ?? systemRandom,
      revoke: (lease) => this.revoke(lease),
    });
    this.stats = this.expiry.stats;
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
      await this.expiry.track(res.ID, granted);
    } catch (e) {
      await this.revoke(res.ID).catch(() => undefined);
      throw e;
    }
    return { lease: res.ID, ttlMs: granted };
  }

  /** Renews etcd's lease and, in parallel, rewrites the lease's hb key so every replica restarts its timer. */
  async keepAlive(lease: LeaseId): Promise<number | null> {
    const [ttl, hb] = await Promise.all([this.renew(lease), this.expiry.touch(lease)]);
    return ttl === null ? null : (hb ?? ttl);
  }

  /** Milliseconds until this replica's timer for a lease fires, or undefined when it times none (tests, admin page). */
  expiryIn(lease: LeaseId): number | undefined {
    return this.expiry.expiryIn(lease);
  }

  async revokeLease(lease: LeaseId): Promise<void> {
    await this.revoke(lease);
  }

  async put(record: EndpointRecord, lease: LeaseId): Promise<number | null> {
    try {
      const res = await this.client
        .put(this.epPrefix + record.id)
        .value(JSON.stringify(record))
        .lease(lease)
        .exec();
      return Number(res.header.revision);
    } catch (e) {
      if (/lease not found/i.test(String(e))) return null;
      throw e;
    }
  }

  async delete(id: string): Promise<number | null> {
    const res = await this.client
      .delete()
      .key(this.epPrefix + id)
      .exec();
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
    this.client
      .watch()
      .prefix(this.epPrefix)
      .startRevision(String(afterRevision + 1))
      .create()
      .then(
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
          w.on('error', (e) => {
            if (!cancelled) listener.onReset(`etcd watch ended: ${String(e)}`);
          });
        },
        (e: unknown) => {
          if (!cancelled) listener.onReset(`etcd watch failed: ${String(e)}`);
        },
      );
    return {
      cancel: () => {
        cancelled = true;
        void cancel?.().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    this.expiry.close();
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
      this.expiry.forget(lease);
      return false;
    }
    this.expiry.forget(lease);
    return true;
  }

  /** The epoch key's value, created on first use by whichever replica gets there first. */
  private async epoch(): Promise<string> {
    const fresh = `etcd-${Math.floor((this.opts.random ?? systemRandom)() * 2 ** 32)
      .toString(16)
      .padStart(8, '0')}`;
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
      const timer = this.clock.setTimeout(() => {
        this.takeWaiter(lease, w);
        reject(new Error(`etcd keepalive for lease ${lease} timed out`));
      }, this.opts.keepAliveTimeoutMs ?? 3000);
      const w: Waiter = {
        resolve: (ttl) => {
          this.clock.clearTimeout(timer);
          resolve(ttl);
        },
        reject: (e) => {
          this.clock.clearTimeout(timer);
          reject(e);
        },
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
      this.opening = this.client.leaseClient.leaseKeepAlive().then(
        (s) => {
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
        },
        (e: unknown) => {
          this.opening = undefined;
          throw e;
        },
      );
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
