// Reads a benchmark scenario file (bench/scenarios/*.yaml). Every problem in
// a file is reported at once, naming file, field and line
// (common/config-check.ts), before anything is started: a typo in phase 7
// should not cost the six phases before it.
//
//   name: skew                      # required; the report's scenario name
//   description: text               # optional; the report's first note
//   topology:                       # what the scenario starts (and stops)
//     sidecars:                     # required, one entry per sidecar; {} = healthy
//       - { fault_delay_ms: 50, fault_abort_percent: 0 }   # --fault-delay-ms / --fault-abort-percent
//     balancer: { workers: 1 }      # optional: one balancer (target `infergate`), or a list of
//                                   #   them (targets `infergate:0`, `infergate:1`, ...; `infergate` = the first)
//     peers: [nginx, haproxy]       # optional; each proxies to every sidecar; a missing binary is skipped with a note
//   defaults:                       # optional; any phase field below except label/target/rate/concurrency/steps
//     model: ranker                 # default ranker (the load engine's default payload is one ranker row)
//     version: "1"                  # default: none (the balancer's split decides)
//     mode: unary                   # unary | stream | rest (rest: infergate or sidecar targets only)
//     duration: 5s                  # measured time: seconds as a number, or "500ms", "5s", "1m"; default 5s
//     warmup: 1s                    # load before measuring, same schedule, no gap; default 1s
//     prime: 0s                     # a separate, unreported load before the phase (a balancer's learned
//                                   #   latency estimates; see skew.yaml); default 0s
//     connections: 4                # HTTP/2 connections per load worker; default 4
//     workers: 1                    # load-generating threads; default 1
//     drain: 2s                     # wait for late answers before counting them unfinished; default: the engine's
//   phases:                         # required, run in order; one result each (a steps phase: one per step)
//     - label: text                 # optional; default "<target> <mode> <rate>/s" (or "c<concurrency>")
//       target: infergate           # infergate | infergate:N | nginx | haproxy | sidecar:N (direct, no proxy)
//       rate: 500                   # open loop, requests/s; or
//       concurrency: 32             # closed loop, callers; or
//       steps: [250, 500, 1000]     # open loop at each rate in turn (ascending), labels "<label> @<rate>/s"
//       stop_at_saturation: true    # steps only (default true): stop after a step that did not keep up
//                                   #   (answered < 90 % of the offered rate, errors > 1 %, or p99 >= 1 s)
//       # ...and any defaults field, for this phase only.
import { readFile } from 'node:fs/promises';
import { isSeq } from 'yaml';
import { ConfigDocument, type Mapping, type Value } from '../../common/config-check';
import type { LoadMode } from '../harness/types';

/** A proxy the scenario may compare against infergate. */
export type PeerName = 'nginx' | 'haproxy';

/** One sidecar to start. */
export interface SidecarSpec {
  /** --fault-delay-ms (0 = off). */
  readonly faultDelayMs: number;
  /** --fault-abort-percent (0 = off). */
  readonly faultAbortPercent: number;
}

/** What a scenario starts. */
export interface TopologySpec {
  readonly sidecars: readonly SidecarSpec[];
  /** Balancers by index (target `infergate:N`); each entry is its --workers. Empty: no balancer. */
  readonly balancers: readonly { readonly workers: number }[];
  readonly peers: readonly PeerName[];
}

/** One load phase, fully resolved (defaults applied). */
export interface PhaseSpec {
  readonly label: string;
  /** Canonical target name: infergate:N, nginx, haproxy or sidecar:N. */
  readonly target: string;
  readonly mode: LoadMode;
  readonly model: string;
  readonly version?: string;
  /** Exactly one of rate, concurrency and steps is set. */
  readonly rate?: number;
  readonly concurrency?: number;
  readonly steps?: readonly number[];
  readonly stopAtSaturation: boolean;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly primeMs: number;
  readonly connections: number;
  readonly workers: number;
  readonly drainMs?: number;
}

/** A parsed scenario file. */
export interface Scenario {
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  readonly topology: TopologySpec;
  readonly phases: readonly PhaseSpec[];
}

