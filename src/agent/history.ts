import { KeySpace } from "../core/state/key-space.js";
import type { HealthStatus } from "../core/state/types.js";
import { capacityFor, grown } from "../core/typed-arrays.js";
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
   * Samples an origin's history shows at most, the newest: an hour at the default 5 s interval. A
   * shorter interval shows less than an hour. @default 720
   */
  samplesPerOrigin?: number;
  /**
   * Samples kept over all origins, 25 bytes each: the newest, whatever their origin. All owned
   * origins keep the same span of time: at 30,000 owned origins on one interval each keeps about
   * 16 samples. @default 500000
   */
  samplesTotal?: number;
  /** Samples older than this are not shown. @default 3600000 */
  maxAgeMs?: number;
  /** Transitions kept per origin. @default 20 */
  transitionsPerOrigin?: number;
  /** Origins with transitions kept; past it the one changed longest ago is forgotten. @default 10000 */
  originsWithTransitions?: number;
  /** Health and member events kept for the timeline. @default 500 */
  recentEvents?: number;
}

/**
 * The newest samples of all origins in one circular log of typed arrays, each sample linked to
 * the one before it of the same origin. A sample costs 25 bytes and no object; an origin costs
 * 8 bytes at its key slot (its newest sample's sequence number). The log grows by doubling up to its bound
 * and then overwrites its oldest sample, so that every origin's history covers the same recent
 * span, and an origin probed more often keeps more samples of it.
 *
 * Samples are named by their sequence number `seq` (0 for the first ever written), stored at
 * `seq % capacity`: the log grows only before it first wraps, while that index is `seq` itself.
 * A link is live while its sample has not been overwritten: `seq >= written - capacity`.
 */
class SampleLog {
  readonly #bound: number;
  #at = new Float64Array(0);
  #ms = new Float64Array(0);
  #ok = new Uint8Array(0);
  /** The sequence number of the same origin's sample before, -1 for none. */
  #previous = new Float64Array(0);
  /** Samples ever written. */
  written = 0;

  constructor(bound: number) {
    this.#bound = Math.max(1, bound);
  }

  /** Samples the log holds. */
  get size(): number {
    return Math.min(this.written, this.#at.length);
  }

  /** Appends a sample after `previous` (-1 for an origin's first); returns its sequence number. */
  append(sample: LatencySample, previous: number): number {
    const seq = this.written;
    if (seq === this.#at.length && seq < this.#bound)
      this.#grow(Math.min(this.#bound, Math.max(1024, 2 * seq)));
    const at = seq % this.#at.length;
    this.#at[at] = sample.at;
    this.#ms[at] = sample.ms;
    this.#ok[at] = sample.ok ? 1 : 0;
    this.#previous[at] = this.live(previous) ? previous : -1;
    this.written++;
    return seq;
  }

  /** Whether sample `seq` is still in the log. */
  live(seq: number): boolean {
    return seq >= 0 && seq >= this.written - this.#at.length;
  }

  sample(seq: number): LatencySample {
    const i = seq % this.#at.length;
    return { at: this.#at[i] as number, ms: this.#ms[i] as number, ok: this.#ok[i] === 1 };
  }

  previous(seq: number): number {
    return this.#previous[seq % this.#at.length] as number;
  }

  #grow(capacity: number): void {
    this.#at = grown(this.#at, capacity);
    this.#ms = grown(this.#ms, capacity);
    this.#ok = grown(this.#ok, capacity);
    this.#previous = grown(this.#previous, capacity);
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
  readonly #maxAgeMs: number;
  readonly #transitionsPerOrigin: number;
  readonly #originsWithTransitions: number;
  readonly #recentEvents: number;
  readonly #samples: SampleLog;
  readonly #space: KeySpace;
  /**
   * Per key slot: the sequence number of the origin's newest sample plus one; 0 where this history
   * holds no slot. The history holds the slot of each origin it has samples of, until the origin is
   * forgotten or its samples are all overwritten.
   */
  #newest = new Float64Array(0);
  readonly #transitions = new Map<string, Transition[]>();
  /**
   * Walks #transitions oldest first to find what to evict. An origin written again moves to the
   * end of the map, where the walk meets it again later. Kept from one eviction to the next: a new
   * walk from the start would pass every entry deleted since the map last rehashed, and a burst
   * of transitions over the bound (every origin's first status, at a bootstrap) then costs time
   * in the square of its size.
   */
  #evictTransitions: IterableIterator<string> | undefined;
  #events: TimelineEvent[] = [];

  /** `space` numbers the origins; pass the replica's to share its slots and ids. */
  constructor(limits: HistoryLimits = {}, space: KeySpace = new KeySpace()) {
    this.#space = space;
    this.#samplesPerOrigin = limits.samplesPerOrigin ?? 720;
    this.#samples = new SampleLog(limits.samplesTotal ?? 500_000);
    this.#maxAgeMs = limits.maxAgeMs ?? 3_600_000;
    this.#transitionsPerOrigin = limits.transitionsPerOrigin ?? 20;
    this.#originsWithTransitions = limits.originsWithTransitions ?? 10_000;
    this.#recentEvents = limits.recentEvents ?? 500;
  }

  /** Samples held over all origins, at most `samplesTotal` (some may be of forgotten origins). */
  get sampleCount(): number {
    return this.#samples.size;
  }

  /** Records a probe this node ran. */
  recordProbe(id: string, sample: LatencySample): void {
    let slot = this.#heldSlot(id);
    if (slot === undefined) {
      slot = this.#space.acquire(id);
      if (slot >= this.#newest.length)
        this.#newest = grown(this.#newest, capacityFor(slot, this.#newest.length));
    }
    const previous = (this.#newest[slot] as number) - 1;
    this.#newest[slot] = this.#samples.append(sample, previous) + 1;
  }

  /** The slot of `id` when this history holds it. */
  #heldSlot(id: string): number | undefined {
    const slot = this.#space.slotOf(id);
    return slot !== undefined && slot < this.#newest.length && (this.#newest[slot] as number) > 0
      ? slot
      : undefined;
  }

  #release(slot: number): void {
    this.#newest[slot] = 0;
    this.#space.release(slot);
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
    const slot = this.#heldSlot(id);
    if (slot !== undefined) this.#release(slot);
    this.#transitions.delete(id);
  }

  /** The latency samples of the last `maxAgeMs` before `now`, oldest first, and the transitions. */
  history(id: string, now: number): OriginHistory {
    const latency: OriginHistory["latency"] = [];
    const cutoff = now - this.#maxAgeMs;
    const log = this.#samples;
    const slot = this.#heldSlot(id);
    let seq = slot === undefined ? -1 : (this.#newest[slot] as number) - 1;
    if (slot !== undefined && !log.live(seq)) this.#release(slot);
    for (; log.live(seq) && latency.length < this.#samplesPerOrigin; seq = log.previous(seq)) {
      const sample = log.sample(seq);
      if (sample.at < cutoff) break;
      latency.push({ at: new Date(sample.at).toISOString(), ms: sample.ms, ok: sample.ok });
    }
    latency.reverse();
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
}
