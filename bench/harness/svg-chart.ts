// Line charts as inline SVG strings for the HTML report: no script, no
// external asset, readable in any browser and diffable as text. Two x
// scales: linear (time series) and "percentile" (HDR style: position
// log10(1 / (1 - p)), so 90, 99, 99.9, 99.99 % are evenly spaced and the
// tail, where stalls show, gets most of the width).

/** One line of a chart: [x, y] points in data units. */
export interface ChartLine {
  /** Legend text. */
  readonly name: string;
  /** Stroke colour (CSS). */
  readonly color: string;
  /** In x order; percentile charts take [percentile, value]. */
  readonly points: ReadonlyArray<readonly [number, number]>;
}

/** What to draw. */
export interface ChartSpec {
  /** Heading drawn above the plot (and its <title>). */
  readonly title: string;
  /** CSS class of the <svg> (tests and styles find charts by it). */
  readonly cls: string;
  /** Axis captions. */
  readonly xLabel: string;
  /** Axis captions. */
  readonly yLabel: string;
  /** The lines, drawn in order (the first under the rest). */
  readonly lines: readonly ChartLine[];
  /** linear (default) or percentile (log10(1 / (1 - p))). */
  readonly xScale?: 'linear' | 'percentile';
  /** Pixels (default 640). */
  readonly width?: number;
  /** Pixels (default 300). */
  readonly height?: number;
}

/** Distinct line colours, in order. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const MAX_NINES = 5; // 99.999 %: beyond it HDR's top percentile is just the max

/** Escapes text for HTML and SVG. */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A percentile's position on the percentile axis (0 at p0, 1 at p90, 2 at p99, ...). */
export function nines(p: number): number {
  return Math.min(MAX_NINES, Math.log10(100 / Math.max(1e-9, 100 - p)));
}

/** A round step giving about `n` ticks up to max. */
function niceStep(max: number, n = 5): number {
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
}

const num = (x: number) => (Math.round(x * 10) / 10).toString();

/** The chart as an <svg> element string. */
export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 640,
    H = spec.height ?? 300;
  const L = 64,
    R = 16,
    T = 28,
    B = 44;
  const pct = spec.xScale === 'percentile';
  const xs = spec.lines.flatMap((l) => l.points.map((p) => (pct ? nines(p[0]) : p[0])));
  const ys = spec.lines.flatMap((l) => l.points.map((p) => p[1]));
  const xMin = pct ? 0 : Math.min(0, ...xs);
  const xMax = pct ? MAX_NINES : Math.max(1, ...xs);
  const yStep = niceStep(Math.max(1e-3, ...ys) * 1.05);
  const yMax = yStep * Math.ceil((Math.max(1e-3, ...ys) * 1.05) / yStep);
  const px = (x: number) => L + ((x - xMin) / (xMax - xMin || 1)) * (W - L - R);
  const py = (y: number) => H - B - (y / yMax) * (H - T - B);
  const parts: string[] = [`<svg class="${esc(spec.cls)}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img">`];
  parts.push(`<title>${esc(spec.title)}</title>`, `<text x="${L}" y="16" class="t">${esc(spec.title)}</text>`);
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    parts.push(
      `<line x1="${L}" x2="${W - R}" y1="${num(py(y))}" y2="${num(py(y))}" class="g"/>`,
      `<text x="${L - 6}" y="${num(py(y) + 4)}" text-anchor="end">${esc(Number(y.toPrecision(6)).toString())}</text>`,
    );
  }
  const xTicks: Array<[number, string]> = pct
    ? [
        [0, '0%'],
        [nines(50), '50%'],
        [1, '90%'],
        [2, '99%'],
        [3, '99.9%'],
        [4, '99.99%'],
        [5, '99.999%'],
      ]
    : Array.from({ length: Math.floor((xMax - xMin) / niceStep(xMax - xMin)) + 1 }, (_, i) => {
        const x = xMin + i * niceStep(xMax - xMin);
        return [x, String(Number(x.toPrecision(6)))] as [number, string];
      });
  for (const [x, label] of xTicks) {
    parts.push(
      `<line x1="${num(px(x))}" x2="${num(px(x))}" y1="${T}" y2="${H - B}" class="g"/>`,
      `<text x="${num(px(x))}" y="${H - B + 16}" text-anchor="middle">${esc(label)}</text>`,
    );
  }
  parts.push(
    `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(spec.xLabel)}</text>`,
    `<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`,
  );
  spec.lines.forEach((l, i) => {
    const pts = l.points.map((p) => `${num(px(pct ? nines(p[0]) : p[0]))},${num(py(p[1]))}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${l.color}" stroke-width="2" points="${pts}"><title>${esc(l.name)}</title></polyline>`);
    const ly = T + 4 + i * 16;
    parts.push(
      `<rect x="${L + 8}" y="${ly}" width="12" height="3" fill="${l.color}"/>`,
      `<text x="${L + 24}" y="${ly + 5}">${esc(l.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}
