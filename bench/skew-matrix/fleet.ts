// One fleet of the matrix: discovery and N sidecars, every one started with
// --fault-admin so a cell makes one of them slow or failing through PUT
// /fault instead of restarting the fleet (sidecars start once per fleet);
// optionally one with twice the capacity (a temp copy of the bundled ranker
// with `instances: 2`) or one that is not started with the rest but joins
// mid-run. Polls every sidecar's /metrics for calls, statuses and latency
// buckets (analysis.ts turns the polls into shares and p99s).
import type { ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BUNDLED_MODELS } from '../../models/bundled';
import { freePort, sidecarArgs, stop, waitReady } from '../../testkit/processes';
import { encodeFp32Request, RawClient } from '../../testkit/raw-client';
import { tempDir } from '../lib/peers';
import { spawnInfergate } from '../scenario/own-processes';
import type { Poll } from './analysis';

export interface FleetSidecar {
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly metricsPort: number;
  readonly models: string;
  child: ChildProcess | undefined;
}

export interface FleetOptions {
  readonly sidecars: number;
  /** Index of a sidecar whose ranker runs this many instances (twice the capacity at 2). */
  readonly double?: { readonly index: number; readonly instances: number };
  /** The last sidecar is not started with the fleet: it joins when startJoiner() is called. */
  readonly joiner?: boolean;
  readonly verbose?: boolean;
}

export interface Fleet {
  readonly discoveryPort: number;
  readonly sidecars: readonly FleetSidecar[];
  /** Histogram bounds (ms) of infergate_sidecar_request_seconds, +Inf last as Infinity. */
  readonly bucketsMs: readonly number[];
  /** Starts the joiner; resolves with the seconds from spawn until it answered ready. */
  startJoiner(): Promise<number>;
  stopJoiner(): Promise<void>;
  stop(): Promise<void>;
}

/** A temp copy of the bundled ranker whose config asks for `instances` instances. */
function repoWithInstances(instances: number): string {
  const dir = path.join(tempDir('double'), 'models');
  cpSync(path.join(BUNDLED_MODELS, 'ranker'), path.join(dir, 'ranker'), { recursive: true });
  const file = path.join(dir, 'ranker', 'config.yaml');
  const text = readFileSync(file, 'utf8');
  if (!/^instances: 1$/m.test(text)) throw new Error(`${file}: no 'instances: 1' line to raise to ${instances}`);
  writeFileSync(file, text.replace(/^instances: 1$/m, `instances: ${instances}`));
  return dir;
}

/** Starts discovery and the sidecars (all but a joiner), waiting until every one is ready. */
export async function startFleet(o: FleetOptions): Promise<Fleet> {
  const [dg, dh] = [await freePort(), await freePort()];
  const discovery = spawnInfergate(['discovery', '--host', '127.0.0.1', '--grpc-port', String(dg), '--http-port', String(dh)], o.verbose);
  await waitReady(`http://127.0.0.1:${dh}/healthz`);
  const doubled = o.double ? repoWithInstances(o.double.instances) : undefined;
  const sidecars: FleetSidecar[] = [];
  for (let i = 0; i < o.sidecars; i++) {
    const [g, h, m] = [await freePort(), await freePort(), await freePort()];
    sidecars.push({
      grpcPort: g,
      httpPort: h,
      metricsPort: m,
      models: i === o.double?.index ? doubled! : BUNDLED_MODELS,
      child: undefined,
    });
  }
  const spawnOne = (s: FleetSidecar) => {
    const args = ['--drain-timeout-ms', '1000', '--fault-admin'];
    s.child = spawnInfergate(sidecarArgs(s.models, { grpc: s.grpcPort, http: s.httpPort, metrics: s.metricsPort }, dg, args), o.verbose);
  };
  const initial = o.joiner ? sidecars.slice(0, -1) : sidecars;
  for (const s of initial) spawnOne(s);
  // Started together, waited for together: model loading overlaps.
  await Promise.all(initial.map((s) => waitReady(`http://127.0.0.1:${s.httpPort}/v2/health/ready`, 60_000)));
  // Straight to each sidecar, before any target: its JIT warms alike for every target, and its latency
  // histogram exists (prom-client lists a labelled series only once it has been observed).
  await Promise.all(initial.map((s) => warmUp(s.grpcPort, 200)));
  const bucketsMs = parseBuckets(await (await fetch(`http://127.0.0.1:${sidecars[0].metricsPort}/metrics`)).text());
  const joiner = sidecars[sidecars.length - 1];
  return {
    discoveryPort: dg,
    sidecars,
    bucketsMs,
    startJoiner: async () => {
      const t0 = performance.now();
      spawnOne(joiner);
      await waitReady(`http://127.0.0.1:${joiner.httpPort}/v2/health/ready`, 60_000);
      return (performance.now() - t0) / 1000;
    },
    stopJoiner: async () => {
      if (joiner.child) await stop(joiner.child, 5000);
      joiner.child = undefined;
    },
    stop: async () => {
      await Promise.all(sidecars.flatMap((s) => (s.child ? [stop(s.child, 5000)] : [])));
      await stop(discovery, 5000);
    },
  };
}

