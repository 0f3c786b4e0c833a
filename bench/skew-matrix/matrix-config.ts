// The skew matrix's dimensions, read from bench/scenarios/skew-matrix.yaml
// (its fields are documented at the top of that file) with every problem
// reported at once (common/config-check.ts), and expanded into cells: one
// per offered rate x slow sidecar x fleet size, plus the special cells.
import { readFile } from 'node:fs/promises';
import { ConfigDocument, type Mapping, type Value } from '../../common/config-check';

/** How the fleet's one odd sidecar misbehaves. */
export interface SlowSpec {
  /** Short name in cell names: d25, a20. */
  readonly name: string;
  readonly delayMs: number;
  readonly abortPercent: number;
}

/** The thresholds of the verdict (verdict.ts). */
export interface VerdictSpec {
  /** infergate p99 at most this times the best peer's, where the slow sidecar sets the peers' p99. */
  readonly p99Ratio: number;
  /** A sidecar with at least this share (%) of a window's calls counts as used; under it, as avoided. */
  readonly sharePercent: number;
  /** Convergence within this many seconds. */
  readonly convergeS: number;
  /** A joining or recovered sidecar has converged once its share reaches this % of its fair share. */
  readonly fairPercent: number;
}

export type SpecialKind = 'double' | 'slowmid' | 'join';

/** One cell of the matrix. */
export interface Cell {
  /** r2000-d25-n4, rmax-a20-n8, special-join. */
  readonly name: string;
  /** Requests/s offered; 'max' is resolved per fleet size at run time. */
  readonly rate: number | 'max';
  readonly sidecars: number;
  readonly seconds: number;
  /** The misbehaving sidecar's faults (the last sidecar of the fleet); none for double and join. */
  readonly slow?: SlowSpec;
  readonly special?: SpecialKind;
}

export interface MatrixSpec {
  readonly file: string;
  readonly cells: readonly Cell[];
  /** A number, or 'auto': search with a healthy fleet (max-rate.ts). */
  readonly maxRate: number | 'auto';
  readonly search: {
    readonly from: number;
    readonly factor: number;
    readonly refine: number;
    readonly seconds: number;
    readonly answeredPercent: number;
    readonly p99Ms: number;
  };
  readonly windows: Readonly<Record<'cold' | 'warm', readonly [number, number]>>;
  readonly load: { readonly clients: number; readonly maxStreams: number; readonly pollMs: number };
  readonly verdict: VerdictSpec;
  readonly double: { readonly instances: number };
  readonly slowmid: { readonly delayMs: number; readonly slowAtS: number; readonly recoverAtS: number };
  readonly join: { readonly joinAtS: number };
}

const ROOT = ['rates', 'slow', 'fleets', 'seconds', 'max_rate', 'max_search', 'windows', 'load', 'verdict', 'specials'];
const SPECIAL_KEYS = ['rate', 'sidecars', 'seconds', 'double', 'slowmid', 'join'];

const rateOf = (v: Value): number | 'max' | undefined => (v.raw() === 'max' ? 'max' : v.number({ min: 1, max: 1_000_000 }));

function readSlow(v: Value): SlowSpec | undefined {
  const m = v.map(['name', 'delay_ms', 'abort_percent']);
  const name = m.field('name').string();
  const delayMs = m.opt('delay_ms', 0, (x) => x.number({ min: 0, max: 60_000 }));
  const abortPercent = m.opt('abort_percent', 0, (x) => x.number({ min: 0, max: 100 }));
  if (name !== undefined && !/^[a-z0-9]+$/.test(name)) return m.field('name').fail('lower-case letters and digits (it goes in cell names)');
  if (delayMs === 0 && abortPercent === 0 && !m.broken) return v.fail('delay_ms and/or abort_percent above 0', 'a healthy sidecar');
  return name === undefined ? undefined : { name, delayMs, abortPercent };
}

function window(m: Mapping, key: string, def: readonly [number, number]): readonly [number, number] {
  return m.opt(key, def, (v) => {
    const w = v.list((x) => x.number({ min: 0, max: 3600 }));
    return w && w.length === 2 && w[0] < w[1] ? ([w[0], w[1]] as const) : v.fail('[from_s, to_s] with from < to');
  });
}

