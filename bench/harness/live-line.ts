// The live line: one line on stderr, redrawn each second of a phase (rate,
// p99, errors, elapsed), so a long run shows it is alive without flooding a
// terminal. Nothing at all when stderr is not a terminal or CI is set: logs
// and pipes get only the final table.
import type { TickStats } from './types';

/** A tick sink for LoadOptions.onTick; end() finishes the line (also done by a phase's last tick). */
export type LiveLine = ((t: TickStats) => void) & { end(): void };

/** Whether live output is wanted here: stderr is a TTY and the CI variable is unset. */
export function liveWanted(stream: { isTTY?: boolean } = process.stderr, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!stream.isTTY && !env.CI;
}

/** The text of one tick's line (no control characters). */
export function formatTick(t: TickStats): string {
  const pct = t.sent > 0 ? ` (${((100 * t.errors) / Math.max(1, t.ok + t.errors)).toFixed(1)} %)` : '';
  return (
    `${t.label}  ${(t.elapsedMs / 1000).toFixed(0)}/${(t.totalMs / 1000).toFixed(0)} s  ` +
    `${t.ok + t.errors} answers/s  sent ${t.sent}/s  p50 ${t.p50Ms.toFixed(2)} ms  p99 ${t.p99Ms.toFixed(2)} ms  errors ${t.errors}${pct}`
  );
}

/**
 * A live line for ticks; `quiet` (or no TTY, or CI) gives a sink that prints nothing. Each tick redraws the
 * line in place; the phase's last tick (elapsed = total) or end() moves to a new line.
 */
export function liveLine(quiet: boolean, out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): LiveLine {
  const on = !quiet && liveWanted(out);
  let open = false;
  const end = (): void => {
    if (open) out.write('\n');
    open = false;
  };
  const tick = (t: TickStats): void => {
    if (!on) return;
    const cols = (out as { columns?: number }).columns ?? 160;
    // \r + erase-line, truncated to the terminal so it never wraps (a wrapped line cannot be redrawn).
    out.write(`\r\x1b[2K${formatTick(t).slice(0, Math.max(20, cols - 1))}`);
    open = true;
    if (t.elapsedMs >= t.totalMs) end();
  };
  return Object.assign(tick, { end });
}