/** `calls` ModelInfer calls straight to a sidecar, 16 at a time; rejects on the first error. */
async function warmUp(port: number, calls: number): Promise<void> {
  const client = new RawClient(`127.0.0.1:${port}`);
  const req = encodeFp32Request('ranker', 'features', 1, 256);
  const one = () => new Promise<void>((resolve, reject) => client.infer(req, (e) => (e ? reject(e) : resolve())));
  try {
    for (let i = 0; i < calls; i += 16) await Promise.all(Array.from({ length: Math.min(16, calls - i) }, one));
  } finally {
    client.close();
  }
}

export interface FaultSetting {
  readonly delay_ms: number;
  readonly abort_percent: number;
}

/** PUT /fault on one sidecar; resolves with the settings it answered, throws on anything but 200. */
export async function setFault(s: FleetSidecar, f: FaultSetting): Promise<FaultSetting> {
  const res = await fetch(`http://127.0.0.1:${s.metricsPort}/fault`, { method: 'PUT', body: JSON.stringify(f) });
  const body = (await res.json()) as FaultSetting & { error?: string };
  if (res.status !== 200) throw new Error(`PUT /fault on :${s.metricsPort}: ${res.status} ${body.error ?? ''}`);
  return body;
}

export const HEALTHY: FaultSetting = { delay_ms: 0, abort_percent: 0 };

const BUCKET = /^infergate_sidecar_request_seconds_bucket\{([^}]*)\} (\d+)/;
const CALLS = /^infergate_sidecar_requests_total\{([^}]*)\} (\d+)/;
const label = (labels: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels)?.[1];
const leMs = (le: string) => (le === '+Inf' ? Infinity : Number(le) * 1000);

/** The latency histogram's bounds (ms, ascending, +Inf last) from one /metrics text. */
export function parseBuckets(text: string): number[] {
  const les = new Set<number>();
  for (const line of text.split('\n')) {
    const m = BUCKET.exec(line);
    if (m) les.add(leMs(label(m[1], 'le') ?? '+Inf'));
  }
  return [...les].sort((a, b) => a - b);
}

/** One sidecar's ranker figures from its /metrics text: calls, non-OK calls, cumulative buckets. */
export function parseSidecarMetrics(text: string, bucketsMs: readonly number[]): { calls: number; nonOk: number; buckets: number[] } {
  let calls = 0;
  let nonOk = 0;
  const buckets = bucketsMs.map(() => 0);
  for (const line of text.split('\n')) {
    const c = CALLS.exec(line);
    if (c && label(c[1], 'model') === 'ranker') {
      calls += Number(c[2]);
      if (label(c[1], 'status') !== 'OK') nonOk += Number(c[2]);
      continue;
    }
    const b = BUCKET.exec(line);
    if (b && label(b[1], 'model') === 'ranker') {
      const k = bucketsMs.indexOf(leMs(label(b[1], 'le') ?? '+Inf'));
      if (k >= 0) buckets[k] += Number(b[2]);
    }
  }
  return { calls, nonOk, buckets };
}

/**
 * Polls every sidecar once. One that is not running (a joiner before it joins) reads as zeros; one
 * whose /metrics fails this time (still loading, or too busy) repeats its figures of prev, so counts
 * never go backwards within a run.
 */
export async function pollFleet(f: Fleet, prev?: Poll): Promise<Poll> {
  const atMs = Date.now();
  const zero = { calls: 0, nonOk: 0, buckets: f.bucketsMs.map(() => 0) };
  const each = await Promise.all(
    f.sidecars.map(async (s, i) => {
      if (!s.child) return zero;
      try {
        return parseSidecarMetrics(await (await fetch(`http://127.0.0.1:${s.metricsPort}/metrics`)).text(), f.bucketsMs);
      } catch {
        return prev ? { calls: prev.calls[i], nonOk: prev.nonOk[i], buckets: [...prev.buckets[i]] } : zero;
      }
    }),
  );
  return { atMs, calls: each.map((e) => e.calls), nonOk: each.map((e) => e.nonOk), buckets: each.map((e) => e.buckets) };
}
