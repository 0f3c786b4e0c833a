// The report as a terminal table, printed at the end of every run. It is a
// padded Markdown table, so it reads in a terminal and pastes into
// BENCHMARKS.md as is. Ratios compare each phase with the first phase of its
// group: the phases offered the same load (mode, loop, rate or concurrency),
// i.e. the same load against different targets.
import type { LoadResult, Report } from './types';

/** Phases offered the same load share a group key. */
export function groupKey(r: LoadResult): string {
  return `${r.mode}|${r.loop}|${r.offeredRate ?? ''}|${r.concurrency ?? ''}`;
}

/** For each result, the first result of its group (itself when it is the first). */
export function ratioBases(results: readonly LoadResult[]): LoadResult[] {
  const first = new Map<string, LoadResult>();
  return results.map((r) => {
    const k = groupKey(r);
    if (!first.has(k)) first.set(k, r);
    return first.get(k)!;
  });
}

/** ms with precision that suits its size. */
export function fmtMs(ms: number): string {
  return ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0);
}

/** A rate, grouped by thousands. */
export function fmtRate(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** "1.23x", or "" when there is nothing to compare. */
export function fmtRatio(a: number, b: number): string {
  return b > 0 && Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : '';
}

/** "closed (c=64)" or "open". */
export function loopText(r: LoadResult): string {
  return r.loop === 'closed' ? `closed${r.concurrency !== null ? ` (c=${r.concurrency})` : ''}` : 'open';
}

/** The generator's verdict for one phase. */
export function generatorText(r: LoadResult): string {
  const g = r.generator;
  const lag =
    r.loop === 'open'
      ? `, lag p99 ${fmtMs(g.lagP99Ms ?? 0)} / max ${fmtMs(g.maxLagMs)} ms, ${(100 * g.lateFraction).toFixed(1)} % > 1 ms`
      : '';
  return `${g.limited ? 'LIMITED' : 'ok'} (${g.cpuCores.toFixed(2)} cores${lag})`;
}

/** Errors as "UNAVAILABLE 12, unfinished 3" (largest first); "" when none. */
export function errorText(r: LoadResult): string {
  return Object.entries(r.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
}

const HEAD = [
  'phase',
  'target',
  'mode',
  'loop',
  'offered/s',
  'achieved/s',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'p99.9 ms',
  'max ms',
  'errors',
  'achieved vs first',
  'p99 vs first',
  'generator',
];

/** One row per phase, the cells of HEAD. */
export function tableRows(report: Report): string[][] {
  const bases = ratioBases(report.results);
  return report.results.map((r, i) => {
    const b = bases[i];
    const same = b === r;
    return [
      r.label,
      r.target,
      r.mode,
      loopText(r),
      r.offeredRate === null ? '' : fmtRate(r.offeredRate),
      fmtRate(r.achievedRate),
      fmtMs(r.latencyMs.p50),
      fmtMs(r.latencyMs.p90),
      fmtMs(r.latencyMs.p99),
      fmtMs(r.latencyMs.p999),
      fmtMs(r.latencyMs.max),
      `${(100 * r.errorRate).toFixed(2)} %`,
      same ? '(first)' : fmtRatio(r.achievedRate, b.achievedRate),
      same ? '' : fmtRatio(r.latencyMs.p99, b.latencyMs.p99),
      generatorText(r),
    ];
  });
}

/** The column headings of tableRows. */
export const TABLE_HEAD: readonly string[] = HEAD;

/** The report as text: the table, error breakdowns, and what the loop and LIMITED marks mean. */
export function formatReportTable(report: Report): string {
  const rows = [HEAD, ...tableRows(report)];
  const w = HEAD.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => cell.padEnd(w[c])).join(' | ')} |`;
  const out = [line(rows[0]), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.slice(1).map(line)];
  const notes: string[] = [];
  for (const r of report.results) {
    const e = errorText(r);
    if (e) notes.push(`errors, ${r.label}: ${e}`);
  }
  if (report.results.some((r) => r.loop === 'open')) {
    notes.push('open loop: requests on a fixed schedule; latency counts from each scheduled send time, so stalls show in full.');
  }
  if (report.results.some((r) => r.loop === 'closed')) {
    notes.push('closed loop: each caller waits for its answer; latency from the actual send, which hides stalls (coordinated omission).');
  }
  const limited = report.results.filter((r) => r.generator.limited);
  if (limited.length) {
    notes.push(
      `LIMITED (${limited.map((r) => r.label).join(', ')}): the load generator could not keep its own schedule or was saturated; ` +
        "those figures are the generator's limit, not the server's. Add --workers, or run the generator on another machine.",
    );
  }
  const head = report.scenario ? [`scenario ${report.scenario} (${report.createdAt})`] : [];
  return [...head, ...out, ...(notes.length ? ['', ...notes] : [])].join('\n');
}
