// /status: what the balancer routes on right now, as JSON for tools and as a
// small self-contained HTML page for people. The figures are the cost inputs
// the pickers read (local in-flight, reported queue depth and its age, the
// peak-EWMA estimate) plus what removes an endpoint from the candidates
// (health, ejection, a full breaker). Times are relative (ms ago, ms left):
// the balancer's clock is monotonic, not wall time.
import type { Clusters } from '../routing/clusters';
import type { RouteBudgetStatus } from '../routing/router';

/** One endpoint of a model cluster as /status shows it. */
export interface EndpointStatus {
  readonly id: string;
  readonly address: string;
  readonly zone: string;
  readonly weight: number;
  readonly health: string;
  readonly versions: readonly string[];
  /** This balancer's calls in flight to it. */
  readonly inFlight: number;
  /** Queue depth from the last load report (null: none yet). */
  readonly reportedQueueDepth: number | null;
  /** In-flight calls from the last load report (null: none yet). */
  readonly reportedInFlight: number | null;
  /** Age of that report, ms (null: none yet). */
  readonly reportAgeMs: number | null;
  /** The latency estimate the picker reads now (relaxed toward the cluster's typical figure while unsampled), ms. */
  readonly latencyMs: number;
  /** Mean age of this balancer's calls in flight to it, ms (the cost uses the larger of the two). */
  readonly inFlightAgeMs: number;
  readonly ejected: boolean;
  /** Ejection time left, ms (null when not ejected). */
  readonly ejectedForMs: number | null;
  readonly consecutiveFailures: number;
  readonly breakerInFlight: number;
  readonly breakerMax: number;
}

/** One model cluster as /status shows it. */
export interface ClusterStatus {
  readonly model: string;
  readonly ejected: number;
  readonly endpoints: readonly EndpointStatus[];
}

/** The whole /status document. */
export interface BalancerStatus {
  readonly configVersion: number;
  readonly ready: boolean;
  readonly clusters: readonly ClusterStatus[];
  readonly retryBudgets: readonly RouteBudgetStatus[];
}

/** Builds the status document from live state at clock time now. */
export function collectStatus(
  clusters: Clusters,
  budgets: readonly RouteBudgetStatus[],
  configVersion: number,
  ready: boolean,
  now: number,
): BalancerStatus {
  const out: ClusterStatus[] = [];
  for (const c of clusters.byModel.values()) {
    const endpoints: EndpointStatus[] = [];
    for (const m of c.members.values()) {
      const s = m.state;
      const ep = s.endpoint;
      const r = s.reported;
      endpoints.push({
        id: ep.id,
        address: ep.address,
        zone: ep.zone,
        weight: ep.weight,
        health: ep.health,
        versions: ep.versions,
        inFlight: s.inFlight,
        reportedQueueDepth: r ? r.queueDepth : null,
        reportedInFlight: r ? r.inFlight : null,
        reportAgeMs: r ? Math.round(now - r.at) : null,
        latencyMs: round3(s.latency.estimate(now)),
        inFlightAgeMs: round3(s.inFlightAge(now)),
        ejected: s.outlier.ejected,
        ejectedForMs: s.outlier.ejected ? Math.max(0, Math.round(s.outlier.ejectedUntil - now)) : null,
        consecutiveFailures: s.outlier.consecutiveFailures,
        breakerInFlight: s.breaker.inFlight,
        breakerMax: s.breaker.max,
      });
    }
    out.push({ model: c.model, ejected: c.ejectedCount, endpoints });
  }
  return { configVersion, ready, clusters: out, retryBudgets: budgets };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

/** A table cell; every value goes through escapeHtml, numbers included, so nothing unescaped reaches the page. */
const td = (v: string | number | boolean | null): string => `<td>${escapeHtml(v === null ? '-' : String(v))}</td>`;

const ENDPOINT_COLUMNS = [
  'address',
  'zone',
  'weight',
  'health',
  'versions',
  'in-flight',
  'queue (reported)',
  'report age ms',
  'latency ms',
  'in-flight age ms',
  'ejected for ms',
  'failures in a row',
  'breaker',
];

/** The status document as a self-contained HTML page (no scripts, no external assets). */
export function renderStatusHtml(st: BalancerStatus): string {
  return renderStatusPage([{ heading: 'infergate balancer', status: st }]);
}

/** One page with a section per status document (a --workers primary shows each worker's). */
export function renderStatusPage(sections: ReadonlyArray<{ readonly heading: string; readonly status: BalancerStatus }>): string {
  const parts: string[] = [
    '<!doctype html><html><head><meta charset="utf-8"><title>infergate balancer status</title>',
    '<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin-bottom:1em}',
    'td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#eee}.bad{color:#b00}</style></head><body>',
  ];
  for (const { heading, status } of sections) statusSection(parts, heading, status);
  parts.push('</body></html>');
  return parts.join('');
}

function statusSection(parts: string[], heading: string, st: BalancerStatus): void {
  parts.push(
    `<h1>${escapeHtml(heading)}</h1><p>config version ${escapeHtml(String(st.configVersion))}; `,
    st.ready ? 'ready' : '<span class="bad">not ready</span>',
    '</p>',
  );
  for (const c of st.clusters) {
    parts.push(`<h2>${escapeHtml(c.model)}</h2><p>${escapeHtml(String(c.ejected))} ejected</p><table><tr>`);
    for (const h of ENDPOINT_COLUMNS) parts.push(`<th>${escapeHtml(h)}</th>`);
    parts.push('</tr>');
    for (const e of c.endpoints) {
      parts.push(
        e.ejected || e.health !== 'HEALTHY' ? '<tr class="bad">' : '<tr>',
        td(e.address),
        td(e.zone),
        td(e.weight),
        td(e.health),
        td(e.versions.join(' ')),
        td(e.inFlight),
        td(e.reportedQueueDepth),
        td(e.reportAgeMs),
        td(e.latencyMs),
        td(e.inFlightAgeMs),
        td(e.ejectedForMs),
        td(e.consecutiveFailures),
        td(`${e.breakerInFlight}/${e.breakerMax}`),
        '</tr>',
      );
    }
    parts.push('</table>');
  }
  parts.push('<h2>retry budgets</h2><table><tr><th>route</th><th>active calls</th><th>retries in flight</th><th>retry limit</th></tr>');
  for (const b of st.retryBudgets)
    parts.push('<tr>', td(b.route), td(b.activeCalls), td(b.activeRetries), td(round3(b.retryLimit)), '</tr>');
  parts.push('</table>');
}

/** True when the Accept header ranks text/html above application/json (browsers do; curl's *\/* does not). */
export function prefersHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const q = qp ? Number(qp.slice(2)) || 0 : 1;
    if (type === 'text/html') html = Math.max(html, q);
    else if (type === 'application/json') json = Math.max(json, q);
  }
  return html > json;
}
