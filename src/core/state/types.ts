/**
 * Replicated state: the origin catalog and the health registers, two causal maps keyed by origin id
 * (causal-map.ts) that share one causal context per replica (dots.ts, replication.ts).
 */
import type { Dot } from "./dots.js";

/** Hybrid logical clock timestamp: wall ms, a counter within the ms, and the writer for tie-breaks. */
export interface Hlc {
  wall: number;
  counter: number;
  node: string;
}

export type HttpMethod = "GET" | "HEAD";

/** An origin spec with every default filled in (contract.md "Origin spec"). */
export interface OriginSpec {
  url: string;
  method: HttpMethod;
  intervalMs: number;
  timeoutMs: number;
  /** Codes and "200-399"-style ranges, as the user gave them. */
  expectStatus: Array<number | string>;
  healthyThreshold: number;
  unhealthyThreshold: number;
  headers: Record<string, string>;
  bodyContains?: string;
  /** Probe interval while the status is changing (a streak towards a flip), HAProxy's `fastinter`. */
  fastIntervalMs?: number;
  /** Probe interval while the origin is unhealthy, HAProxy's `downinter`. */
  downIntervalMs?: number;
  /** Sent as the Host header (and used as the TLS server name unless `tlsServerName` is set). */
  hostHeader?: string;
  /** Follow redirects (at most 5); when absent a 3xx is judged by `expectStatus` as it is. */
  followRedirects?: true;
  /** Open a new connection for every probe instead of reusing a kept-alive one. */
  freshConnection?: true;
  /** Accept any certificate (https only). */
  tlsSkipVerify?: true;
  /** PEM certificates to verify the origin against instead of the system's CAs (https only). */
  tlsCa?: string;
  /** The TLS server name (SNI) and the name the certificate must match (https only). */
  tlsServerName?: string;
  /**
   * false: turn `unhealthy` on this node's probes alone. By default the owner first asks the next
   * member in the origin's rendezvous order to probe once, and the status flips only if that
   * probe fails too.
   */
  confirm?: false;
}

/**
 * A catalog version's value. `target` is the dot of the write that last changed what is probed
 * (URL, method, headers): health written against an older target does not apply to this spec.
 */
export interface CatalogValue {
  spec: OriginSpec;
  target: Dot;
}

/** A live origin as readers see it: the visible catalog version. */
export interface OriginEntry {
  id: string;
  spec: OriginSpec;
  /** The write that produced this version. */
  dot: Dot;
  /** See {@link CatalogValue.target}. */
  target: Dot;
  /** Wall ms of the write's hybrid logical clock. */
  wall: number;
}

export type HealthStatus = "unknown" | "healthy" | "unhealthy";

/** The health of one origin as an owner reports it. */
export interface HealthRecord {
  id: string;
  status: HealthStatus;
  /** The node whose probe set the status. */
  reporter: string | null;
  /** Epoch ms of the last completed probe known here, or null. */
  checkedAt: number | null;
  /** Epoch ms of the last status change, or null. */
  changedAt: number | null;
  latencyMs: number | null;
  error: string | null;
  /** The member whose probe confirmed the last turn to `unhealthy`, when one did. */
  confirmedBy?: string | null;
}

/** A health version's value: the record's fields and the catalog target it was measured against. */
export type HealthValue = Omit<HealthRecord, "id"> & { target: Dot };
