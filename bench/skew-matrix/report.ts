// The matrix's outputs: one progress line per run (stderr), the markdown
// table for BENCHMARKS.md (stdout), and the lost cells with their figures.
import type { RunFigures } from './run-figures';
import type { CellVerdict } from './verdict';

/** One cell's results as they go into the JSON and the table. */
export interface CellResult {
  readonly name: string;
  readonly rate: number;
  readonly sidecars: number;
  readonly seconds: number;
  readonly slow: string;
  readonly runs: readonly (RunFigures & { readonly otherCores: number; readonly targetCpuSeconds: number })[];
  readonly verdict: CellVerdict;
}

/** How errors were counted; printed under the table and kept in the JSON. */
export const ERRORS_NOTE =
  'Errors: h2load cannot see grpc-status (it rides in trailers), so a gRPC error is an HTTP 200 to it and its latency is in the percentiles. ' +
  "Client errors are counted from the balancer's own final statuses for infergate (infergate_balancer_requests_total, status != OK) " +
  "and from the sidecars' /metrics for nginx and HAProxy, which do not retry a gRPC status (infergate_sidecar_requests_total, status != OK); " +
  'sidecar errors are every non-OK answer at the sidecars (for infergate, attempts it may have retried elsewhere); ' +
  'plus h2load rows that were not HTTP 200 and requests never answered.';

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : x === Infinity ? '>5000' : '-');
const pct = (x: number | null) => (x === null || Number.isNaN(x) ? '-' : `${(x * 100).toFixed(1)} %`);
const secs = (x: number | null | undefined) => (x === undefined ? '' : x === null ? 'never' : `${x.toFixed(2)}`);

/** Under this part of the offered requests sent in a window, h2load fell behind its schedule. */
const BEHIND = 0.95;

function lat(w: { p50: number; p99: number; p999: number; sent: number; offered: number }): string {
  return `${f1(w.p50)} / ${f1(w.p99)} / ${f1(w.p999)}${w.sent < BEHIND * w.offered ? ' †' : ''}`;
}

function converge(r: RunFigures): string {
  const all = { ...r.convergence, ...r.informative };
  return Object.entries(all)
    .map(([k, v]) => `${k.replace(/_/g, ' ')} ${secs(v)}`)
    .join('; ');
}

function watchedShare(c: CellResult, r: RunFigures): string {
  if (c.slow !== 'none') return `${pct(r.windows.cold.slowShare)} / ${pct(r.windows.warm.slowShare)}`;
  const total = r.calls.reduce((a, b) => a + b, 0);
  // double and join: the last sidecar's share of the whole run (the big one, the joiner).
  return total > 0 ? `${pct(r.calls[r.calls.length - 1] / total)} (run)` : '-';
}

/** One line per finished run, for stderr. */
export function progressLine(cell: CellResult['name'], r: RunFigures & { otherCores: number }): string {
  const e = r.errors;
  return (
    `${cell} ${r.target}: cold p99 ${f1(r.windows.cold.p99)} ms, warm p99 ${f1(r.windows.warm.p99)} ms, ` +
    `slow share ${pct(r.windows.cold.slowShare)} / ${pct(r.windows.warm.slowShare)}, ${converge(r) || 'no convergence measure'}, ` +
    `errors ${r.clientErrors} (sidecars ${e.sidecarNonOk}), other load ${r.otherCores.toFixed(2)} cores`
  );
}

/** The markdown table: a row per target per cell, the verdict on infergate's row; the lost cells after. */
export function markdownTable(cells: readonly CellResult[]): string {
  const lines = [
    '| cell | req/s | target | cold p50 / p99 / p99.9 ms | warm p50 / p99 / p99.9 ms | slow share cold / warm | convergence (s) | errors client / sidecars | other load (cores) | verdict |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of cells) {
    for (const r of c.runs) {
      const e = r.errors;
      const verdict = r.target === 'infergate' ? (c.verdict.status === 'lost' ? '**lost**' : c.verdict.status) : '';
      lines.push(
        `| ${c.name} | ${c.rate} | ${r.target} | ${lat(r.windows.cold)} | ${lat(r.windows.warm)} | ${watchedShare(c, r)} | ${converge(r)} | ` +
          `${r.clientErrors} / ${e.sidecarNonOk} | ${r.otherCores.toFixed(2)} | ${verdict} |`,
      );
    }
  }
  const lost = cells.filter((c) => c.verdict.status === 'lost');
  const na = cells.filter((c) => c.verdict.status === 'n/a');
  const won = cells.filter((c) => c.verdict.status === 'won');
  lines.push(
    '',
    `Verdict: ${won.length} won, ${lost.length} lost${na.length ? `, ${na.length} without a verdict` : ''} of ${cells.length} cells.`,
  );
  for (const c of lost) lines.push(`- **${c.name}** lost: ${c.verdict.notes.join('; ')}`);
  for (const c of cells.filter((x) => x.verdict.remarks.length > 0)) lines.push(`- ${c.name}: ${c.verdict.remarks.join('; ')}`);
  for (const c of na) lines.push(`- ${c.name}: no verdict (${c.verdict.notes.join('; ')})`);
  lines.push(
    '',
    `†: h2load sent under ${BEHIND * 100} % of the offered requests in the window (streams full): it sends late, so the latency is counted from the late send and understates the wait.`,
    '',
    ERRORS_NOTE,
  );
  return lines.join('\n');
}

/**
 * The results as JSON a reader can diff: fractions to 4 decimals (ms and shares need no more),
 * NaN and Infinity as strings (JSON has neither), and arrays of numbers on one line (a list of
 * [t, calls...] poll rows then reads one row a line).
 */
export function resultsJson(value: unknown): string {
  const round = (_: string, v: unknown) =>
    typeof v !== 'number' ? v : !Number.isFinite(v) ? String(v) : Number.isInteger(v) ? v : Math.round(v * 1e4) / 1e4;
  const num = String.raw`(?:-?[\d.e+-]+|"NaN"|"-?Infinity")`;
  const numbers = new RegExp(String.raw`\[\s+(${num}(?:,\s+${num})*)\s+\]`, 'g');
  return `${JSON.stringify(value, round, 1).replace(numbers, (_, inner: string) => `[${inner.replace(/,\s+/g, ', ')}]`)}\n`;
}