/** Parses and checks the matrix text; throws a ConfigError listing every problem. */
export function parseMatrix(text: string, file: string): MatrixSpec {
  const doc = ConfigDocument.parse(text, file);
  const root = doc.root.map(ROOT);
  const rates = root.field('rates').list(rateOf, { nonEmpty: true, what: 'a list of rates (req/s, or max)' }) ?? [];
  const slows = root.field('slow').list(readSlow, { nonEmpty: true, what: 'a list of slow sidecars' }) ?? [];
  const fleets = root.field('fleets').list((v) => v.int({ min: 2, max: 64 }), { nonEmpty: true, what: 'a list of fleet sizes' }) ?? [];
  const seconds = root.opt('seconds', 15, (v) => v.number({ min: 1, max: 600 }));
  const maxV = root.get('max_rate');
  const maxRate = maxV?.raw() === 'auto' || !maxV ? 'auto' : (maxV.number({ min: 1, max: 1_000_000 }) ?? 'auto');
  const ms = root.section('max_search', ['from', 'factor', 'refine', 'seconds', 'answered_percent', 'p99_ms']);
  const search = {
    from: ms.opt('from', 1000, (v) => v.number({ min: 1 })),
    factor: ms.opt('factor', 2, (v) => v.number({ min: 1.1, max: 4 })),
    refine: ms.opt('refine', 2, (v) => v.int({ min: 0, max: 6 })),
    seconds: ms.opt('seconds', 4, (v) => v.number({ min: 1, max: 60 })),
    answeredPercent: ms.opt('answered_percent', 95, (v) => v.number({ min: 1, max: 100 })),
    p99Ms: ms.opt('p99_ms', 1000, (v) => v.number({ min: 1 })),
  };
  const wm = root.section('windows', ['cold', 'warm']);
  const windows = { cold: window(wm, 'cold', [0, 5]), warm: window(wm, 'warm', [10, 15]) };
  const lm = root.section('load', ['clients', 'max_streams', 'poll_ms']);
  const load = {
    clients: lm.opt('clients', 8, (v) => v.int({ min: 1, max: 256 })),
    maxStreams: lm.opt('max_streams', 256, (v) => v.int({ min: 1, max: 4096 })),
    pollMs: lm.opt('poll_ms', 250, (v) => v.int({ min: 50, max: 1000 })),
  };
  const vm = root.section('verdict', ['p99_ratio', 'share_percent', 'converge_s', 'fair_percent']);
  const verdict = {
    p99Ratio: vm.opt('p99_ratio', 0.5, (v) => v.number({ min: 0.01, max: 1 })),
    sharePercent: vm.opt('share_percent', 1, (v) => v.number({ min: 0, max: 100 })),
    convergeS: vm.opt('converge_s', 1, (v) => v.number({ min: 0 })),
    fairPercent: vm.opt('fair_percent', 75, (v) => v.number({ min: 1, max: 100 })),
  };
  const sp = root.section('specials', SPECIAL_KEYS);
  const sRate = sp.opt<number | 'max'>('rate', 2000, rateOf);
  const sSidecars = sp.opt('sidecars', 4, (v) => v.int({ min: 2, max: 64 }));
  const sSeconds = sp.opt('seconds', 30, (v) => v.number({ min: 1, max: 600 }));
  const dm = sp.section('double', ['instances']);
  const double = { instances: dm.opt('instances', 2, (v) => v.int({ min: 2, max: 16 })) };
  const smm = sp.section('slowmid', ['delay_ms', 'slow_at_s', 'recover_at_s']);
  const slowmid = {
    delayMs: smm.opt('delay_ms', 25, (v) => v.number({ min: 1, max: 60_000 })),
    slowAtS: smm.opt('slow_at_s', 10, (v) => v.number({ min: 0 })),
    recoverAtS: smm.opt('recover_at_s', 20, (v) => v.number({ min: 0 })),
  };
  if (slowmid.recoverAtS <= slowmid.slowAtS || slowmid.recoverAtS >= sSeconds)
    smm.value.fail(`slow_at_s < recover_at_s < specials.seconds (${sSeconds})`, `${slowmid.slowAtS} and ${slowmid.recoverAtS}`);
  const jm = sp.section('join', ['join_at_s']);
  const join = { joinAtS: jm.opt('join_at_s', 10, (v) => v.number({ min: 1 })) };
  if (join.joinAtS >= sSeconds) jm.value.fail(`join_at_s < specials.seconds (${sSeconds})`, String(join.joinAtS));

  const cells: Cell[] = [];
  for (const n of fleets)
    for (const rate of rates)
      for (const slow of slows) cells.push({ name: `r${rate}-${slow.name}-n${n}`, rate, sidecars: n, seconds, slow });
  const special = (kind: SpecialKind, slow?: SlowSpec): Cell => ({
    name: `special-${kind}`,
    rate: sRate,
    sidecars: sSidecars,
    seconds: sSeconds,
    special: kind,
    ...(slow && { slow }),
  });
  cells.push(special('double'), special('slowmid', { name: 'mid', delayMs: slowmid.delayMs, abortPercent: 0 }), special('join'));
  return doc.finish({ file, cells, maxRate, search, windows, load, verdict, double, slowmid, join });
}

export async function loadMatrix(file: string): Promise<MatrixSpec> {
  return parseMatrix(await readFile(file, 'utf8'), file);
}
