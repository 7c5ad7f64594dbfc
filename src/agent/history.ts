import type { HealthStatus } from "../core/state/types.js";
import type { HealthEvent, MemberChangeEvent } from "./node-api.js";

/** One probe this node ran: when it finished (epoch ms), how long it took, whether it passed. */
export interface LatencySample {
  at: number;
  ms: number;
  ok: boolean;
}

/** A status change of one origin as this node saw it (its own probes or gossip). */
export interface Transition {
  at: string;
  status: HealthStatus;
  previous: HealthStatus;
  reporter: string | null;
}

/** `GET /v1/origins/{id}/history`. */
export interface OriginHistory {
  latency: Array<{ at: string; ms: number; ok: boolean }>;
  transitions: Transition[];
}

/** `GET /v1/events/recent`: what the event stream sent, tagged with its kind. */
export type TimelineEvent = ({ kind: "health" } & HealthEvent) | ({ kind: "member" } & MemberChangeEvent);

export interface HistoryLimits {
  /**
   * Samples kept per origin: an hour at the default 5 s interval. A shorter interval keeps less
   * than an hour. @default 720
   */
  samplesPerOrigin?: number;
  /**
   * Samples kept over all origins, about 24 bytes each. Past it, the origin written longest ago
   * gives up its oldest sample, so that owned origins share the budget evenly: at 30,000 owned
   * origins each keeps about 16 samples. @default 500000
   */
  samplesTotal?: number;
  /** Samples older than this are dropped when their origin is written or read. @default 3600000 */
  maxAgeMs?: number;
  /** Transitions kept per origin. @default 20 */
  transitionsPerOrigin?: number;
  /** Origins with transitions kept; past it the one changed longest ago is forgotten. @default 10000 */
  originsWithTransitions?: number;
  /** Health and member events kept for the timeline. @default 500 */
  recentEvents?: number;
}

/**
 * The samples of one origin in a circular buffer, each as three numbers (at, ms, ok as 1 or 0) in
 * one array whose capacity doubles as needed: an origin probed once holds one array of three
 * numbers, not three arrays with room for sixteen more each.
 */
class SampleRing {
  #data: number[] = [];
  #head = 0;
  size = 0;

