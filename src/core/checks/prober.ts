import type { OriginSpec } from "../state/types.js";

/** The outcome of one probe, as the check state machine and the health register record it. */
export interface ProbeResult {
  /** True when the request completed, the status matched `expectStatus` and the body held `bodyContains`. */
  ok: boolean;
  /** The response status, or null when no response arrived (connect error, timeout before headers). */
  statusCode: number | null;
  /** Milliseconds from the start of the probe to its verdict, failures included. */
  latencyMs: number;
  /** A short human reason when `ok` is false ("timeout after 2000 ms", "connect ECONNREFUSED"), else null. */
  error: string | null;
}

/**
 * Sends one HTTP(S) probe for an origin (contract.md "Probes"). Every failure of the target resolves
 * as a result with `ok: false`; the promise rejects only when the caller's `signal` aborts (with its
 * reason), so that a shutdown is never recorded as an unhealthy origin.
 */
export interface Prober {
  probe(spec: OriginSpec, signal?: AbortSignal): Promise<ProbeResult>;
}
