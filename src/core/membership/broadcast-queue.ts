/**
 * Transmit-limited broadcast queue, as memberlist's TransmitLimitedQueue: every queued broadcast is
 * piggybacked on outgoing packets until it has been sent `retransmitLimit(mult, n)` times. Fresh
 * broadcasts go first (fewest transmits), and a broadcast with the same key replaces the queued
 * one, so only the newest news about one node (or one origin) travels.
 */

/** Retransmissions per broadcast: mult * ceil(log10(n + 1)); epidemic spread to n nodes needs O(log n) rounds. */
export function retransmitLimit(retransmitMult: number, clusterSize: number): number {
  const scale = Math.ceil(Math.log10(clusterSize + 1));
  return retransmitMult * scale;
}

export interface Broadcast {
  /** Queued broadcasts with the same key are invalidated by this one; undefined never invalidates. */
  key: string | undefined;
  payload: Uint8Array;
  /** Called once when the broadcast leaves the queue, sent out or replaced. */
  onDone?: () => void;
}

interface Entry {
  broadcast: Broadcast;
  transmits: number;
  /** Insertion order, to keep FIFO among equal transmit counts. */
  seq: number;
}

export class BroadcastQueue {
  readonly #limit: () => number;
  #entries: Entry[] = [];
  readonly #byKey = new Map<string, Entry>();
  #seq = 0;

  /** @param limit current retransmit limit; read on every take, as the cluster size changes. */
  constructor(limit: () => number) {
    this.#limit = limit;
  }

  queue(broadcast: Broadcast): void {
    if (broadcast.key !== undefined) {
      const old = this.#byKey.get(broadcast.key);
      if (old) {
        this.#entries.splice(this.#entries.indexOf(old), 1);
        old.broadcast.onDone?.();
      }
    }
    const entry: Entry = { broadcast, transmits: 0, seq: this.#seq++ };
    this.#entries.push(entry);
    if (broadcast.key !== undefined) this.#byKey.set(broadcast.key, entry);
  }

  /**
   * Removes and returns up to `limit` bytes of payloads, each charged `overhead` extra bytes,
   * least-transmitted first, at most `maxCount` of them (a compound packet holds at most 127
   * parts, wire.md §4.2). A payload that does not fit is skipped, not split.
   */
  take(overhead: number, limit: number, maxCount = Number.POSITIVE_INFINITY): Uint8Array[] {
    if (this.#entries.length === 0 || maxCount <= 0) return [];
    const max = this.#limit();
    this.#entries.sort((a, b) => a.transmits - b.transmits || b.seq - a.seq);
    const out: Uint8Array[] = [];
    let used = 0;
    const finished: Entry[] = [];
    for (const entry of this.#entries) {
      const cost = overhead + entry.broadcast.payload.length;
      if (used + cost > limit) continue;
      used += cost;
      out.push(entry.broadcast.payload);
      entry.transmits++;
      if (entry.transmits >= max) finished.push(entry);
      if (limit - used <= overhead || out.length >= maxCount) break;
    }
    for (const entry of finished) this.#remove(entry);
    return out;
  }

  size(): number {
    return this.#entries.length;
  }

  /** Drops everything queued (e.g. on shutdown), completing each broadcast. */
  reset(): void {
    const entries = this.#entries;
    this.#entries = [];
    this.#byKey.clear();
    for (const e of entries) e.broadcast.onDone?.();
  }

  #remove(entry: Entry): void {
    const i = this.#entries.indexOf(entry);
    if (i >= 0) this.#entries.splice(i, 1);
    const key = entry.broadcast.key;
    if (key !== undefined && this.#byKey.get(key) === entry) this.#byKey.delete(key);
    entry.broadcast.onDone?.();
  }
}
