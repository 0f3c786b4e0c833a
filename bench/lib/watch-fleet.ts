// Many discovery watchers in one process, each on its own HTTP/2 connection
// (as separate balancers would be), applying every message with the
// watcher's own code (applyWatchResponse). A benchmark registers a probe and
// asks when each watcher first saw a change matching it.
import * as grpc from '@grpc/grpc-js';
import type { WatchResponse__Output } from '../../proto/gen/infergate/discovery/v1/WatchResponse';
import type { ClusterChange } from '../../discovery/types';
import { applyWatchResponse, EMPTY_VIEW, type DiscoveryView } from '../../discovery/client/watcher-view';
import { CLIENT_OPTIONS, loadDiscoveryProto, type DiscoveryClient } from '../../discovery/wire';

interface Probe {
  readonly match: (c: ClusterChange) => boolean;
  readonly seenAt: (number | undefined)[];
  left: number;
  done: () => void;
}

/** N watch streams on N connections. */
export class WatchFleet {
  private readonly clients: DiscoveryClient[] = [];
  private readonly calls: grpc.ClientReadableStream<WatchResponse__Output>[] = [];
  private readonly views: DiscoveryView[] = [];
  private probe: Probe | undefined;
  /** Messages received, all watchers. */
  messages = 0;

  constructor(
    address: string,
    readonly size: number,
  ) {
    const { Discovery } = loadDiscoveryProto();
    for (let i = 0; i < size; i++) {
      // A local subchannel pool: otherwise grpc-js multiplexes every client onto one connection.
      const c = new Discovery(address, grpc.credentials.createInsecure(), { ...CLIENT_OPTIONS, 'grpc.use_local_subchannel_pool': 1 });
      this.clients.push(c);
      this.views.push(EMPTY_VIEW);
    }
  }

  /** Opens every stream; resolves once each has applied its snapshot. */
  async start(): Promise<void> {
    await Promise.all(
      this.clients.map(
        (c, i) =>
          new Promise<void>((resolve, reject) => {
            const call = c.Watch({ watcher_id: `bench-${i}` });
            this.calls.push(call);
            let first = true;
            call.on('data', (m: WatchResponse__Output) => {
              const { view, changes } = applyWatchResponse(this.views[i], m);
              const now = performance.now();
              this.views[i] = view;
              this.messages++;
              if (first) resolve();
              first = false;
              const p = this.probe;
              if (p && p.seenAt[i] === undefined && changes.some(p.match)) {
                p.seenAt[i] = now;
                if (--p.left === 0) p.done();
              }
            });
            call.on('error', (e: grpc.ServiceError) => {
              if (e.code !== grpc.status.CANCELLED) reject(e);
            });
          }),
      ),
    );
  }

  /**
   * Calls `act`, then resolves with when each watcher first applied a change
   * matching `match` (performance.now() ms; undefined = not within timeoutMs).
   * One probe at a time.
   */
  async observe(match: (c: ClusterChange) => boolean, act: () => Promise<void>, timeoutMs: number): Promise<(number | undefined)[]> {
    const seenAt: (number | undefined)[] = new Array(this.size).fill(undefined);
    let timer: NodeJS.Timeout | undefined;
    const all = new Promise<void>((resolve) => {
      this.probe = { match, seenAt, left: this.size, done: resolve };
      timer = setTimeout(resolve, timeoutMs);
    });
    await act();
    await all;
    clearTimeout(timer);
    this.probe = undefined;
    return seenAt;
  }

  /** Cancels every stream and closes the connections. */
  close(): void {
    for (const call of this.calls) call.cancel();
    for (const c of this.clients) c.close();
  }
}
