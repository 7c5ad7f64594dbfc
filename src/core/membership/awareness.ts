/**
 * Lifeguard local health awareness (Dadgar et al., "Lifeguard", §IV-A "Local Health Multiplier";
 * docs/wire.md §6.9). A node that misses acks, misses expected nacks or has to refute accusations is
 * more likely slow itself than surrounded by failures, so it stretches its own probe interval and
 * timeout by (score + 1) instead of accusing healthy peers.
 */

/** The score after applying `delta`, clamped to [0, max - 1]. */
export function applyHealthDelta(score: number, delta: number, maxMultiplier: number): number {
  return Math.min(Math.max(score + delta, 0), Math.max(0, maxMultiplier - 1));
}

/** A timeout stretched by local health: timeoutMs * (score + 1). */
export function scaleByHealth(timeoutMs: number, score: number): number {
  return timeoutMs * (score + 1);
}

/**
 * The health score deltas Lifeguard assigns. Each is applied once per event:
 * a probe that got an ack, a probe that failed with no nack-capable helpers, each expected nack
 * that did not arrive, each refutation of an accusation about ourselves, and each stall of our
 * own (the event loop or a timer late by half a probe timeout or more, {@link isStall}).
 */
export const HealthDelta = {
  probeSucceeded: -1,
  probeFailed: 1,
  missedNack: 1,
  refuted: 1,
  stalled: 1,
} as const;

/**
 * Whether a delay of our own (event-loop delay, or a timer that fired this late) means this node
 * was too slow to judge others: half a probe timeout or more, long enough to turn an ack in time
 * into an ack too late.
 */
export function isStall(delayMs: number, probeTimeoutMs: number): boolean {
  return delayMs >= probeTimeoutMs / 2;
}

/** Mutable score holder; 0 is healthy, maxMultiplier - 1 is the worst. */
export class Awareness {
  readonly #max: number;
  #score = 0;

  constructor(maxMultiplier: number) {
    this.#max = maxMultiplier;
  }

  get score(): number {
    return this.#score;
  }

  apply(delta: number): void {
    this.#score = applyHealthDelta(this.#score, delta, this.#max);
  }

  scale(timeoutMs: number): number {
    return scaleByHealth(timeoutMs, this.#score);
  }
}
