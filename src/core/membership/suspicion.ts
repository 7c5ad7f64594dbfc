import type { Clock, TimerHandle, Timers } from "../env.js";

/**
 * Lifeguard suspicion (Dadgar et al., "Lifeguard: Local Health Awareness for More Accurate Failure
 * Detection", §IV-B "Dynamic Suspicion Timeouts"; docs/wire.md §6.9). A suspicion starts at a generous
 * maximum timeout and shrinks towards the SWIM minimum as independent members confirm it, so a slow
 * accuser alone cannot kill a healthy node quickly, while a genuinely failed node, which many
 * members suspect, is declared dead near the minimum.
 */

export interface SuspicionBounds {
  minMs: number;
  maxMs: number;
}

/**
 * The lower bound: suspicionMult * max(1, log10(n)) * probeInterval. Larger clusters take longer
 * because gossip needs O(log n) rounds to reach everyone, and the suspect must hear the rumour to
 * refute it (docs/wire.md §6.9). Whole milliseconds, rounded down.
 */
export function suspicionTimeoutMs(
  suspicionMult: number,
  clusterSize: number,
  probeIntervalMs: number,
): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, clusterSize)));
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs);
}

/** min from {@link suspicionTimeoutMs}, max = suspicionMaxTimeoutMult * min. */
export function suspicionBounds(
  config: { suspicionMult: number; suspicionMaxTimeoutMult: number; probeIntervalMs: number },
  clusterSize: number,
): SuspicionBounds {
  const minMs = suspicionTimeoutMs(config.suspicionMult, clusterSize, config.probeIntervalMs);
  return { minMs, maxMs: config.suspicionMaxTimeoutMult * minMs };
}

/**
 * Independent confirmations a suspicion waits for: suspicionMult - 2, or 0 when the cluster is too
 * small to supply them (n - 2 < k: neither the suspect nor the accuser can confirm).
 */
export function expectedConfirmations(suspicionMult: number, clusterSize: number): number {
  const k = suspicionMult - 2;
  return clusterSize - 2 < k ? 0 : Math.max(0, k);
}

/**
 * The total timeout after `confirmations` distinct confirmers out of `k` expected:
 * max - (ln(c + 1) / ln(k + 1)) * (max - min), floored to whole ms and never below min. The
 * logarithm makes the first confirmations count most (Lifeguard §IV-B). With k = 0 it is min.
 */
export function suspicionTotalMs(confirmations: number, k: number, bounds: SuspicionBounds): number {
  if (k < 1) return bounds.minMs;
  const frac = Math.log(confirmations + 1) / Math.log(k + 1);
  const raw = bounds.maxMs - frac * (bounds.maxMs - bounds.minMs);
  return Math.max(bounds.minMs, Math.floor(raw));
}

/** Time left of {@link suspicionTotalMs} once `elapsedMs` have passed; may be zero or negative. */
export function remainingSuspicionMs(
  confirmations: number,
  k: number,
  elapsedMs: number,
  bounds: SuspicionBounds,
): number {
  return suspicionTotalMs(confirmations, k, bounds) - elapsedMs;
}

/**
 * One live suspicion of one member. Counts distinct confirmers (the original accuser counts as
 * none) and rearms its single timer through the injected Timers each time a new one arrives. The
 * timeout callback fires at most once, with the number of confirmations seen.
 */
export class Suspicion {
  readonly #k: number;
  readonly #bounds: SuspicionBounds;
  readonly #clock: Clock;
  readonly #timers: Timers;
  readonly #onTimeout: (confirmations: number) => void;
  readonly #start: number;
  readonly #confirmers = new Set<string>();
  #timer: TimerHandle | undefined;
  #fired = false;

  constructor(options: {
    /** The accuser; its own repeated accusations do not count as confirmations. */
    from: string;
    k: number;
    bounds: SuspicionBounds;
    clock: Clock;
    timers: Timers;
    onTimeout: (confirmations: number) => void;
  }) {
    this.#k = options.k;
    this.#bounds = options.bounds;
    this.#clock = options.clock;
    this.#timers = options.timers;
    this.#onTimeout = options.onTimeout;
    this.#start = this.#clock.now();
    this.#confirmers.add(options.from);
    this.#arm(this.#k < 1 ? this.#bounds.minMs : this.#bounds.maxMs);
  }

  /** Confirmations counted so far (distinct confirmers other than the accuser). */
  get confirmations(): number {
    return this.#confirmers.size - 1;
  }

  /**
   * Records a confirmation from `from`. Returns true only for a new, distinct confirmer while more
   * confirmations can still shorten the timeout; such a confirmation is worth re-gossiping.
   */
  confirm(from: string): boolean {
    if (this.#fired || this.confirmations >= this.#k) return false;
    if (this.#confirmers.has(from)) return false;
    this.#confirmers.add(from);
    const elapsed = this.#clock.now() - this.#start;
    this.#arm(remainingSuspicionMs(this.confirmations, this.#k, elapsed, this.#bounds));
    return true;
  }

  /** Cancels the timer; the callback will not fire. Safe to call more than once. */
  cancel(): void {
    this.#fired = true;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = this.#timers.setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#fired) return;
        this.#fired = true;
        this.#onTimeout(this.confirmations);
      },
      Math.max(0, delayMs),
    );
  }
}
