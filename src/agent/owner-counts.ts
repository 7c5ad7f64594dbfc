import type { HealthStatus } from "../core/state/types.js";
import { emptyOwnerCount, type OwnerCount } from "./node-api.js";

export interface OwnerCounterOptions {
  /**
   * Live origin ids, read lazily through a pass: a live view of the catalog's keys serves, since an
   * origin added or removed while a pass runs may be counted or not (the next pass has it), and no
   * copy of 100,000 keys is made per pass.
   */
  ids(): Iterable<string>;
  /** How many ids {@link ids} gives now. */
  size(): number;
  /** Members that may own origins; each is listed even when it owns none. */
  candidates(): readonly string[];
  ownerOf(id: string): string | undefined;
  /** undefined when the origin is gone (deleted during a pass). */
  statusOf(id: string, owner: string): HealthStatus | undefined;
  /** Runs `fn` on a later turn of the event loop (setImmediate in the agent). */
  later(fn: () => void): void;
  now(): number;
  /** Origins counted per turn. @default 500 */
  sliceSize?: number;
  /** A result this recent is served even when stale, so passes run at most this often. @default 2000 */
  minIntervalMs?: number;
}

/**
 * Origins per owner and status (`GET /v1/owners`). Counting hashes every origin and reads its
 * health, about 5 µs each: 500 ms at 100,000 origins, far too long to hold the event loop, which
 * also runs SWIM's probe timers. So a count runs in slices, one per turn (about 5 ms each), and
 * readers get the last finished count, slightly stale, while a new pass runs.
 */
export class OwnerCounter {
  readonly #o: OwnerCounterOptions;
  readonly #sliceSize: number;
  readonly #minIntervalMs: number;
  #last: { counts: Map<string, OwnerCount>; startedAt: number; generation: number } | undefined;
  /** Bumped by every change that can alter a count. */
  #generation = 0;
  #running = false;
  #stopped = false;

  constructor(options: OwnerCounterOptions) {
    this.#o = options;
    this.#sliceSize = options.sliceSize ?? 500;
    this.#minIntervalMs = options.minIntervalMs ?? 2000;
  }

  /** Something changed: an origin came or went, a status changed, a member changed. */
  invalidate(): void {
    this.#generation++;
  }

  /**
   * The last finished count; starts a new pass in the background when it is out of date. Before
   * the first pass has finished, a catalog of one slice is counted at once; a larger one gets
   * zeros for every candidate meanwhile ({@link ready} says which).
   */
  counts(): Map<string, OwnerCount> {
    const last = this.#last;
    if (!last) {
      if (this.#o.size() <= this.#sliceSize) {
        const pass = this.#start();
        while (!pass.step(Number.POSITIVE_INFINITY));
        return this.#last!.counts;
      }
      this.#startInBackground();
      return new Map(this.#o.candidates().map((name) => [name, emptyOwnerCount()]));
    }
    const stale = last.generation !== this.#generation;
    if (stale && this.#o.now() - last.startedAt >= this.#minIntervalMs) this.#startInBackground();
    return last.counts;
  }

  /** Whether a count has finished, so that {@link counts} holds figures and not placeholders. */
  ready(): boolean {
    return this.#last !== undefined;
  }

  /** Abandons a pass in progress. Safe twice. */
  stop(): void {
    this.#stopped = true;
  }

  #startInBackground(): void {
    if (this.#running) return;
    this.#running = true;
    const pass = this.#start();
    const step = (): void => {
      if (this.#stopped) return;
      if (pass.step(this.#sliceSize)) this.#running = false;
      else this.#o.later(step);
    };
    this.#o.later(step);
  }

  #start(): { step(budget: number): boolean } {
    const generation = this.#generation;
    const startedAt = this.#o.now();
    const ids = this.#o.ids()[Symbol.iterator]();
    const counts = new Map(this.#o.candidates().map((name) => [name, emptyOwnerCount()]));
    return {
      step: (budget) => {
        for (let n = 0; n < budget; n++) {
          const next = ids.next();
          if (next.done) {
            this.#last = { counts, startedAt, generation };
            return true;
          }
          const id = next.value;
          const owner = this.#o.ownerOf(id);
          if (owner === undefined) continue;
          const status = this.#o.statusOf(id, owner);
          if (status === undefined) continue;
          const count = counts.get(owner) ?? emptyOwnerCount();
          counts.set(owner, count);
          count.origins++;
          count[status]++;
        }
        return false;
      },
    };
  }
}
