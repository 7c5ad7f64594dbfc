/**
 * The threshold state machine of contract.md "Probes". A status starts `unknown`; the first
 * completed probe decides it; after that it flips to `unhealthy` only after `unhealthyThreshold`
 * consecutive failures and back to `healthy` only after `healthyThreshold` consecutive successes,
 * so that one lost packet does not page anyone. The streak counters live only on the owner: when
 * ownership moves, the new owner starts from the replicated status with both counters at zero
 * (contract.md: "no reset to unknown").
 */
import type { HealthStatus, OriginSpec } from "../state/types.js";

export interface CheckState {
  readonly status: HealthStatus;
  /** Successes in a row, up to and including the latest probe (0 after a failure). */
  readonly successes: number;
  /** Failures in a row, up to and including the latest probe (0 after a success). */
  readonly failures: number;
}

export type Thresholds = Pick<OriginSpec, "healthyThreshold" | "unhealthyThreshold">;

/**
 * Where an owner starts: the status this node has replicated for the origin (or `unknown` when it
 * has none), with no streak. A previous owner's streak is deliberately not carried over: it is not
 * replicated, and an old streak joined to new probes could flip a status on fewer probes than the
 * thresholds ask of this owner.
 */
export function initialCheckState(replicated: HealthStatus = "unknown"): CheckState {
  return { status: replicated, successes: 0, failures: 0 };
}

/** The state after one completed probe (`ok`: the probe succeeded). Pure. */
export function nextCheckState(state: CheckState, ok: boolean, thresholds: Thresholds): CheckState {
  const successes = ok ? state.successes + 1 : 0;
  const failures = ok ? 0 : state.failures + 1;
  let status = state.status;
  if (status === "unknown") status = ok ? "healthy" : "unhealthy";
  else if (status === "healthy" && failures >= thresholds.unhealthyThreshold) status = "unhealthy";
  else if (status === "unhealthy" && successes >= thresholds.healthyThreshold) status = "healthy";
  return { status, successes, failures };
}
