// Declarative command-line flags: one table per command drives both parsing
// and --help, so every flag is in --help by construction.
import { parseArgs } from 'node:util';

/** One flag. Values are strings on the command line; parse() converts them. */
export interface FlagSpec<T> {
  /** Flag name without dashes, e.g. 'grpc-port'. */
  readonly name: string;
  /** Placeholder shown in --help, e.g. 'PORT'; absent for boolean switches. */
  readonly arg?: string;
  /** One line of help. */
  readonly help: string;
  /** Default value (shown in --help unless undefined). */
  readonly default: T;
  /** Converts the raw string; throws Error with a message naming what is expected. */
  readonly parse?: (raw: string) => T;
}

/** A command's flags and its one-line description. */
export interface CommandSpec<F extends Record<string, FlagSpec<unknown>>> {
  readonly name: string;
  readonly summary: string;
  readonly flags: F;
}

export type FlagValues<F extends Record<string, FlagSpec<unknown>>> = { [K in keyof F]: F[K]['default'] };

/** Thrown for bad command lines; the CLI prints the message and exits 2. */
export class UsageError extends Error {}

/** A string taken as given. */
export const text = (raw: string): string => raw;

/** Integer port 0-65535. */
export const port = (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`'${raw}' is not a port; expected an integer 0-65535`);
  return n;
};

/** Non-negative number. */
export const nonNegative = (raw: string): number => {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`'${raw}' is not a non-negative number`);
  return n;
};

/** Integer >= 1 (counts: workers, sidecars). */
export const positiveInt = (raw: string): number => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`'${raw}' is not a count; expected an integer >= 1`);
  return n;
};

/** Parses argv against a command's flags; '--help' yields null after printing help. */
export function parseFlags<F extends Record<string, FlagSpec<unknown>>>(spec: CommandSpec<F>, argv: string[]): FlagValues<F> | null {
  const options: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const f of Object.values(spec.flags)) options[f.name] = { type: f.arg ? 'string' : 'boolean' };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nRun 'infergate ${spec.name} --help' for the flags.`);
  }
  if (parsed.values.help) {
    process.stdout.write(helpText(spec));
    return null;
  }
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(spec.flags)) {
    const raw = parsed.values[f.name];
    if (raw === undefined) out[key] = f.default;
    else if (typeof raw === 'boolean' || !f.parse) out[key] = raw;
    else {
      try {
        out[key] = f.parse(raw);
      } catch (e) {
        throw new UsageError(`--${f.name}: ${(e as Error).message}`);
      }
    }
  }
  return out as FlagValues<F>;
}

/** The --help text for a command. */
export function helpText<F extends Record<string, FlagSpec<unknown>>>(spec: CommandSpec<F>): string {
  const rows = Object.values(spec.flags).map((f) => {
    const left = `--${f.name}${f.arg ? ` ${f.arg}` : ''}`;
    const def = f.default === undefined || f.default === false || f.default === '' ? '' : ` (default: ${String(f.default)})`;
    return [left, f.help + def] as const;
  });
  rows.push(['--help', 'Show this help and exit.']);
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return `Usage: infergate ${spec.name} [flags]\n\n${spec.summary}\n\nFlags:\n${rows.map(([l, r]) => `  ${l.padEnd(w)}${r}`).join('\n')}\n`;
}
