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
  return checkState(replicated, 0, 0);
}

/** Streaks up to this length are shared states; longer ones are made as needed. */
const SHARED_STREAK = 32;

/** Shared, frozen states: [status][streak], one table for success streaks and one for failures. */
const shared: Partial<Record<HealthStatus, { successes: CheckState[]; failures: CheckState[] }>> = {};
for (const status of ["unknown", "healthy", "unhealthy"] as const) {
  const row = { successes: [] as CheckState[], failures: [] as CheckState[] };
  for (let n = 0; n <= SHARED_STREAK; n++) {
    row.successes.push(Object.freeze({ status, successes: n, failures: 0 }));
    row.failures.push(
      n === 0 ? (row.successes[0] as CheckState) : Object.freeze({ status, successes: 0, failures: n }),
    );
  }
  shared[status] = row;
}

/**
 * The state with these fields. A state is a value (never changed in place), and an owner's probe
 * makes one per probe: at 100,000 owned origins a new object each time would be garbage that lives
 * an interval, so the common ones (one streak at zero, the other short) are shared.
 */
export function checkState(status: HealthStatus, successes: number, failures: number): CheckState {
  const row = shared[status];
  if (row !== undefined && failures === 0 && successes <= SHARED_STREAK)
    return row.successes[successes] as CheckState;
  if (row !== undefined && successes === 0 && failures <= SHARED_STREAK)
    return row.failures[failures] as CheckState;
  return { status, successes, failures };
}

/** The state after one completed probe (`ok`: the probe succeeded). Pure. */
export function nextCheckState(state: CheckState, ok: boolean, thresholds: Thresholds): CheckState {
  const successes = ok ? state.successes + 1 : 0;
  const failures = ok ? 0 : state.failures + 1;
  let status = state.status;
  if (status === "unknown") status = ok ? "healthy" : "unhealthy";
  else if (status === "healthy" && failures >= thresholds.unhealthyThreshold) status = "unhealthy";
  else if (status === "unhealthy" && successes >= thresholds.healthyThreshold) status = "healthy";
  return checkState(status, successes, failures);
}
