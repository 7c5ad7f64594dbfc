/**
 * When an owner probes an origin. Two spreads keep probes from bunching:
 *
 * - a deterministic phase: an owner that takes over many origins at once (at start, or when a
 *   member dies and its origins move) starts each one at an offset derived from a hash of the
 *   origin id, so first probes are spread evenly instead of firing together; later probes keep to
 *   the origin's grid of instants (its phase plus whole intervals, {@link gridDueAt}), so that
 *   origins bunched by a handover or a backlog spread out again, and every node computes the same
 *   grid for an origin;
 * - optionally, a random jitter on every later probe, a percentage of the interval as Envoy's
 *   `interval_jitter_percent` (the agent's `--probe-jitter-percent`). Unlike Envoy's, which only
 *   adds, it is centred on the interval: the mean gap stays exactly one interval, so an origin sees
 *   one probe per interval on average, not slightly fewer. It is off by default, as in Envoy and
 *   HAProxy: the phases already keep origins with the same interval apart, and with a jitter of
 *   J % two probes of an origin may be up to J % of an interval further apart than the interval,
 *   which is as much longer as an origin whose owner crashes can go unprobed (issue 8, item 3:
 *   at most the failure detection time plus one interval).
 *
 * Which interval applies depends on the check state, as HAProxy's `inter`, `fastinter` and
 * `downinter`: see {@link intervalFor}.
 */

import type { Rng } from "../env.js";
import { xxh32 } from "../hash.js";
import type { OriginSpec } from "../state/types.js";
import type { CheckState } from "./check-state.js";

/**
 * Later probes come within ±(jitterPercent / 2) % of one interval around their grid instant; by
 * default on it exactly.
 */
export const DEFAULT_JITTER_PERCENT = 0;

/**
 * An inherited origin is first probed within min(interval, this): a new owner must not leave an
 * origin with a one-hour interval unprobed for an hour (issue 8, item 3).
 */
export const DEFAULT_HANDOVER_SPREAD_MS = 2000;

/** The origin's deterministic offset within a window of `windowMs`, in [0, windowMs). */
export function phaseOffsetMs(originId: string, windowMs: number): number {
  return Math.floor((xxh32(originId, 0) / 2 ** 32) * windowMs);
}

/**
 * When a new owner first probes the origin: `now` plus the origin's phase within
 * min(intervalMs, handoverSpreadMs). Spread by the id's hash, so that a crash that moves 30,000
 * origins to this node starts them evenly over the window rather than all at once.
 */
export function firstDueAt(
  originId: string,
  intervalMs: number,
  now: number,
  handoverSpreadMs = DEFAULT_HANDOVER_SPREAD_MS,
): number {
  return now + phaseOffsetMs(originId, Math.max(1, Math.min(intervalMs, handoverSpreadMs)));
}

/**
 * When a new owner first probes an origin whose previous owner (or this node, earlier) last
 * probed it at `lastProbedAt` (the replicated health record's `checkedAt`), so that a handover
 * leaves no hole and adds no probe:
 *
 * - not due yet (the previous owner left or died within the interval): the origin's next instant
 *   on its grid, the one the previous owner would have used, so that its cadence goes on;
 * - overdue by `overdue` ms (its owner died and detecting that took longer than the rest of the
 *   interval): at once if it is overdue by the whole handover window min(intervalMs,
 *   handoverSpreadMs) or more (the instant returned is then the missed one plus the window, in
 *   the past), else within what remains of that window, spread by the id's hash.
 *   The origins that have gone unprobed the longest come first, and none waits past the window
 *   after its missed probe; a crash that moves many origins still spreads most of them, since their
 *   last probes were spread over an interval.
 *
 * Without a last probe (a new origin), or with one from a clock that runs more than an interval
 * ahead, this is {@link firstDueAt}.
 */
export function inheritedDueAt(
  originId: string,
  intervalMs: number,
  now: number,
  lastProbedAt: number | null | undefined,
  rng: Rng,
  jitterPercent = DEFAULT_JITTER_PERCENT,
  handoverSpreadMs = DEFAULT_HANDOVER_SPREAD_MS,
): number {
  if (lastProbedAt === null || lastProbedAt === undefined) {
    return firstDueAt(originId, intervalMs, now, handoverSpreadMs);
  }
  // A last probe stamped more than an interval ahead of this clock: its grid cannot be trusted.
  if (lastProbedAt > now + intervalMs) return firstDueAt(originId, intervalMs, now, handoverSpreadMs);
  // The next grid instant lies up to 1.5 intervals (and the jitter) after the last probe: the
  // previous owner would have waited for it too, so waiting adds no hole and no probe.
  const next = gridDueAt(originId, lastProbedAt, intervalMs, rng, jitterPercent);
  if (next >= now) return next;
  const window = Math.max(1, Math.min(intervalMs, handoverSpreadMs));
  const overdue = now - next;
  // Overdue by the whole window: due at once. The instant returned is then in the past (the missed
  // one plus the window), so that in a due-time heap the origins unprobed the longest go first.
  if (overdue >= window) return next + window;
  return now + phaseOffsetMs(originId, window - overdue);
}

/**
 * When the probe after one that started at `startedAt` is due, on the origin's own grid: the
 * instants `phaseOffsetMs(originId, intervalMs) + k * intervalMs` on the shared clock, the first
 * one at least half an interval after `startedAt`, moved by a jitter centred on it
 * (`jitterPercent` of the interval wide). The caller arms it only once the previous probe has
 * settled, so probes of one origin never overlap even when the jitter shortens the gap. A probe that ran on time gets the next grid instant, one interval on; one that
 * ran late (waiting for a free slot, or as the first probe after a handover) does not push its
 * successors back: the origin returns to its phase, so a crowd of origins that bunched up (a node
 * taking over 100,000 of them within 2 s) spreads out over the interval again after one round
 * rather than staying bunched. Every node computes the same grid, so a new owner keeps the
 * origin's cadence.
 */
export function gridDueAt(
  originId: string,
  startedAt: number,
  intervalMs: number,
  rng: Rng,
  jitterPercent = DEFAULT_JITTER_PERCENT,
): number {
  const phase = phaseOffsetMs(originId, intervalMs);
  const k = Math.ceil((startedAt + intervalMs / 2 - phase) / intervalMs);
  const grid = k * intervalMs + phase;
  return grid + Math.floor((rng.next() - 0.5) * (jitterPercent / 100) * intervalMs);
}

/**
 * The interval for the probe after a result, by check state (HAProxy's semantics):
 * `fastIntervalMs` while the status is changing (still `unknown`, or a streak of results against
 * the current status has begun), `downIntervalMs` while `unhealthy` with no success since, else
 * `intervalMs`. Either falls back to `intervalMs` when the spec does not set it.
 */
export function intervalFor(
  spec: Pick<OriginSpec, "intervalMs" | "fastIntervalMs" | "downIntervalMs">,
  check: CheckState,
): number {
  const changing =
    check.status === "unknown" ||
    (check.status === "healthy" && check.failures > 0) ||
    (check.status === "unhealthy" && check.successes > 0);
  if (changing) return spec.fastIntervalMs ?? spec.intervalMs;
  if (check.status === "unhealthy") return spec.downIntervalMs ?? spec.intervalMs;
  return spec.intervalMs;
}
