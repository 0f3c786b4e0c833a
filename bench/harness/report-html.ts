// The HTML report: one self-contained file (inline CSS and SVG, no script,
// no external reference) to attach to an issue or open from disk. It shows
// the comparison table with ratios to the first target of each group, all
// percentile curves on one chart, and per target its percentile curve,
// throughput over time and p50/p99 over time.
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { errorText, generatorText, TABLE_HEAD, tableRows } from './report-table';
import { esc, lineChart, PALETTE } from './svg-chart';
import type { LoadResult, Report } from './types';

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}tr.limited td{background:#fde8e8}
svg{background:#fff;border:1px solid #ddd;margin:4px}svg text{font-size:11px;fill:#333}svg text.t{font-size:13px;font-weight:600}
svg line.g{stroke:#eee}section.target{border-top:1px solid #ccc;margin-top:16px}.warn{color:#a00;font-weight:600}.muted{color:#666}`;

/** The percentile-curve chart of one or more results. */
function curveChart(results: readonly LoadResult[], cls: string, title: string, colors: readonly string[]): string {
  return lineChart({
    title,
    cls,
    xLabel: 'percentile',
    yLabel: 'latency, ms',
    xScale: 'percentile',
    lines: results.map((r, i) => ({ name: r.label, color: colors[i % colors.length], points: r.percentileCurve })),
  });
}

/** One target's section: what it was, its verdict and its three charts. */
function targetSection(r: LoadResult, color: string): string {
  const s = r.series;
  const loop =
    r.loop === 'open'
      ? `open loop at ${r.offeredRate} req/s; latency from each scheduled send`
      : `closed loop${r.concurrency !== null ? `, ${r.concurrency} callers` : ''}${r.offeredRate !== null ? `, capped at ${r.offeredRate} req/s` : ''}; latency from the actual send (hides stalls)`;
  const errs = errorText(r);
  return `<section class="target" data-label="${esc(r.label)}">
<h2>${esc(r.label)}</h2>
<p>${esc(r.mode)} to ${esc(r.target)}, ${esc(loop)}. ${r.sent} sent, ${r.ok} OK${errs ? `, errors: ${esc(errs)}` : ''}.</p>
<p class="${r.generator.limited ? 'warn' : 'muted'}">generator: ${esc(generatorText(r))}${r.generator.limited ? " — these figures are the load generator's limit, not the server's" : ''}</p>
${curveChart([r], 'chart percentile', `${r.label}: latency by percentile`, [color])}
${lineChart({
  title: `${r.label}: throughput per second`,
  cls: 'chart throughput',
  xLabel: 's',
  yLabel: 'per second',
  // Sent first: it is usually equal to answered, and answered must stay visible on top of it.
  lines: [
    { name: 'sent', color: '#999', points: s.map((p) => [p.t, p.sent]) },
    { name: 'errors', color: '#d62728', points: s.map((p) => [p.t, p.errors]) },
    { name: 'answered OK', color, points: s.map((p) => [p.t, p.ok]) },
  ],
})}
${lineChart({
  title: `${r.label}: latency per second`,
  cls: 'chart p99',
  xLabel: 's',
  yLabel: 'ms',
  lines: [
    { name: 'p50', color: '#999', points: s.map((p) => [p.t, p.p50Ms]) },
    { name: 'p99', color, points: s.map((p) => [p.t, p.p99Ms]) },
  ],
})}
</section>`;
}

/** The whole report as one HTML document. */
export function renderHtml(report: Report): string {
  const rows = tableRows(report);
  const title = `infergate bench${report.scenario ? `: ${report.scenario}` : ''}`;
  const table = `<table><thead><tr>${TABLE_HEAD.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (cells, i) =>
        `<tr${report.results[i].generator.limited ? ' class="limited"' : ''}>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
  const notes = report.notes?.length ? `<ul>${report.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : '';
  const m = report.machine;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${CSS}</style></head><body>
<h1>${esc(title)}</h1>
<p class="muted">${esc(report.createdAt)} · ${m.cpus} CPUs · Node ${esc(m.node)} · ${esc(m.platform)} · schema ${esc(report.schema)}</p>
${notes}
<h2>Comparison</h2>
<p class="muted">Ratios compare each phase with the first phase offered the same load (mode, loop, rate or concurrency).</p>
${table}
${report.results.length > 1 ? curveChart(report.results, 'chart overlay', 'latency by percentile, every phase', PALETTE) : ''}
${report.results.map((r, i) => targetSection(r, PALETTE[i % PALETTE.length])).join('\n')}
</body></html>
`;
}

/** Writes the HTML report (creating the directory). */
export async function writeHtmlReport(report: Report, file: string): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await writeFile(file, renderHtml(report));
}
