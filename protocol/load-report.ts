// The sidecar's load, sent on every response so a balancer can choose on
// live numbers rather than guesses: an ORCA OrcaLoadReport in the
// `endpoint-load-metrics-bin` trailer (the format grpc-js and Envoy read),
// with our signals in named_metrics.
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import type { Clock } from '../common/clock';
import { PROTO_DIR } from './proto';
import type { OrcaLoadReport } from '../proto/gen/xds/data/orca/v3/OrcaLoadReport';

/** Trailer key ORCA defines for per-call load reports. */
export const ORCA_TRAILER = 'endpoint-load-metrics-bin';

/** named_metrics keys we report. */
export const LOAD_KEYS = { queueDepth: 'queue_depth', inFlight: 'in_flight', latencyMs: 'latency_ewma_ms' } as const;

let orcaType: protobuf.Type | undefined;
function orca(): protobuf.Type {
  // keepCase: our objects use the proto's snake_case names, as the generated types do.
  orcaType ??= new protobuf.Root()
    .loadSync(path.join(PROTO_DIR, 'orca_load_report.proto'), { keepCase: true })
    .lookupType('xds.data.orca.v3.OrcaLoadReport');
  return orcaType;
}

/** Encodes a report to its wire bytes. */
export function encodeLoadReport(r: OrcaLoadReport): Buffer {
  return Buffer.from(orca().encode(orca().fromObject(r)).finish());
}

/** Decodes a trailer value; undefined if it is not a valid report. */
export function decodeLoadReport(buf: Buffer): OrcaLoadReport | undefined {
  try {
    return orca().toObject(orca().decode(buf), { defaults: true }) as OrcaLoadReport;
  } catch {
    return undefined;
  }
}

/**
 * Tracks in-flight requests, an EWMA of request latency and the request rate.
 * queueDepth comes from the schedulers at report time.
 */
export class LoadTracker {
  private inFlight = 0;
  private ewmaMs = 0;
  private windowStart: number;
  private windowCount = 0;
  private rps = 0;

  constructor(
    private readonly clock: Clock,
    private readonly queueDepth: () => number,
    /** EWMA weight of a new sample; 0.1 ≈ the last ~10 requests. */
    private readonly alpha = 0.1,
  ) {
    this.windowStart = clock.now();
  }

  /** A request entered the sidecar. */
  start(): void {
    this.inFlight++;
  }

  /** A request left; latencyMs is its time inside the sidecar. */
  end(latencyMs: number): void {
    this.inFlight--;
    this.ewmaMs = this.ewmaMs === 0 ? latencyMs : this.ewmaMs + this.alpha * (latencyMs - this.ewmaMs);
    this.windowCount++;
    const now = this.clock.now();
    const elapsed = now - this.windowStart;
    if (elapsed >= 1000) {
      this.rps = (this.windowCount * 1000) / elapsed;
      this.windowCount = 0;
      this.windowStart = now;
    }
  }

  /** The load now, as plain numbers (for discovery heartbeats). */
  snapshot(): { queueDepth: number; inFlight: number; latencyMs: number; rps: number } {
    return { queueDepth: this.queueDepth(), inFlight: this.inFlight, latencyMs: this.ewmaMs, rps: this.rps };
  }

  /** The current report. */
  report(): OrcaLoadReport {
    const s = this.snapshot();
    return {
      rps_fractional: s.rps,
      named_metrics: {
        [LOAD_KEYS.queueDepth]: s.queueDepth,
        [LOAD_KEYS.inFlight]: s.inFlight,
        [LOAD_KEYS.latencyMs]: s.latencyMs,
      },
    };
  }

  /** The current report as the `endpoint-load-metrics-bin` trailer's value (base64, as -bin headers travel). */
  trailerValue(): string {
    return encodeLoadReport(this.report()).toString('base64');
  }
}
