// One worker's measurements: the phase histogram, errors by status, the
// generator's own lateness, and one-second buckets posted as each second
// ends (the live line and the report's time series). Only measured calls
// reach it. Times are performance.now() ms of the worker's thread.
import type * as hdr from 'hdr-histogram-js';
import { encodeHistogram, newHistogram, recordMs } from './histogram';
import type { DoneMessage, SecondMessage } from './worker-protocol';

/** A send more than this late counts as late (LoadResult.generator.lateFraction). */
export const LATE_MS = 1;

/** Records one worker's measured calls and posts its seconds. */
export class Recorder {
  private readonly total = newHistogram();
  private readonly second: hdr.Histogram = newHistogram();
  private readonly lag: hdr.Histogram = newHistogram();
  private readonly errors: Record<string, number> = {};
  private readonly lastIndex: number;
  private cur = 0;
  private curSent = 0;
  private curOk = 0;
  private curErrors = 0;
  private sent = 0;
  private ok = 0;
  private maxLagMs = 0;
  private late = 0;
  private lastSend = -1;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  /** measureStart: when measuring starts (this thread's performance.now() ms); post: where seconds go. */
  constructor(
    private readonly measureStart: number,
    durationMs: number,
    private readonly post: (m: SecondMessage) => void,
  ) {
    // Completions during the drain after the last second land in the last one.
    this.lastIndex = Math.max(0, Math.ceil(durationMs / 1000) - 1);
  }

  /** Starts posting each second as it ends, even when nothing happens in it (a stalled server). */
  startClock(): void {
    const arm = (): void => {
      if (this.finished || this.cur >= this.lastIndex) return;
      const wait = this.measureStart + (this.cur + 1) * 1000 - performance.now();
      this.timer = setTimeout(
        () => {
          this.roll(performance.now());
          arm();
        },
        Math.max(1, wait + 1),
      );
    };
    arm();
  }

  /** A measured send at `now`, `lagMs` behind its due time (0 in a closed loop). */
  onSend(now: number, lagMs: number): void {
    this.roll(now);
    this.sent++;
    this.curSent++;
    if (lagMs > this.maxLagMs) this.maxLagMs = lagMs;
    if (lagMs > LATE_MS) this.late++;
    recordMs(this.lag, lagMs);
    this.lastSend = now;
  }

  /** A measured call answered OK at `now` after `latencyMs`. */
  onOk(now: number, latencyMs: number): void {
    this.roll(now);
    this.ok++;
    this.curOk++;
    recordMs(this.total, latencyMs);
    recordMs(this.second, latencyMs);
  }

  /** A measured call that failed at `now` with error key `key` (status name, http_NNN, transport...). */
  onError(now: number, key: string): void {
    this.roll(now);
    this.errors[key] = (this.errors[key] ?? 0) + 1;
    this.curErrors++;
  }

  /** Posts the last second and returns the totals; `unfinished` calls count as errors, `unsent` as not sent. */
  finish(unfinished: number, unsent: number, elu: number): DoneMessage {
    this.finished = true; // nothing is posted after the totals
    if (this.timer) clearTimeout(this.timer);
    if (unfinished > 0) {
      this.errors.unfinished = (this.errors.unfinished ?? 0) + unfinished;
      this.curErrors += unfinished;
    }
    this.flush();
    return {
      type: 'done',
      histogram: encodeHistogram(this.total),
      sent: this.sent,
      ok: this.ok,
      errors: this.errors,
      maxLagMs: this.maxLagMs,
      late: this.late,
      lagHistogram: encodeHistogram(this.lag),
      unsent,
      lastSendMs: this.lastSend < 0 ? -1 : this.lastSend - this.measureStart,
      elu,
    };
  }

  /** Moves to the second `now` falls in, posting the ones that ended. */
  private roll(now: number): void {
    if (this.finished) return;
    const idx = Math.min(this.lastIndex, Math.max(0, Math.floor((now - this.measureStart) / 1000)));
    while (this.cur < idx) {
      this.flush();
      this.cur++;
    }
  }

  private flush(): void {
    this.post({
      type: 'second',
      index: this.cur,
      sent: this.curSent,
      ok: this.curOk,
      errors: this.curErrors,
      histogram: encodeHistogram(this.second),
    });
    this.second.reset();
    this.curSent = this.curOk = this.curErrors = 0;
  }
}
