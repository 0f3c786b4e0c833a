// The bench harness's contract: what one load phase is asked to do
// (LoadOptions), what it measured (LoadResult), and the report every output
// (terminal table, JSON, HTML) is made from. The load engine (bench/harness/)
// and the scenario runner (bench/scenario/) meet only here.

/** How a phase offers load. */
export type LoadMode = 'unary' | 'stream' | 'rest';

/** One load phase against one target. */
export interface LoadOptions {
  /** host:port of a gRPC (unary/stream) or HTTP (rest) endpoint speaking the Open Inference Protocol. */
  readonly target: string;
  /** Name shown in reports (default: the target). */
  readonly label?: string;
  readonly model: string;
  readonly version?: string;
  readonly mode: LoadMode;
  /** Open loop: requests per second on a fixed schedule; latency counts from each scheduled send time. */
  readonly rate?: number;
  /** Closed loop instead: this many callers, each waiting for its answer (reports say "closed loop"). */
  readonly concurrency?: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** HTTP/2 connections (per worker). */
  readonly connections: number;
  /** Load-generating worker threads; each runs its share of the rate or concurrency. */
  readonly workers: number;
  /** A serialized ModelInferRequest to send (unary/stream), or a JSON body (rest); default: one `ranker` row. */
  readonly payload?: Buffer;
  /** Calls still unanswered this long after the last send count as errors ('unfinished'). */
  readonly drainMs?: number;
  /** Called about once a second while measuring (the live line). */
  readonly onTick?: (t: TickStats) => void;
}

/** One second of a phase. */
export interface SeriesPoint {
  /** Seconds since measuring started. */
  readonly t: number;
  readonly sent: number;
  readonly ok: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** What the live line shows. */
export interface TickStats extends SeriesPoint {
  readonly label: string;
  readonly elapsedMs: number;
  readonly totalMs: number;
}

/** Latency percentiles, ms. */
export interface LatencyMs {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

/** What one phase measured. */
export interface LoadResult {
  readonly label: string;
  readonly target: string;
  readonly mode: LoadMode;
  readonly loop: 'open' | 'closed';
  /** Requests per second offered (open loop), or null (closed loop). */
  readonly offeredRate: number | null;
  readonly concurrency: number | null;
  /** Answers (OK or not) per second over the measured time. */
  readonly achievedRate: number;
  readonly durationMs: number;
  readonly sent: number;
  readonly ok: number;
  /** Errors by gRPC status name ('UNAVAILABLE') or HTTP code ('http_503'), plus 'unfinished' and 'transport'. */
  readonly errors: Readonly<Record<string, number>>;
  readonly errorRate: number;
  /** Latency of OK calls; open loop: from the scheduled send time. */
  readonly latencyMs: LatencyMs;
  /** The merged HDR histogram of µs latencies, base64 (hdr-histogram-js encode), for exact re-merging. */
  readonly histogram: string;
  /** Percentile curve for charts: [percentile, ms] pairs. */
  readonly percentileCurve: ReadonlyArray<readonly [number, number]>;
  readonly series: readonly SeriesPoint[];
  /** The generator's own health: when it fell behind its schedule the figures are its limit, not the server's. */
  readonly generator: {
    readonly maxLagMs: number;
    /** Share of sends that went out more than 1 ms late. */
    readonly lateFraction: number;
    /** Open loop: 99 % of sends went out within this many ms of their due time (absent: closed loop). */
    readonly lagP99Ms?: number;
    /** True when the generator could not keep its schedule (a bottleneck of its own): the report says so. */
    readonly limited: boolean;
    readonly cpuCores: number;
  };
}

/** Schema version of the JSON report; bump on any incompatible change. */
export const REPORT_SCHEMA = 'infergate-bench/1';

/** One run's report: what every output format shows. */
export interface Report {
  readonly schema: typeof REPORT_SCHEMA;
  readonly createdAt: string;
  readonly machine: { readonly cpus: number; readonly node: string; readonly platform: string };
  /** Scenario name, when the run came from a scenario file. */
  readonly scenario?: string;
  /** Free-form notes (topology, what was compared). */
  readonly notes?: readonly string[];
  /** Phases in run order; ratios in tables compare with the first of each group. */
  readonly results: readonly LoadResult[];
}

/** Options of a scenario run (bench/scenario/run-scenario.ts). */
export interface ScenarioRunOptions {
  readonly json?: string;
  readonly html?: string;
  /** No live line (not a TTY, or CI). */
  readonly quiet: boolean;
  /** Overrides every phase's duration and warm-up, e.g. for a smoke run. */
  readonly durationMs?: number;
  readonly warmupMs?: number;
}

/** Options of a --find-max search (bench/scenario/find-max.ts). */
export interface FindMaxOptions {
  /** The load to search with; `rate` is what the search varies. */
  readonly load: Omit<LoadOptions, 'rate' | 'concurrency'>;
  /** p99 must stay under this (ms). */
  readonly sloP99Ms: number;
  /** ...with at most this share of errors (default 0.001). */
  readonly maxErrorRate?: number;
  readonly startRate?: number;
  readonly maxRate?: number;
}
