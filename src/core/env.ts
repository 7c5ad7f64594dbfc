/**
 * The narrow ports through which the pure core meets the world. The core never reads the wall
 * clock, never arms a real timer and never draws real randomness: the agent passes system
 * implementations, the simulator passes virtual ones, so a seed reruns a cluster exactly.
 */

/** Milliseconds since the epoch (system clock) or since the start of a simulation (virtual). */
export interface Clock {
  now(): number;
}

/** Uniform doubles in [0, 1). */
export interface Rng {
  next(): number;
}

export type TimerHandle = { readonly __timer: unique symbol } | object;

/** One-shot timers on the same time line as {@link Clock}. */
export interface Timers {
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
  /**
   * Runs `fn` once the I/O callbacks of the current turn of the event loop have run, before the
   * next turn's timers (Node's `setImmediate`); not cancellable. Optional: where it is missing, a
   * zero-delay timeout serves, which Node runs a millisecond or more later.
   */
  soon?(fn: () => void): void;
}

/** Structured logging; the core logs and drops bad peer input rather than throwing. */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};

/** A random integer in [0, n). */
export function randomInt(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

/** Fisher-Yates shuffle in place, driven by the injected generator. */
export function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = items[i] as T;
    items[i] = items[j] as T;
    items[j] = tmp;
  }
  return items;
}

/** A small seeded generator (mulberry32) for simulations and tests. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
