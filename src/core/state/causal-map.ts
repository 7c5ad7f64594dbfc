/**
 * A causal map of multi-value registers: key -> the set of versions no replica has yet seen
 * overwritten, each named by its dot (dots.ts). This is the dot-store map of "Delta State Replicated
 * Data Types" (Almeida, Shoker, Baquero 2018, section 7.2) with one register per key:
 *
 * - a write at a key replaces every version the writer holds there (it has seen them all);
 * - a delete is a write of a tombstone version (value null), so that anti-entropy, which ships the
 *   versions a peer's context lacks, can carry it; the tombstone is dropped once causally stable;
 * - the join of (S1, C1) and (S2, C2) keeps, per key, the versions present on both sides, plus each
 *   side's versions that the other side's context has not seen. A version the other side has seen
 *   but no longer holds was overwritten or deleted there, so it goes.
 *
 * Two writes that did not see each other both survive the join; readers pick the visible value
 * deterministically (see {@link visibleVersion}). A put concurrent with a delete therefore
 * survives it: the delete removes exactly the versions its writer had seen (add-wins).
 *
 * The map holds no context of its own: one context covers every map of a replica (replication.ts),
 * since all of a replica's writes draw their dots from one counter.
 */
import type { CausalContext, Dot } from "./dots.js";
import { ownText } from "./intern.js";

export interface Version<V> {
  writer: string;
  counter: number;
  /** Hybrid logical clock of the write (hlc.ts): wall ms and counter, for the visible-value choice. */
  wall: number;
  tick: number;
  /** null: a tombstone. */
  value: V | null;
}

/** Anything that answers "has this dot been seen": a causal context, or a delta's dot set. */
export interface DotSet {
  has(d: Dot): boolean;
}

/** Total order of concurrent versions: wall time, then HLC counter, then writer id. */
export function compareVersions<V>(a: Version<V>, b: Version<V>): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.tick !== b.tick) return a.tick < b.tick ? -1 : 1;
  if (a.writer !== b.writer) return a.writer < b.writer ? -1 : 1;
  return a.counter - b.counter;
}

/**
 * The value readers see among concurrent versions: the greatest live (non-tombstone) version, so a
 * concurrent put beats a delete; undefined when only tombstones (or nothing) remain.
 */
export function visibleVersion<V>(versions: readonly Version<V>[] | undefined): Version<V> | undefined {
  if (!versions) return undefined;
  let best: Version<V> | undefined;
  for (const v of versions) {
    if (v.value === null) continue;
    if (best === undefined || compareVersions(v, best) > 0) best = v;
  }
  return best;
}

/** One writer's versions in a map: counter -> key, and the counters in order (rebuilt lazily). */
interface WriterIndex {
  keys: Map<number, string>;
  /** Ascending; may hold counters no longer in `keys`. Undefined when it must be rebuilt. */
  sorted: number[] | undefined;
}

/**
 * The versions of a key as held: the version itself when it is alone (as nearly every key's is),
 * else an array of exactly their number. A one-version array costs some 56 bytes a key, one grown
 * by push some 190.
 */
type Held<V> = Version<V> | Version<V>[];

const toHeld = <V>(versions: readonly Version<V>[]): Held<V> =>
  versions.length === 1 ? (versions[0] as Version<V>) : versions.slice();

const asArray = <V>(held: Held<V>): readonly Version<V>[] => (Array.isArray(held) ? held : [held]);

const hasDot = <V>(versions: readonly Version<V>[], writer: string, counter: number): boolean =>
  versions.some((v) => v.writer === writer && v.counter === counter);

export class CausalMap<V> {
  readonly #entries = new Map<string, Held<V>>();
  /**
   * Per writer, where its versions are: anti-entropy asks "which keys hold a version the peer has
   * not seen", and a peer usually lacks the last few writes of a few writers. The index answers in
   * time proportional to those versions, not to the size of the map.
   */
  readonly #byWriter = new Map<string, WriterIndex>();

