// Messages between runLoad (load.ts, the parent) and its load workers
// (worker.ts). Everything here crosses a worker_threads boundary, so it is
// plain data: histograms travel encoded (histogram.ts), times as ms offsets
// from the phase's measure start, which each thread computes on its own clock.
import type { LoadMode } from './types';

/** What one worker thread is asked to do (workerData). */
export interface WorkerConfig {
  /** Index of this worker among `workers` (its slots in the global schedule). */
  readonly worker: number;
  /** How many workers share the phase. */
  readonly workers: number;
  /** unary, stream or rest. */
  readonly mode: LoadMode;
  /** host:port to load. */
  readonly target: string;
  /** REST only: the infer URL path, e.g. /v2/models/ranker/infer. */
  readonly restPath: string;
  /** Request bytes: a serialized ModelInferRequest (gRPC) or a JSON body (REST); sent as is. */
  readonly payload: Uint8Array;
  /** Connections this worker owns. */
  readonly connections: number;
  /** Open loop: the global rate (req/s) this worker takes its share of. */
  readonly rate: number | undefined;
  /** Closed loop: this worker's callers (its share of the concurrency). */
  readonly concurrency: number | undefined;
  /** Unmeasured load first, ms. */
  readonly warmupMs: number;
  /** Measured time, ms. */
  readonly durationMs: number;
  /** How long answers may take after the last send before they count as unfinished, ms. */
  readonly drainMs: number;
}

/** Parent → worker: go. */
export interface StartMessage {
  readonly type: 'start';
  /** When the warm-up begins, as process.hrtime ms (one monotonic clock shared by every thread). */
  readonly t0HrMs: number;
}

/** Worker → parent: connections are up, ready to start. */
export interface ReadyMessage {
  readonly type: 'ready';
}

/** Worker → parent: one second of the measurement (by completion/send time). */
export interface SecondMessage {
  readonly type: 'second';
  /** Second index since measuring started. */
  readonly index: number;
  /** Measured sends that went out in that second. */
  readonly sent: number;
  /** OK answers that came in that second. */
  readonly ok: number;
  /** Errors that came in that second. */
  readonly errors: number;
  /** Latencies of that second's OK calls, encoded. */
  readonly histogram: string;
}

/** Worker → parent: the worker's totals (its SecondMessages all came before). */
export interface DoneMessage {
  readonly type: 'done';
  /** Latencies of every measured OK call, encoded. */
  readonly histogram: string;
  /** Measured requests sent (warm-up excluded). */
  readonly sent: number;
  /** Measured calls answered OK. */
  readonly ok: number;
  /** Measured calls that failed, by error key (unfinished ones included). */
  readonly errors: Record<string, number>;
  /** Open loop: how late the latest measured send went out, ms. */
  readonly maxLagMs: number;
  /** Open loop: measured sends that went out more than 1 ms late. */
  readonly late: number;
  /** Open loop: how late each measured send went out, encoded (µs). */
  readonly lagHistogram: string;
  /** Open loop: measured sends never made because the worker gave up (hopelessly behind). */
  readonly unsent: number;
  /** When the last measured send went out, ms after measure start (-1: none). */
  readonly lastSendMs: number;
  /** Event-loop utilization of the worker while measuring (0-1). */
  readonly elu: number;
}

/** Worker → parent: the worker could not run (bad target, bad payload). */
export interface FatalMessage {
  readonly type: 'fatal';
  /** What went wrong. */
  readonly message: string;
}

/** Anything a worker posts. */
export type WorkerMessage = ReadyMessage | SecondMessage | DoneMessage | FatalMessage;

/** Milliseconds on the monotonic clock every thread shares (performance.now() origins differ per thread). */
export function hrMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
