/**
 * The origin catalog: a last-writer-wins map from origin id to {@link OriginEntry}, where a delete
 * writes a tombstone (`spec: null`) so that it can win over older puts that are still travelling.
 * Each entry is a state-based CRDT register and the map's join is the per-key join, so a single
 * entry is also a valid delta (Almeida, Shoker and Baquero, "Delta State Replicated Data Types",
 * JPDS 2018): gossip can carry single entries and anti-entropy whole maps, in any order, any number
 * of times, and replicas that have seen the same entries hold the same catalog.
 */
import { compareHlc } from "./hlc.js";
import type { OriginEntry, OriginSpec } from "./types.js";

/** A live (non-tombstoned) entry. */
export type LiveOriginEntry = OriginEntry & { spec: OriginSpec };

/**
 * A canonical text of a spec: fields and header names in a fixed order, so that equal specs give
 * equal text whatever order their keys were built in.
 */
export function canonicalSpec(spec: OriginSpec | null): string {
  if (spec === null) return "null";
  const headers = Object.keys(spec.headers)
    .sort()
    .map((name) => [name, spec.headers[name]]);
  const fields: unknown[] = [
    spec.url,
    spec.method,
    spec.intervalMs,
    spec.timeoutMs,
    spec.expectStatus,
    spec.healthyThreshold,
    spec.unhealthyThreshold,
    headers,
    spec.bodyContains ?? null,
  ];
  // The probing options of issue 8 are appended only when one is set, so that a spec without them
  // keeps the canonical form older nodes compute.
  const extra = [
    spec.fastIntervalMs,
    spec.downIntervalMs,
    spec.hostHeader,
    spec.followRedirects,
    spec.freshConnection,
    spec.tlsSkipVerify,
    spec.tlsCa,
    spec.tlsServerName,
  ];
  if (extra.some((v) => v !== undefined)) fields.push(...extra.map((v) => v ?? null));
  return JSON.stringify(fields);
}

/**
 * Whether `b` is a spec equal to `a`, field by field, without allocating: the common case of equal
 * stamps (the same write, seen again) is then cheap. `b` may be any value, e.g. undecoded peer input.
 */
export function sameSpec(a: OriginSpec | null, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || typeof b !== "object" || b === null) return false;
  const o = b as Partial<OriginSpec>;
  if (
    o.url !== a.url ||
    o.method !== a.method ||
    o.intervalMs !== a.intervalMs ||
    o.timeoutMs !== a.timeoutMs ||
    o.healthyThreshold !== a.healthyThreshold ||
    o.unhealthyThreshold !== a.unhealthyThreshold ||
    o.bodyContains !== a.bodyContains ||
    o.fastIntervalMs !== a.fastIntervalMs ||
    o.downIntervalMs !== a.downIntervalMs ||
    o.hostHeader !== a.hostHeader ||
    o.followRedirects !== a.followRedirects ||
    o.freshConnection !== a.freshConnection ||
    o.tlsSkipVerify !== a.tlsSkipVerify ||
    o.tlsCa !== a.tlsCa ||
    o.tlsServerName !== a.tlsServerName ||
    !Array.isArray(o.expectStatus) ||
    o.expectStatus.length !== a.expectStatus.length ||
    typeof o.headers !== "object" ||
    o.headers === null
  ) {
    return false;
  }
  for (let i = 0; i < a.expectStatus.length; i++) if (o.expectStatus[i] !== a.expectStatus[i]) return false;
  const names = Object.keys(a.headers);
  if (Object.keys(o.headers).length !== names.length) return false;
  for (const name of names) if (o.headers[name] !== a.headers[name]) return false;
  return true;
}

/**
 * The join of two versions of one origin: the higher stamp wins. Commutative, associative and
 * idempotent. Stamps are unique per write (see hlc.ts), so equal stamps mean the same write; should
 * two different entries ever carry one stamp (a node that lost its data and whose clock went
 * back), the one with the greater canonical text wins, so that replicas still agree.
 * Returns one of its arguments, `a` when both are equal. MUST be called with entries of one id.
 */
export function joinEntry(a: OriginEntry, b: OriginEntry): OriginEntry {
  const order = compareHlc(a.stamp, b.stamp);
  if (order !== 0) return order > 0 ? a : b;
  if (sameSpec(a.spec, b.spec)) return a;
  return canonicalSpec(b.spec) > canonicalSpec(a.spec) ? b : a;
}

export class Catalog {
  readonly #entries = new Map<string, OriginEntry>();
  #live = 0;

  /**
   * Joins `entry` into the catalog. Returns true when the catalog changed (the entry was new or
   * beat the one held). Entries are kept as given: callers MUST NOT mutate them afterwards.
   */
  apply(entry: OriginEntry): boolean {
    const current = this.#entries.get(entry.id);
    if (current !== undefined && joinEntry(current, entry) === current) return false;
    this.#entries.set(entry.id, entry);
    const wasLive = current !== undefined && current.spec !== null;
    this.#live += (entry.spec !== null ? 1 : 0) - (wasLive ? 1 : 0);
    return true;
  }

  /** The entry for `id`, tombstone included, or undefined if this node has never heard of it. */
  get(id: string): OriginEntry | undefined {
    return this.#entries.get(id);
  }

  /** The live origin `id`, or undefined if absent or deleted. */
  getLive(id: string): LiveOriginEntry | undefined {
    const entry = this.#entries.get(id);
    return entry?.spec ? (entry as LiveOriginEntry) : undefined;
  }

  /** Live entries, in insertion order of their ids. */
  live(): LiveOriginEntry[] {
    const out: LiveOriginEntry[] = [];
    for (const entry of this.#entries.values()) if (entry.spec !== null) out.push(entry as LiveOriginEntry);
    return out;
  }

  /** Every entry, tombstones included (what anti-entropy sends). */
  all(): OriginEntry[] {
    return [...this.#entries.values()];
  }

  /** Live origins. */
  get size(): number {
    return this.#live;
  }

  /** Tombstones held. */
  get tombstones(): number {
    return this.#entries.size - this.#live;
  }
}
