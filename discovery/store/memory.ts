// The embedded store: zero setup, one process. Leases expire on the injected
// clock; a bounded history of writes lets watchers (through the hub) resume
// after a reconnect without a full resend. Its semantics copy etcd's so the
// two stores are interchangeable: one revision per write, a lease expiry or
// revoke deletes all its records in one write.
import { systemClock, systemRandom, type Clock, type Random, type TimerHandle } from '../../common/clock';
import type { DiscoveryStore, LeaseId, StoreEvent, StoredRecord, StoreSnapshot, StoreWatch, StoreWatchListener } from './store';
import type { EndpointRecord } from '../types';

/** Options for the in-memory store. */
export interface MemoryStoreOptions {
  /** Time source for lease expiry. */
  readonly clock?: Clock;
  /** Random source for the epoch name. */
  readonly random?: Random;
  /** Writes kept for resuming watches (default 4096). */
  readonly historySize?: number;
}

interface Lease {
  readonly id: LeaseId;
  readonly ttlMs: number;
  deadline: number;
  timer: TimerHandle;
  readonly ids: Set<string>;
}

/** An in-memory DiscoveryStore with leases and a bounded change history. */
export class MemoryStore implements DiscoveryStore {
  /** Random per instance: a restarted store is a new history. */
  readonly epoch: string;
  private readonly clock: Clock;
  private readonly historySize: number;
  private revision = 0;
  private nextLease = 1;
  private readonly records = new Map<string, StoredRecord>();
  private readonly leases = new Map<LeaseId, Lease>();
  /** One entry per write; holds every event with revision > floor. */
  private history: (readonly StoreEvent[])[] = [];
  private floor = 0;
  private readonly listeners = new Set<StoreWatchListener>();
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.historySize = opts.historySize ?? 4096;
    this.epoch = `mem-${Math.floor((opts.random ?? systemRandom)() * 2 ** 32)
      .toString(16)
      .padStart(8, '0')}`;
  }

  async grantLease(ttlMs: number): Promise<{ lease: LeaseId; ttlMs: number }> {
    const id = `${this.epoch}-${this.nextLease++}`;
    const lease: Lease = { id, ttlMs, deadline: this.clock.now() + ttlMs, timer: this.arm(id, ttlMs), ids: new Set() };
    this.leases.set(id, lease);
    return { lease: id, ttlMs };
  }

  async keepAlive(id: LeaseId): Promise<number | null> {
    const lease = this.leases.get(id);
    if (!lease) return null;
    // Only move the deadline: the timer re-arms itself when it fires early,
    // so a heartbeat costs no timer churn.
    lease.deadline = this.clock.now() + lease.ttlMs;
    return lease.ttlMs;
  }

  async revokeLease(id: LeaseId): Promise<void> {
    const lease = this.leases.get(id);
    if (!lease) return;
    this.clock.clearTimeout(lease.timer);
    this.dropLease(lease);
  }

  async put(record: EndpointRecord, leaseId: LeaseId): Promise<number | null> {
    const lease = this.leases.get(leaseId);
    if (!lease) return null;
    const prev = this.records.get(record.id);
    if (prev && prev.lease !== leaseId) this.leases.get(prev.lease)?.ids.delete(record.id);
    lease.ids.add(record.id);
    this.records.set(record.id, { record, lease: leaseId });
    return this.commit([{ revision: this.revision + 1, type: 'put', id: record.id, record, lease: leaseId }]);
  }

  async delete(id: string): Promise<number | null> {
    const prev = this.records.get(id);
    if (!prev) return null;
    this.leases.get(prev.lease)?.ids.delete(id);
    this.records.delete(id);
    return this.commit([{ revision: this.revision + 1, type: 'delete', id }]);
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    return this.records.get(id);
  }

  async list(): Promise<StoreSnapshot> {
    return { epoch: this.epoch, revision: this.revision, records: [...this.records.values()] };
  }

  watch(afterRevision: number, listener: StoreWatchListener): StoreWatch {
    let cancelled = false;
    // Replay on a microtask so the caller holds the handle before events
    // arrive; writes made meanwhile land in the history and are replayed too.
    queueMicrotask(() => {
      if (cancelled || this.closed) return;
      if (afterRevision < this.floor || afterRevision > this.revision) {
        listener.onReset(`revision ${afterRevision} is outside the history (${this.floor}..${this.revision})`);
        return;
      }
      for (const batch of this.history) if (batch[0].revision > afterRevision) listener.onEvents(batch);
      this.listeners.add(listener);
    });
    return {
      cancel: () => {
        cancelled = true;
        this.listeners.delete(listener);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const lease of this.leases.values()) this.clock.clearTimeout(lease.timer);
    this.leases.clear();
    this.listeners.clear();
  }

  /** Number of live leases (tests, metrics). */
  leaseCount(): number {
    return this.leases.size;
  }

  private arm(id: LeaseId, ms: number): TimerHandle {
    return this.clock.setTimeout(() => this.onTimer(id), ms);
  }

  private onTimer(id: LeaseId): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    const left = lease.deadline - this.clock.now();
    if (left > 0) lease.timer = this.arm(id, left);
    else this.dropLease(lease);
  }

  private dropLease(lease: Lease): void {
    this.leases.delete(lease.id);
    if (lease.ids.size === 0) return;
    const revision = this.revision + 1;
    const events: StoreEvent[] = [];
    for (const id of lease.ids) {
      this.records.delete(id);
      events.push({ revision, type: 'delete', id });
    }
    this.commit(events);
  }

  /** Applies one write's events to the history and fans them out. */
  private commit(events: StoreEvent[]): number {
    this.revision = events[0].revision;
    this.history.push(events);
    // Trim in chunks so a full history does not copy on every write.
    if (this.history.length > this.historySize * 1.25) {
      const drop = this.history.length - this.historySize;
      this.floor = this.history[drop - 1][0].revision;
      this.history = this.history.slice(drop);
    }
    for (const l of [...this.listeners]) l.onEvents(events);
    return this.revision;
  }
}