  #index(key: string, v: Version<V>): void {
    let w = this.#byWriter.get(v.writer);
    if (!w) {
      w = { keys: new Map(), sorted: [] };
      this.#byWriter.set(v.writer, w);
    }
    w.keys.set(v.counter, key);
    const sorted = w.sorted;
    if (sorted === undefined) return;
    if (sorted.length === 0 || (sorted[sorted.length - 1] as number) < v.counter) sorted.push(v.counter);
    else w.sorted = undefined;
  }

  #unindex(v: Version<V>): void {
    const w = this.#byWriter.get(v.writer);
    if (!w) return;
    w.keys.delete(v.counter);
    if (w.keys.size === 0) this.#byWriter.delete(v.writer);
    else if (w.sorted && w.sorted.length > 2 * w.keys.size + 64) w.sorted = undefined;
  }

  /** Writers with a version in this map. */
  writers(): IterableIterator<string> {
    return this.#byWriter.keys();
  }

  /**
   * `writer`'s versions with a counter above `after`, in counter order: [counter, key] pairs, each
   * pair flat in the returned array.
   */
  dotsAfter(writer: string, after: number): Array<number | string> {
    const w = this.#byWriter.get(writer);
    if (!w) return [];
    w.sorted ??= [...w.keys.keys()].sort((a, b) => a - b);
    const sorted = w.sorted;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((sorted[mid] as number) <= after) lo = mid + 1;
      else hi = mid;
    }
    const out: Array<number | string> = [];
    for (let i = lo; i < sorted.length; i++) {
      const counter = sorted[i] as number;
      const key = w.keys.get(counter);
      if (key !== undefined) out.push(counter, key);
    }
    return out;
  }

  /** Keys holding a version that `theirs` has not seen. */
  keysUnseenBy(theirs: CausalContext, into: (key: string) => void): void {
    for (const [writer, w] of this.#byWriter) {
      w.sorted ??= [...w.keys.keys()].sort((a, b) => a - b);
      const sorted = w.sorted;
      const top = theirs.vv.get(writer) ?? 0;
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((sorted[mid] as number) <= top) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < sorted.length; i++) {
        const counter = sorted[i] as number;
        const key = w.keys.get(counter);
        if (key === undefined || theirs.has({ writer, counter })) continue;
        into(key);
      }
    }
  }

  get(key: string): readonly Version<V>[] | undefined {
    const held = this.#entries.get(key);
    return held === undefined ? undefined : asArray(held);
  }

  /** Whether `key` holds a tombstone (a version whose value is null), read without allocating. */
  hasTombstone(key: string): boolean {
    const held = this.#entries.get(key);
    if (held === undefined) return false;
    if (!Array.isArray(held)) return held.value === null;
    return held.some((v) => v.value === null);
  }

  /** The visible version of `key` (see {@link visibleVersion}), read without allocating. */
  visible(key: string): Version<V> | undefined {
    const held = this.#entries.get(key);
    if (held === undefined || Array.isArray(held)) return visibleVersion(held);
    return held.value === null ? undefined : held;
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  *entries(): IterableIterator<[string, readonly Version<V>[]]> {
    for (const [key, held] of this.#entries) yield [key, asArray(held)];
  }

  /**
   * Calls `fn` for every version of every key, in insertion order of the keys, without allocating:
   * what a periodic pass over a large map uses. `fn` MUST NOT change the map.
   */
  forEachVersion(fn: (version: Version<V>, key: string) => void): void {
    this.#entries.forEach((held, key) => {
      if (!Array.isArray(held)) fn(held, key);
      else for (const v of held) fn(v, key);
    });
  }

  /** Keys held (with a live value or only tombstones). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * A local write: `version` replaces every version held at `key`, since this replica has seen
   * them all. Returns the replaced versions (their dots are the write's causal past).
   * The version's dot MUST be fresh (never issued before by its writer).
   */
  write(key: string, version: Version<V>): readonly Version<V>[] {
    const previous = this.get(key) ?? [];
    for (const v of previous) this.#unindex(v);
    this.#entries.set(key, version);
    this.#index(key, version);
    return previous;
  }

  /**
   * Joins a peer's versions of one key, given the peer's context (`theirs`) and ours (`ours`).
   * `remote` MUST be every version the peer holds at `key`. Returns true when the key changed.
   * The caller adds the peer's dots to our context afterwards.
   */
  join(key: string, remote: readonly Version<V>[], theirs: DotSet, ours: DotSet): boolean {
    const local = this.get(key) ?? [];
    // A key read from a message may be a slice of it: the map keeps its own copy.
    if (local.length === 0) key = ownText(key);
    const kept: Version<V>[] = [];
    for (const v of local) {
      const dot = { writer: v.writer, counter: v.counter };
      if (hasDot(remote, v.writer, v.counter) || !theirs.has(dot)) kept.push(v);
    }
    let added = false;
    for (const v of remote) {
      if (hasDot(local, v.writer, v.counter)) continue;
      if (ours.has({ writer: v.writer, counter: v.counter })) continue;
      kept.push(v);
      added = true;
    }
    if (!added && kept.length === local.length) return false;
    for (const v of local) if (!kept.includes(v)) this.#unindex(v);
    for (const v of kept) if (!local.includes(v)) this.#index(key, v);
    if (kept.length === 0) this.#entries.delete(key);
    else this.#entries.set(key, toHeld(kept));
    return true;
  }

  /** Drops the versions of `key` that `drop` selects; returns how many went. */
  dropWhere(key: string, drop: (v: Version<V>) => boolean): number {
    const local = this.get(key);
    if (!local) return 0;
    // Nothing is allocated unless a version goes: periodic passes call this for many keys.
    let kept: Version<V>[] | undefined;
    for (let i = 0; i < local.length; i++) {
      const v = local[i] as Version<V>;
      if (drop(v)) kept ??= local.slice(0, i);
      else kept?.push(v);
    }
    if (kept === undefined) return 0;
    const gone = local.length - kept.length;
    for (const v of local) if (!kept.includes(v)) this.#unindex(v);
    if (kept.length === 0) this.#entries.delete(key);
    else this.#entries.set(key, toHeld(kept));
    return gone;
  }

  /** Puts versions back as stored (loading from disk): no join, no checks. */
  restore(key: string, versions: readonly Version<V>[]): void {
    if (versions.length === 0) return;
    this.#entries.set(key, toHeld(versions));
    for (const v of versions) this.#index(key, v);
  }
}
