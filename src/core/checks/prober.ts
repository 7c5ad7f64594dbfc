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
 * What a prober needs of the signal that cancels a probe: the part of `AbortSignal` it uses, so
 * that an `AbortSignal` serves, and so does a lighter object made per probe by a caller that starts
 * thousands of probes a second (see the checker). A listener is a function or an object with a
 * `handleEvent` method, as for `EventTarget`; it is called at most once, on abort.
 */
export interface ProbeSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: "abort", listener: ProbeSignalListener, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: ProbeSignalListener): void;
}

export type ProbeSignalListener = (() => void) | { handleEvent(): void };

/**
 * Sends one HTTP(S) probe for an origin (contract.md "Probes"). Every failure of the target resolves
 * as a result with `ok: false`; the promise rejects only when the caller's `signal` aborts (with its
 * reason), so that a shutdown is never recorded as an unhealthy origin.
 */
export interface Prober {
  probe(spec: OriginSpec, signal?: ProbeSignal): Promise<ProbeResult>;
}
