// The balancer's operations port (--metrics-port): /metrics for Prometheus,
// /status (JSON, or HTML when the client prefers it, or /status.html),
// /healthz (the process answers) and /readyz (ServerReady's answer, so an
// orchestrator's HTTP probe and a gRPC health check agree). One balancer
// process serves its own figures; a --workers primary serves every worker's
// (worker-pool.ts), so the sources may answer asynchronously.
import type * as http from 'node:http';
import type { BalancerMetrics } from '../metrics/metrics';
import { prefersHtml, renderStatusHtml, renderStatusPage, type BalancerStatus } from './status';

/** A status document: one balancer's, or each worker's under a --workers primary. */
export type StatusDocument = BalancerStatus | { readonly workers: ReadonlyArray<BalancerStatus & { readonly pid: number }> };

/** What the handler reads; each may answer now or later. */
export interface OpsSources {
  /** The Prometheus text page. */
  metricsText(): Promise<string>;
  /** Its content type. */
  readonly contentType: string;
  /** The status document now. */
  status(): StatusDocument | Promise<StatusDocument>;
  /** ServerReady's answer now. */
  ready(): boolean | Promise<boolean>;
}

function send(res: http.ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

const json = (res: http.ServerResponse, code: number, body: unknown): void => send(res, code, 'application/json', JSON.stringify(body));

function statusHtml(doc: StatusDocument): string {
  if (!('workers' in doc)) return renderStatusHtml(doc);
  return renderStatusPage(doc.workers.map((w) => ({ heading: `infergate balancer worker ${w.pid}`, status: w })));
}

/** The sources of one in-process balancer. */
export function opsHandler(src: { metrics: BalancerMetrics; status(): BalancerStatus; ready(): boolean }): http.RequestListener {
  const { registry } = src.metrics;
  return opsHandlerFor({ metricsText: () => registry.metrics(), contentType: registry.contentType, status: src.status, ready: src.ready });
}

/** Request handler for the operations port. */
export function opsHandlerFor(src: OpsSources): http.RequestListener {
  return (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: `${req.method ?? ''} not allowed; use GET` });
    const fail = (e: unknown): void => json(res, 500, { error: String(e) });
    try {
      switch (url) {
        case '/metrics':
          src.metricsText().then((text) => send(res, 200, src.contentType, text), fail);
          return;
        case '/status':
        case '/status.html': {
          const html = url === '/status.html' || prefersHtml(req.headers.accept);
          Promise.resolve(src.status()).then(
            (doc) => (html ? send(res, 200, 'text/html; charset=utf-8', statusHtml(doc)) : json(res, 200, doc)),
            fail,
          );
          return;
        }
        case '/healthz':
          return json(res, 200, { live: true });
        case '/readyz':
          Promise.resolve(src.ready()).then((ready) => json(res, ready ? 200 : 503, { ready }), fail);
          return;
        default:
          return json(res, 404, { error: `no route ${url}; see /metrics, /status, /status.html, /healthz, /readyz` });
      }
    } catch (e) {
      fail(e);
    }
  };
}
