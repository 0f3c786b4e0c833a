// A manual clock for tests: time moves only when advance() is called, and
// timers fire in time order during advance().
import type { Clock, TimerHandle } from '../../common/clock';

interface Timer {
  id: number;
  at: number;
  fn: (arg?: unknown) => void;
  arg: unknown;
}

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(start = 1000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle;
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle;
  setTimeout(fn: (arg?: unknown) => void, ms: number, arg?: unknown): TimerHandle {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn, arg });
    return id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((x) => x.id !== (handle as unknown as number));
  }

  /** Nothing holds a process open on a fake clock. */
  unref(): void {}

  /** Number of timers not yet fired. */
  pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by ms, firing due timers in order (ties by creation). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const x of this.timers) if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn(next.arg);
    }
    this.t = end;
  }
}
