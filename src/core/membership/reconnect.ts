import type { Address } from "../address.js";

/**
 * Serf's reconnect to failed members (docs/wire.md §6.7). memberlist forgets a dead member after a
 * while and never contacts it again, so two halves of a partition that outlasts that time would
 * stay split forever. Serf remembers failed members much longer and now and then push-pull joins
 * one of them; the first exchange that gets through makes each side refute the other's verdict.
 */

/**
 * Chance that one node attempts a reconnect in one interval: failed / live, capped at 1. Summed
 * over the live members that is about one attempt per failed member per interval cluster-wide.
 */
export function reconnectProbability(failed: number, live: number): number {
  if (failed <= 0) return 0;
  if (live <= 0) return 1;
  return Math.min(1, failed / live);
}

interface FailedEntry {
  address: Address;
  since: number;
}

/** Members declared dead, kept as reconnect candidates until they return, leave or expire. */
export class FailedRoster {
  readonly #entries = new Map<string, FailedEntry>();

  /** Records (or refreshes) a failure. */
  failed(name: string, address: Address, now: number): void {
    this.#entries.set(name, { address, since: now });
  }

  /** The member is back or left gracefully: no reason to reconnect. */
  clear(name: string): void {
    this.#entries.delete(name);
  }

  /** Drops entries older than `timeoutMs` and returns the number left. */
  expire(now: number, timeoutMs: number): number {
    for (const [name, entry] of this.#entries) {
      if (now - entry.since > timeoutMs) this.#entries.delete(name);
    }
    return this.#entries.size;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The candidate at `index` in insertion order (0 <= index < size). */
  at(index: number): { name: string; address: Address } | undefined {
    let i = 0;
    for (const [name, entry] of this.#entries) {
      if (i++ === index) return { name, address: entry.address };
    }
    return undefined;
  }
}
