/**
 * When an owner probes an origin. Two spreads keep probes from bunching:
 *
 * - a deterministic phase: an owner that takes over many origins at once (at start, or when a
 *   member dies and its origins move) starts each one at an offset within its interval derived
 *   from a hash of the origin id, so first probes are spread evenly instead of firing together, and
 *   every node computes the same offset for an origin;
 * - a random jitter spanning {@link JITTER_FRACTION} of the interval, centred on it, on every later
 *   probe, so that origins with the same interval do not stay in lock step (the same reason
 *   memberlist and Serf randomise their timers), while the mean gap stays exactly one interval:
 *   an origin sees one probe per interval on average, not slightly fewer.
 */
import { xxh32 } from "@node-rs/xxhash";
import type { Rng } from "../env.js";

/** Later probes come within ±JITTER_FRACTION/2 intervals of one interval after the previous start. */
export const JITTER_FRACTION = 0.1;

/** The origin's deterministic offset within its interval, in [0, intervalMs). */
export function phaseOffsetMs(originId: string, intervalMs: number): number {
  return Math.floor((xxh32(originId, 0) / 2 ** 32) * intervalMs);
}

/** When a new owner first probes the origin: `now` plus the origin's phase offset. */
export function firstDueAt(originId: string, intervalMs: number, now: number): number {
  return now + phaseOffsetMs(originId, intervalMs);
}

/**
 * When the probe after one that started at `startedAt` is due. The caller arms it only once the
 * previous probe has settled, so probes of one origin never overlap even when the jitter shortens
 * the gap.
 */
export function nextDueAt(startedAt: number, intervalMs: number, rng: Rng): number {
  return startedAt + intervalMs + Math.floor((rng.next() - 0.5) * JITTER_FRACTION * intervalMs);
}
