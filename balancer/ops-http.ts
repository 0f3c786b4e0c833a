// The balancer's operations port (--metrics-port): /metrics for Prometheus,
// /status (JSON, or HTML when the client prefers it, or /status.html),
// /healthz (the process answers) and /readyz (ServerReady's answer, so an
// orchestrator's HTTP probe and a gRPC health check agree).
import type * as http from 'node:http';
import type { BalancerMetrics } from './metrics';
import { prefersHtml, renderStatusHtml, type BalancerStatus } from './status';

/** What the handler reads. */
export interface OpsSources {
  readonly metrics: BalancerMetrics;
  /** The status document now. */
  status(): BalancerStatus;
  /** ServerReady's answer now. */
  ready(): boolean;
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: http.ServerResponse, code: number, body: unknown): void => send(res, code, 'application/json', JSON.stringify(body));

/** Request handler for the operations port. */
export function opsHandler(src: OpsSources): http.RequestListener {
  return (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: `${req.method ?? ''} not allowed; use GET` });
    try {
      switch (url) {
        case '/metrics':
          src.metrics.registry.metrics().then(
            (text) => send(res, 200, src.metrics.registry.contentType, text),
            (e: unknown) => json(res, 500, { error: String(e) }),
          );
          return;
        case '/status':
          if (prefersHtml(req.headers.accept)) return send(res, 200, 'text/html; charset=utf-8', renderStatusHtml(src.status()));
          return json(res, 200, src.status());
        case '/status.html':
          return send(res, 200, 'text/html; charset=utf-8', renderStatusHtml(src.status()));
        case '/healthz':
          return json(res, 200, { live: true });
        case '/readyz': {
          const ready = src.ready();
          return json(res, ready ? 200 : 503, { ready });
        }
        default:
          return json(res, 404, { error: `no route ${url}; see /metrics, /status, /status.html, /healthz, /readyz` });
      }
    } catch (e) {
      json(res, 500, { error: String(e) });
    }
  };
}
