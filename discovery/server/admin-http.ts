// The discovery admin surface, for operators and probes: what watchers see
// (GET /endpoints), the routing config in force (GET /config), Prometheus
// metrics and liveness. Read-only; writes go through the gRPC API.
import type * as http from 'node:http';
import type { DiscoveryMetrics } from './metrics';
import type { RoutingConfigVersion } from '../types';
import type { WatchHub } from './watch-hub';

/** What the admin handler reads. */
export interface AdminSources {
  readonly hub: WatchHub;
  readonly metrics: DiscoveryMetrics;
  /** The routing config in force, if any. */
  readonly config: () => RoutingConfigVersion | undefined;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Request handler for the admin port. */
export function adminHandler(src: AdminSources): http.RequestListener {
  return (req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?');
    if (req.method !== 'GET') return send(res, 405, { error: `${req.method} is not supported; the admin API is read-only` });
    switch (path) {
      case '/endpoints': {
        // ?cluster=a&cluster=b narrows the view like a watcher's filter does.
        const filter = new Set(new URLSearchParams(query).getAll('cluster'));
        const clusters: Record<string, unknown> = {};
        for (const [name, eps] of src.hub.clusters(filter)) clusters[name] = eps;
        return send(res, 200, {
          epoch: src.hub.epoch,
          version: src.hub.revision,
          partial: src.hub.partial,
          clusters,
          watchers: src.hub.watchers(),
        });
      }
      case '/config': {
        const cfg = src.config();
        if (!cfg) return send(res, 200, { version: 0, config: null });
        return send(res, 200, { version: cfg.version, config: JSON.parse(cfg.json) as unknown });
      }
      case '/metrics':
        src.metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': src.metrics.registry.contentType });
            res.end(text);
          },
          (e: unknown) => send(res, 500, { error: String(e) }),
        );
        return;
      case '/healthz':
        return send(res, 200, { live: true, epoch: src.hub.epoch, version: src.hub.revision });
      default:
        return send(res, 404, { error: `no route ${path}; try /endpoints, /config, /metrics, /healthz` });
    }
  };
}
