// The hub's bounded memory of published changes, so a watcher that
// reconnects with its last version gets only what it missed. Trimmed in
// chunks so a full history does not copy on every publish.
import { coalesce, wants } from '../cluster-changes';
import type { ClusterChange } from '../types';

interface Batch {
  readonly version: number;
  readonly changes: readonly ClusterChange[];
}

/** Change batches by view version, the newest `size` kept. */
export class ChangeHistory {
  private batches: Batch[] = [];
  /** Every batch with a version above this is held. */
  private floor = 0;

  constructor(private readonly size: number) {}

  /** Forgets everything: only versions from `floor` on can be resumed. */
  reset(floor: number): void {
    this.batches = [];
    this.floor = floor;
  }

  /** Records one batch; versions must grow. */
  push(version: number, changes: readonly ClusterChange[]): void {
    this.batches.push({ version, changes });
    if (this.batches.length > this.size * 1.25) {
      const drop = this.batches.length - this.size;
      this.floor = this.batches[drop - 1].version;
      this.batches = this.batches.slice(drop);
    }
  }

  /**
   * The net changes after `version` up to `latest`, for one cluster filter
   * (empty = all); undefined when the history no longer reaches back there.
   */
  since(version: number, latest: number, filter: ReadonlySet<string>): ClusterChange[] | undefined {
    if (version < this.floor || version > latest) return undefined;
    const missed = this.batches.filter((b) => b.version > version).flatMap((b) => b.changes);
    return coalesce(missed.filter((c) => wants(filter, c.cluster)));
  }
}
