/**
 * Dots and causal contexts, after Almeida, Shoker and Baquero, "Delta State Replicated Data Types"
 * (JPDC 2018), section 7: every write is named by a dot (writer, counter), the writer counting its
 * own writes from 1; a causal context is the set of dots a replica has seen, kept compact as a
 * version vector (every counter up to vv[w] seen) plus a dot cloud for the dots seen beyond a gap.
 * The cloud folds into the vector as the gaps fill.
 */

export interface Dot {
  writer: string;
  counter: number;
}

/** Largest counter a dot may carry: counters stay exact doubles. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

export const dotKey = (d: Dot): string => `${d.writer}:${d.counter}`;

export const sameDot = (a: Dot, b: Dot): boolean => a.writer === b.writer && a.counter === b.counter;

export function isDotPart(writer: unknown, counter: unknown): boolean {
  return (
    typeof writer === "string" &&
    writer.length > 0 &&
    writer.length <= 64 &&
    Number.isSafeInteger(counter) &&
    (counter as number) >= 1
  );
}

/** A version vector: writer -> highest counter seen with no gap below it. */
export type VersionVector = Map<string, number>;

/** Pointwise maximum of `into` and `from`, in place. */
export function joinVectors(into: VersionVector, from: ReadonlyMap<string, number>): void {
  for (const [w, c] of from) if (c > (into.get(w) ?? 0)) into.set(w, c);
}

/** Whether every counter of `b` is at most the counter of `a` for the same writer. */
export function vectorCovers(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  for (const [w, c] of b) if ((a.get(w) ?? 0) < c) return false;
  return true;
}

/**
 * The set of dots a replica has seen. `has` is what the causal join asks ("has this replica seen
 * that write?"); the vector and the cloud are what travels in a digest.
 */
export class CausalContext {
  readonly vv: VersionVector = new Map();
  /** Dots seen beyond a gap: writer -> counters, each above vv[writer] + 1. */
  readonly cloud = new Map<string, Set<number>>();
  /**
   * Dots put in the cloud since {@link takeCloudLog}, once {@link logCloud} turned the log on: a
   * store that saved the cloud writes only these, and drops whatever a writer's rising vector
   * entry folded away, instead of rewriting a cloud that may hold tens of thousands of dots.
   */
  #cloudLog: { writers: string[]; counters: number[] } | undefined;

  static from(vv: ReadonlyMap<string, number>, cloud?: ReadonlyMap<string, Iterable<number>>): CausalContext {
    const ctx = new CausalContext();
    for (const [w, c] of vv) if (c > 0) ctx.vv.set(w, c);
    if (cloud)
      for (const [w, counters] of cloud) for (const c of counters) ctx.add({ writer: w, counter: c });
    return ctx;
  }

  has(d: Dot): boolean {
    if (d.counter <= (this.vv.get(d.writer) ?? 0)) return true;
    return this.cloud.get(d.writer)?.has(d.counter) ?? false;
  }

  /**
   * Adds one dot, folding the cloud into the vector where the gap closes; true when the dot was
   * not in this context yet.
   */
  add(d: Dot): boolean {
    const top = this.vv.get(d.writer) ?? 0;
    if (d.counter <= top) return false;
    if (d.counter === top + 1) {
      let next = d.counter;
      const cloud = this.cloud.get(d.writer);
      if (cloud) {
        while (cloud.delete(next + 1)) next++;
        if (cloud.size === 0) this.cloud.delete(d.writer);
      }
      this.vv.set(d.writer, next);
      return true;
    }
    let cloud = this.cloud.get(d.writer);
    if (!cloud) {
      cloud = new Set();
      this.cloud.set(d.writer, cloud);
    } else if (cloud.has(d.counter)) return false;
    cloud.add(d.counter);
    if (this.#cloudLog) {
      this.#cloudLog.writers.push(d.writer);
      this.#cloudLog.counters.push(d.counter);
    }
    return true;
  }

  /**
   * Raises `writer`'s vector entry to `counter` (every dot up to it seen), folding the cloud; true
   * when that added a dot. Costs the smaller of the cloud's size and the rise, not the cloud's size:
   * a session claims a large cloud a chunk at a time.
   */
  raise(writer: string, counter: number): boolean {
    const top = this.vv.get(writer) ?? 0;
    if (counter <= top) return false;
    let next = counter;
    const cloud = this.cloud.get(writer);
    if (cloud) {
      if (cloud.size <= counter - top) {
        for (const x of cloud) if (x <= counter) cloud.delete(x);
      } else {
        for (let x = top + 1; x <= counter; x++) cloud.delete(x);
      }
      // The new top may now touch dots of the cloud.
      while (cloud.delete(next + 1)) next++;
      if (cloud.size === 0) this.cloud.delete(writer);
    }
    this.vv.set(writer, next);
    return true;
  }