const ROOT_KEYS = ['name', 'description', 'topology', 'defaults', 'phases'];
const TOPOLOGY_KEYS = ['sidecars', 'balancer', 'peers'];
const SIDECAR_KEYS = ['fault_delay_ms', 'fault_abort_percent'];
const DEFAULT_KEYS = ['model', 'version', 'mode', 'duration', 'warmup', 'prime', 'connections', 'workers', 'drain'];
const PHASE_KEYS = ['label', 'target', 'rate', 'concurrency', 'steps', 'stop_at_saturation', ...DEFAULT_KEYS];
const MODES: readonly LoadMode[] = ['unary', 'stream', 'rest'];
const PEERS: readonly PeerName[] = ['nginx', 'haproxy'];
const TARGET = /^(infergate|sidecar)(?::(\d+))?$|^(nginx|haproxy)$/;
// Bounds keep every loop finite: no phase longer than 10 minutes, no rate beyond what one machine could offer.
const MAX_MS = 600_000;
const MAX_RATE = 1_000_000;

/** Fields a phase inherits, as read from `defaults` (or the built-ins). */
type Inherited = Omit<PhaseSpec, 'label' | 'target' | 'rate' | 'concurrency' | 'steps' | 'stopAtSaturation'>;
const BUILTIN: Inherited = { mode: 'unary', model: 'ranker', durationMs: 5000, warmupMs: 1000, primeMs: 0, connections: 4, workers: 1 };

/** Parses and checks scenario text; throws a ConfigError listing every problem. */
export function parseScenario(text: string, file: string): Scenario {
  const doc = ConfigDocument.parse(text, file);
  const root = doc.root.map(ROOT_KEYS);
  const name = root.field('name').string() ?? '';
  const description = root.opt<string | undefined>('description', undefined, (v) => v.string());
  const topology = readTopology(root.section('topology', TOPOLOGY_KEYS));
  const defaults = readInherited(root.section('defaults', DEFAULT_KEYS), BUILTIN);
  const phases = root.field('phases').list((v) => readPhase(v, defaults, topology), { nonEmpty: true, what: 'a list of phases' }) ?? [];
  return doc.finish<Scenario>({ file, name, ...(description !== undefined && { description }), topology, phases });
}

/** Reads and parses a scenario file. */
export async function loadScenario(file: string): Promise<Scenario> {
  return parseScenario(await readFile(file, 'utf8'), file);
}

/** How reports name a target: `infergate` when the scenario has one balancer, else the canonical name. */
export function targetName(target: string, t: TopologySpec): string {
  return target === 'infergate:0' && t.balancers.length === 1 ? 'infergate' : target;
}

function readTopology(m: Mapping): TopologySpec {
  const sidecars =
    m.field('sidecars').list(
      (v) => {
        const s = v.map(SIDECAR_KEYS);
        return {
          faultDelayMs: s.opt('fault_delay_ms', 0, (x) => x.int({ min: 0, max: MAX_MS })),
          faultAbortPercent: s.opt('fault_abort_percent', 0, (x) => x.number({ min: 0, max: 100 })),
        };
      },
      { nonEmpty: true, what: 'a list of sidecars ({} for a healthy one)' },
    ) ?? [];
  const bv = m.get('balancer');
  const readBalancer = (v: Value) => ({ workers: v.map(['workers']).opt('workers', 1, (x) => x.int({ min: 1, max: 64 })) });
  // A mapping is the common case (one balancer); a list compares balancers, e.g. --workers 1 against 2.
  const balancers = !bv
    ? []
    : isSeq(bv.node)
      ? (bv.list(readBalancer, { nonEmpty: true, what: 'a list of balancers' }) ?? [])
      : [readBalancer(bv)];
  const seen = new Set<string>();
  const peers = m.opt<PeerName[]>('peers', [], (v) =>
    v.list(
      (p) => {
        const name = p.oneOf(PEERS);
        if (name && seen.has(name)) return p.fail('each peer once', `${name} again`);
        if (name) seen.add(name);
        return name;
      },
      { what: `a list of peers (${PEERS.join(', ')})` },
    ),
  );
  return { sidecars, balancers, peers };
}

/** A duration: a number of seconds, or a string with a unit (ms, s, m). */
function readDuration(v: Value, min: number): number | undefined {
  const raw = v.raw();
  let ms: number | undefined;
  if (typeof raw === 'number') ms = raw * 1000;
  const m = typeof raw === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/.exec(raw) : null;
  if (m) ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
  if (ms !== undefined && Number.isFinite(ms) && ms >= min && ms <= MAX_MS) return Math.round(ms);
  return v.fail(`a duration from ${min} ms to 10 m: seconds as a number, or e.g. "500ms", "5s", "1m"`);
}