  get #capacity(): number {
    return this.#data.length / 3;
  }

  push(sample: LatencySample): void {
    if (this.size === this.#capacity) this.#grow(Math.max(1, 2 * this.size));
    const at = 3 * ((this.#head + this.size) % this.#capacity);
    this.#data[at] = sample.at;
    this.#data[at + 1] = sample.ms;
    this.#data[at + 2] = sample.ok ? 1 : 0;
    this.size++;
  }

  dropOldest(): void {
    if (this.size === 0) return;
    this.#head = (this.#head + 1) % this.#capacity;
    this.size--;
  }

  oldestAt(): number | undefined {
    return this.size > 0 ? this.#data[3 * this.#head] : undefined;
  }

  /** The `i`-th sample, oldest first. */
  sample(i: number): LatencySample {
    const at = 3 * ((this.#head + i) % this.#capacity);
    return { at: this.#data[at] as number, ms: this.#data[at + 1] as number, ok: this.#data[at + 2] === 1 };
  }

  #grow(capacity: number): void {
    const next = new Array<number>(3 * capacity).fill(0);
    for (let i = 0; i < this.size; i++) {
      const from = 3 * ((this.#head + i) % this.#capacity);
      next[3 * i] = this.#data[from] as number;
      next[3 * i + 1] = this.#data[from + 1] as number;
      next[3 * i + 2] = this.#data[from + 2] as number;
    }
    this.#data = next;
    this.#head = 0;
  }
}

/**
 * What the dashboard shows of the past, kept in memory by one node and bounded in every
 * dimension: the latency of the probes this node ran, the transitions it saw, and a timeline of
 * the events its stream sent. Nothing here is replicated or persisted; a restart starts empty.
 * Pure: times come in as arguments.
 */
export class NodeHistory {
  readonly #samplesPerOrigin: number;
  readonly #samplesTotal: number;
  readonly #maxAgeMs: number;
  readonly #transitionsPerOrigin: number;
  readonly #originsWithTransitions: number;
  readonly #recentEvents: number;
  /** In order of last write: the first entry is the origin written longest ago. */
  readonly #samples = new Map<string, SampleRing>();
  #sampleCount = 0;
  readonly #transitions = new Map<string, Transition[]>();
  /**
   * Walks #transitions oldest first to find what to evict. An origin written again moves to the
   * end of the map, where the walk meets it again later. Kept from one eviction to the next: a new
   * walk from the start would pass every entry deleted since the map last rehashed, and a burst
   * of transitions over the bound (every origin's first status, at a bootstrap) then costs time
   * in the square of its size.
   */
  #evictTransitions: IterableIterator<string> | undefined;
  #evictSamples: IterableIterator<[string, SampleRing]> | undefined;
  #events: TimelineEvent[] = [];

  constructor(limits: HistoryLimits = {}) {
    this.#samplesPerOrigin = limits.samplesPerOrigin ?? 720;
    this.#samplesTotal = limits.samplesTotal ?? 500_000;
    this.#maxAgeMs = limits.maxAgeMs ?? 3_600_000;
    this.#transitionsPerOrigin = limits.transitionsPerOrigin ?? 20;
    this.#originsWithTransitions = limits.originsWithTransitions ?? 10_000;
    this.#recentEvents = limits.recentEvents ?? 500;
  }

  /** Samples held over all origins. */
  get sampleCount(): number {
    return this.#sampleCount;
  }

  /** Records a probe this node ran. */
  recordProbe(id: string, sample: LatencySample): void {
    let ring = this.#samples.get(id);
    if (ring) this.#samples.delete(id);
    else ring = new SampleRing();
    this.#samples.set(id, ring);
    ring.push(sample);
    this.#sampleCount++;
    this.#expire(id, ring, sample.at);
    if (ring.size > this.#samplesPerOrigin) this.#drop(id, ring);
    while (this.#sampleCount > this.#samplesTotal) {
      let next = this.#evictSamples?.next();
      if (!next || next.done) {
        this.#evictSamples = this.#samples.entries();
        next = this.#evictSamples.next();
      }
      const [oldestId, oldest] = next.value as [string, SampleRing];
      this.#drop(oldestId, oldest);
    }
  }

  /** Records a health event (a transition of `event.id`) and adds it to the timeline. */
  recordHealth(event: HealthEvent): void {
    let list = this.#transitions.get(event.id);
    if (list) this.#transitions.delete(event.id);
    else list = [];
    this.#transitions.set(event.id, list);
    list.push({ at: event.at, status: event.status, previous: event.previous, reporter: event.reporter });
    if (list.length > this.#transitionsPerOrigin) list.shift();
    if (this.#transitions.size > this.#originsWithTransitions) {
      let next = this.#evictTransitions?.next();
      if (!next || next.done) {
        this.#evictTransitions = this.#transitions.keys();
        next = this.#evictTransitions.next();
      }
      this.#transitions.delete(next.value as string);
    }
    this.#remember({ kind: "health", ...event });
  }

  /** Adds a membership event to the timeline. */
  recordMember(event: MemberChangeEvent): void {
    this.#remember({ kind: "member", ...event });
  }

  /** Forgets a deleted origin. */
  forget(id: string): void {
    const ring = this.#samples.get(id);
    if (ring) {
      this.#sampleCount -= ring.size;
      this.#samples.delete(id);
    }
    this.#transitions.delete(id);
  }

  /** The latency samples of the last `maxAgeMs` before `now`, oldest first, and the transitions. */
  history(id: string, now: number): OriginHistory {
    const latency: OriginHistory["latency"] = [];
    const ring = this.#samples.get(id);
    if (ring) {
      this.#expire(id, ring, now);
      for (let i = 0; i < ring.size; i++) {
        const sample = ring.sample(i);
        latency.push({ at: new Date(sample.at).toISOString(), ms: sample.ms, ok: sample.ok });
      }
    }
    return { latency, transitions: [...(this.#transitions.get(id) ?? [])] };
  }

  /** The newest `limit` timeline events, oldest first. */
  recent(limit: number): TimelineEvent[] {
    const count = Math.min(limit, this.#recentEvents);
    return this.#events.slice(Math.max(0, this.#events.length - count));
  }

  #remember(event: TimelineEvent): void {
    this.#events.push(event);
    // Trimmed in batches: one copy per `recentEvents` events rather than a shift per event.
    if (this.#events.length >= this.#recentEvents * 2) this.#events = this.#events.slice(-this.#recentEvents);
  }

  #expire(id: string, ring: SampleRing, now: number): void {
    const cutoff = now - this.#maxAgeMs;
    for (let oldest = ring.oldestAt(); oldest !== undefined && oldest < cutoff; oldest = ring.oldestAt()) {
      this.#drop(id, ring);
    }
  }

  #drop(id: string, ring: SampleRing): void {
    ring.dropOldest();
    this.#sampleCount--;
    if (ring.size === 0) this.#samples.delete(id);
  }
}