  /** Starts (or restarts, empty) the log of dots put in the cloud. */
  logCloud(): void {
    this.#cloudLog = { writers: [], counters: [] };
  }

  /**
   * The dots put in the cloud since the log was started or last taken, in order, some of them
   * folded into the vector since; undefined when the log is off. Starts a new log.
   */
  takeCloudLog(): { writers: string[]; counters: number[] } | undefined {
    const log = this.#cloudLog;
    if (log) this.#cloudLog = { writers: [], counters: [] };
    return log;
  }

  /** Joins another context into this one (set union of the dots); true when it added a dot. */
  join(other: CausalContext): boolean {
    let changed = false;
    for (const [w, c] of other.vv) if (this.raise(w, c)) changed = true;
    for (const [w, counters] of other.cloud)
      for (const c of counters) if (this.add({ writer: w, counter: c })) changed = true;
    return changed;
  }

  /** Whether this context holds every dot of `other`. */
  covers(other: CausalContext): boolean {
    if (!vectorCovers(this.vv, other.vv)) {
      // A dot of other's vector may still sit in our cloud only if the cloud fills the whole gap,
      // which add() would have folded: so a lower vector entry means a missing dot.
      return false;
    }
    for (const [w, counters] of other.cloud)
      for (const c of counters) if (!this.has({ writer: w, counter: c })) return false;
    return true;
  }

  clone(): CausalContext {
    const out = new CausalContext();
    for (const [w, c] of this.vv) out.vv.set(w, c);
    for (const [w, counters] of this.cloud) out.cloud.set(w, new Set(counters));
    return out;
  }

  /** Number of dots in the cloud. */
  cloudSize(): number {
    let n = 0;
    for (const s of this.cloud.values()) n += s.size;
    return n;
  }
}

/**
 * Joins `other` into `into` a prefix at a time, in the order of writer ids, then counters: each
 * {@link advance} adds every dot of the writers before a position's writer, and of that writer up
 * to its counter. A session claims the sender's context this way as its chunks arrive; each dot of
 * `other` is visited once over all the calls, so a sender's cloud of a hundred thousand dots costs
 * once per session, not once per chunk.
 */
export class PrefixJoin {
  readonly #into: CausalContext;
  readonly #other: CausalContext;
  /** Writer ids of `other` in order. */
  readonly #writers: string[];
  /** The writer being joined, as an index in {@link #writers}. */
  #at = 0;
  /** Its counter reached so far. */
  #reached = 0;
  /** Its cloud in order, once it is reached, and the next of those to add. */
  #cloud: number[] | undefined;
  #next = 0;

  constructor(into: CausalContext, other: CausalContext) {
    this.#into = into;
    this.#other = other;
    this.#writers = [...new Set([...other.vv.keys(), ...other.cloud.keys()])].sort();
  }

  /**
   * Joins every dot before (writer, counter), that position included, except those of writers in
   * `skip` when they are reached; true when `into` gained a dot. Positions must not go back.
   */
  advance(writer: string, counter: number, skip: ReadonlySet<string>): boolean {
    let changed = false;
    const writers = this.#writers;
    while (this.#at < writers.length) {
      const w = writers[this.#at] as string;
      if (w > writer) break;
      const end = w === writer ? counter : Number.POSITIVE_INFINITY;
      if (!skip.has(w) && this.#joinWriter(w, end)) changed = true;
      if (w === writer) break;
      this.#nextWriter();
    }
    return changed;
  }

  /** Joins every dot not joined yet, except those of writers in `skip`; true when `into` gained one. */
  rest(skip: ReadonlySet<string>): boolean {
    let changed = false;
    while (this.#at < this.#writers.length) {
      const w = this.#writers[this.#at] as string;
      if (!skip.has(w) && this.#joinWriter(w, Number.POSITIVE_INFINITY)) changed = true;
      this.#nextWriter();
    }
    return changed;
  }

  #nextWriter(): void {
    this.#at++;
    this.#reached = 0;
    this.#cloud = undefined;
    this.#next = 0;
  }

  #joinWriter(w: string, end: number): boolean {
    if (end <= this.#reached) return false;
    this.#reached = end;
    let changed = this.#into.raise(w, Math.min(this.#other.vv.get(w) ?? 0, end));
    if (this.#cloud === undefined) this.#cloud = [...(this.#other.cloud.get(w) ?? [])].sort((a, b) => a - b);
    const cloud = this.#cloud;
    while (this.#next < cloud.length && (cloud[this.#next] as number) <= end) {
      if (this.#into.add({ writer: w, counter: cloud[this.#next++] as number })) changed = true;
    }
    return changed;
  }
}