/** The inheritable fields of a mapping (defaults or a phase), each falling back to base. */
function readInherited(m: Mapping, base: Inherited): Inherited {
  const version = m.opt<string | undefined>('version', base.version, (v) => {
    const raw = v.raw();
    return (typeof raw === 'number' || typeof raw === 'string') && /^[1-9][0-9]*$/.test(String(raw))
      ? String(raw)
      : v.fail('a positive integer version, e.g. 1');
  });
  const drainMs = m.opt<number | undefined>('drain', base.drainMs, (v) => readDuration(v, 0));
  return {
    mode: m.opt('mode', base.mode, (v) => v.oneOf(MODES)),
    model: m.opt('model', base.model, (v) => v.string()),
    ...(version !== undefined && { version }),
    durationMs: m.opt('duration', base.durationMs, (v) => readDuration(v, 500)),
    warmupMs: m.opt('warmup', base.warmupMs, (v) => readDuration(v, 0)),
    primeMs: m.opt('prime', base.primeMs, (v) => readDuration(v, 0)),
    connections: m.opt('connections', base.connections, (v) => v.int({ min: 1, max: 1024 })),
    workers: m.opt('workers', base.workers, (v) => v.int({ min: 1, max: 64 })),
    ...(drainMs !== undefined && { drainMs }),
  };
}

/** A target name checked against the topology; returns its canonical form (infergate → infergate:0). */
function readTarget(v: Value, t: TopologySpec, mode: LoadMode): string | undefined {
  const raw = v.string();
  if (raw === undefined) return undefined;
  const m = TARGET.exec(raw);
  if (!m) return v.fail('infergate, infergate:N, nginx, haproxy or sidecar:N');
  const kind = m[1] ?? m[3];
  if (kind === 'nginx' || kind === 'haproxy') {
    if (!t.peers.includes(kind)) return v.fail(`a peer listed in topology.peers (add ${kind} there)`);
    // Both peers listen for gRPC over h2 only (bench/lib/peers.ts): REST cannot reach them.
    return mode === 'rest' ? v.fail('infergate or sidecar:N for mode rest (the peers proxy gRPC only)') : kind;
  }
  const index = Number(m[2] ?? 0);
  if (kind === 'sidecar' && m[2] === undefined) return v.fail('sidecar:N, a sidecar index from 0');
  const count = kind === 'sidecar' ? t.sidecars.length : t.balancers.length;
  // No sidecars means topology.sidecars was invalid, already reported: one mistake, one error.
  if (kind === 'sidecar' && count === 0) return undefined;
  if (index >= count)
    return v.fail(count === 0 ? 'a target the topology starts (no topology.balancer)' : `${kind}:0 to ${kind}:${count - 1}`);
  return `${kind}:${index}`;
}

function readPhase(v: Value, defaults: Inherited, t: TopologySpec): PhaseSpec | undefined {
  const m = v.map(PHASE_KEYS);
  const own = readInherited(m, defaults);
  const target = readTarget(m.field('target'), t, own.mode);
  const rate = m.opt<number | undefined>('rate', undefined, (x) => x.number({ min: 0.1, max: MAX_RATE }));
  const concurrency = m.opt<number | undefined>('concurrency', undefined, (x) => x.int({ min: 1, max: 10_000 }));
  let prev = 0;
  const steps = m.opt<number[] | undefined>('steps', undefined, (x) =>
    x.list(
      (s) => {
        const r = s.number({ min: 0.1, max: MAX_RATE });
        if (r !== undefined && r <= prev) return s.fail(`a rate above the step before (${prev})`);
        return ((prev = r ?? prev), r);
      },
      { nonEmpty: true, what: 'a list of ascending rates' },
    ),
  );
  const given = ['rate', 'concurrency', 'steps'].filter((k) => m.get(k));
  if (given.length !== 1 && !m.broken)
    v.fail('exactly one of rate, concurrency, steps', given.length ? given.join(' and ') : 'none of them');
  const stopV = m.get('stop_at_saturation');
  if (stopV && !m.get('steps')) stopV.fail('stop_at_saturation only with steps');
  const stopAtSaturation = m.opt('stop_at_saturation', true, (x) => x.bool());
  if (target === undefined || given.length !== 1 || (rate ?? concurrency ?? steps) === undefined) return undefined;
  const what = rate !== undefined ? `${rate}/s` : concurrency !== undefined ? `c${concurrency}` : 'steps';
  const label = m.opt('label', `${targetName(target, t)} ${own.mode} ${what}`, (x) => x.string());
  return {
    ...own,
    label,
    target,
    ...(rate !== undefined && { rate }),
    ...(concurrency !== undefined && { concurrency }),
    ...(steps && { steps }),
    stopAtSaturation,
  };
}
