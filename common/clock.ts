// Time and randomness are injected everywhere decisions depend on them (P2C,
// EWMA, breakers, deadlines, the batcher), so tests pin seeds and advance
// time instead of sleeping.

/** A source of monotonic time and timers. */
export interface Clock {
  /** Monotonic milliseconds (fractional); only differences are meaningful. */
  now(): number;
  /** Calls fn after ms milliseconds; returns a handle for clearTimeout. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Calls fn(arg) after ms milliseconds: a module-level fn and an arg spare a closure per timer on hot paths. */
  setTimeout<A>(fn: (arg: A) => void, ms: number, arg: A): TimerHandle;
  /** Cancels a timer set by setTimeout; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
  /** Lets the process exit while this timer is pending (Node's unref()); housekeeping timers use it. */
  unref(handle: TimerHandle): void;
}

/** Opaque timer handle. */
export type TimerHandle = { readonly __timer: unique symbol } | NodeJS.Timeout;

/** The process clock: performance.now() and Node's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(fn: (arg?: unknown) => void, ms: number, arg?: unknown): TimerHandle {
    // Node copies extra arguments into an array: pass none when the caller passed none.
    return arguments.length > 2 ? setTimeout(fn, ms, arg) : setTimeout(fn, ms);
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  unref: (h) => void (h as NodeJS.Timeout).unref(),
};

/** A uniform random source in [0, 1). */
export type Random = () => number;

/** Math.random, for production. */
export const systemRandom: Random = Math.random;

/** mulberry32: a small seeded generator for tests and generated models. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
