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
  /**
   * The broadcast's payload, kept here as well: a take reads it, and its length, for every entry
   * it visits, and two objects further away each was a cache miss in a large simulated cluster.
   */
  payload: Uint8Array;
  size: number;
  transmits: number;
  /** Replaced, sent its limit, or reset: its slots in the buckets are stale. */
  done: boolean;
}

/** A slot left behind in bucket `t`: its entry is finished or has moved on to a later bucket. */
function isStale(entry: Entry, t: number): boolean {
  return entry.done || entry.transmits !== t;
}

/**
 * Entries live in buckets by transmit count, newest last, so a take visits the least-transmitted
 * entries first without sorting the queue; it costs what it takes, not what is queued, which
 * matters when a bulk change queues thousands of deltas. Moving an entry to the next bucket, or
 * finishing it, leaves a stale slot behind that later passes skip and compaction drops.
 */
export class BroadcastQueue {
  readonly #limit: () => number;
  #buckets: Entry[][] = [];
  readonly #byKey = new Map<string, Entry>();
  #live = 0;
  #slots = 0;
  /**
   * No live payload is shorter than this (it may be lower than the shortest one, after entries
   * left): once the room left of a take is below it, nothing more can fit and the scan stops.
   */
  #minPayload = Number.POSITIVE_INFINITY;

  /** @param limit current retransmit limit; read on every take, as the cluster size changes. */
  constructor(limit: () => number) {
    this.#limit = limit;
  }

  queue(broadcast: Broadcast): void {
    if (broadcast.key !== undefined) {
      const old = this.#byKey.get(broadcast.key);
      if (old) this.#finish(old);
    }
    const payload = broadcast.payload;
    const entry: Entry = { broadcast, payload, size: payload.length, transmits: 0, done: false };
    if (payload.length < this.#minPayload) this.#minPayload = payload.length;
    this.#bucket(0).push(entry);
    this.#slots++;
    this.#live++;
    if (broadcast.key !== undefined) this.#byKey.set(broadcast.key, entry);
  }

  /**
   * Removes and returns up to `limit` bytes of payloads, each charged `overhead` extra bytes,
   * least-transmitted first and newest first among equals, at most `maxCount` of them (a compound
   * packet holds at most 127 parts, docs/wire.md §4.2). A payload that does not fit is skipped, not split.
   */
  take(overhead: number, limit: number, maxCount = Number.POSITIVE_INFINITY): Uint8Array[] {
    if (this.#live === 0 || maxCount <= 0) return [];
    const max = this.#limit();
    const out: Uint8Array[] = [];
    const promoted: Entry[] = [];
    const smallest = overhead + this.#minPayload;
    let used = 0;
    scan: for (let t = 0; t < this.#buckets.length; t++) {
      if (limit - used < smallest) break;
      const bucket = this.#buckets[t] as Entry[];
      // Entries taken last time sit at the tail, newest first; drop them before scanning.
      while (bucket.length > 0 && isStale(bucket[bucket.length - 1] as Entry, t)) {
        bucket.pop();
        this.#slots--;
      }
      for (let i = bucket.length - 1; i >= 0; i--) {
        const entry = bucket[i] as Entry;
        if (entry.done || entry.transmits !== t) continue;
        const cost = overhead + entry.size;
        if (used + cost > limit) continue;
        used += cost;
        out.push(entry.payload);
        entry.transmits++;
        if (entry.transmits >= max) this.#finish(entry);
        else promoted.push(entry);
        if (limit - used <= overhead || limit - used < smallest || out.length >= maxCount) break scan;
      }
    }
    // Promoted after the scan, so that one take never sends the same payload twice.
    for (const entry of promoted) {
      this.#bucket(entry.transmits).push(entry);
      this.#slots++;
    }
    // Every take visits the stale slots it meets, each an object of its own to look at: a queue
    // of a few live broadcasts must not drag dozens of them along.
    if (this.#slots > 2 * this.#live + 8) this.#compact();
    return out;
  }

  size(): number {
    return this.#live;
  }

  /**
   * Drops broadcasts until at most `maxRetain` are left, the most transmitted (and among equals
   * the oldest) first, as memberlist's Prune: they have already reached the most nodes. Returns
   * how many were dropped.
   */
  prune(maxRetain: number): number {
    let excess = this.#live - maxRetain;
    if (excess <= 0) return 0;
    const dropped = excess;
    for (let t = this.#buckets.length - 1; t >= 0 && excess > 0; t--) {
      const bucket = this.#buckets[t] as Entry[];
      for (let i = 0; i < bucket.length && excess > 0; i++) {
        const entry = bucket[i] as Entry;
        if (entry.done || entry.transmits !== t) continue;
        this.#finish(entry);
        excess--;
      }
    }
    this.#compact();
    return dropped;
  }

  /** Drops everything queued (e.g. on shutdown), completing each broadcast. */
  reset(): void {
    const live = this.#buckets.flatMap((bucket, t) => bucket.filter((e) => !e.done && e.transmits === t));
    this.#buckets = [];
    this.#slots = 0;
    for (const entry of live) this.#finish(entry);
  }

  #bucket(transmits: number): Entry[] {
    while (this.#buckets.length <= transmits) this.#buckets.push([]);
    return this.#buckets[transmits] as Entry[];
  }

  #finish(entry: Entry): void {
    if (entry.done) return;
    entry.done = true;
    this.#live--;
    const key = entry.broadcast.key;
    if (key !== undefined && this.#byKey.get(key) === entry) this.#byKey.delete(key);
    entry.broadcast.onDone?.();
  }

  /** Drops stale slots; amortised over the takes that made them. */
  #compact(): void {
    this.#buckets = this.#buckets.map((bucket, t) => bucket.filter((e) => !e.done && e.transmits === t));
    this.#slots = this.#live;
    let min = Number.POSITIVE_INFINITY;
    for (const bucket of this.#buckets) for (const e of bucket) min = Math.min(min, e.size);
    this.#minPayload = min;
  }
}
