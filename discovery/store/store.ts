// The discovery store: endpoint records bound to leases, listed and watched
// by revision. One concern only: durable-enough shared state. Cluster
// grouping, fan-out to watchers and the wire format live above it
// (discovery/server/watch-hub.ts, discovery/server/service.ts), so a new backend implements only this file's
// interface. Two backends: memory.ts (default, one process) and
// etcd.ts (several discovery replicas sharing one etcd).
import type { EndpointRecord } from '../types';

/** A lease id (etcd's int64 as a decimal string; any string for memory). */
export type LeaseId = string;

/** One change to one record, at the store revision that made it. */
export interface StoreEvent {
  /** Revision of the write; grows within an epoch, not necessarily by 1. */
  readonly revision: number;
  /** put = created or replaced; delete = removed (deregistered or lease expired). */
  readonly type: 'put' | 'delete';
  /** Endpoint id. */
  readonly id: string;
  /** The record written (put only). */
  readonly record?: EndpointRecord;
  /** Lease the record is bound to (put only). */
  readonly lease?: LeaseId;
}

/** A record with the lease keeping it alive. */
export interface StoredRecord {
  /** The record. */
  readonly record: EndpointRecord;
  /** Its lease. */
  readonly lease: LeaseId;
}

/** Everything at one revision. */
export interface StoreSnapshot {
  /** Names the history revisions belong to; changes when the data is lost. */
  readonly epoch: string;
  /** Revision of the snapshot: a watch from here misses nothing. */
  readonly revision: number;
  /** Every live record. */
  readonly records: readonly StoredRecord[];
}

/** Receives the changes of a store watch. */
export interface StoreWatchListener {
  /** Changes in revision order; events of one write arrive together. */
  onEvents(events: readonly StoreEvent[]): void;
  /**
   * The watch cannot continue (history compacted, connection lost for good):
   * the caller must list() again and watch from the new revision.
   */
  onReset(reason: string): void;
}

/** A running store watch. */
export interface StoreWatch {
  /** Stops delivering events. */
  cancel(): void;
}

/** The store interface every backend implements. */
export interface DiscoveryStore {
  /** Grants a lease that expires ttlMs after its last keepAlive; resolves with its id and the TTL granted. */
  grantLease(ttlMs: number): Promise<{ lease: LeaseId; ttlMs: number }>;
  /** Refreshes a lease; resolves with the TTL left, or null when the lease is unknown or expired. */
  keepAlive(lease: LeaseId): Promise<number | null>;
  /** Revokes a lease, deleting every record bound to it; unknown leases are ignored. */
  revokeLease(lease: LeaseId): Promise<void>;
  /** Writes a record bound to a live lease (rebinding it if it had another); resolves with the revision, or null if the lease is gone. */
  put(record: EndpointRecord, lease: LeaseId): Promise<number | null>;
  /** Deletes one record (its lease stays); resolves with the revision, or null if there was none. */
  delete(id: string): Promise<number | null>;
  /** Reads one record. */
  get(id: string): Promise<StoredRecord | undefined>;
  /** Every live record at one revision. */
  list(): Promise<StoreSnapshot>;
  /** Delivers every change after `afterRevision` (as returned by list()). */
  watch(afterRevision: number, listener: StoreWatchListener): StoreWatch;
  /** Releases connections and timers. Leases are left to expire. */
  close(): Promise<void>;
}
