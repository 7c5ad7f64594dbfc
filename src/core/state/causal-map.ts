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
import type { Dot } from "./dots.js";

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

const hasDot = <V>(versions: readonly Version<V>[], writer: string, counter: number): boolean =>
  versions.some((v) => v.writer === writer && v.counter === counter);

export class CausalMap<V> {
  readonly #entries = new Map<string, Version<V>[]>();

  get(key: string): readonly Version<V>[] | undefined {
    return this.#entries.get(key);
  }

  /** The visible version of `key` (see {@link visibleVersion}). */
  visible(key: string): Version<V> | undefined {
    return visibleVersion(this.#entries.get(key));
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  entries(): IterableIterator<[string, readonly Version<V>[]]> {
    return this.#entries.entries();
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
    const previous = this.#entries.get(key) ?? [];
    this.#entries.set(key, [version]);
    return previous;
  }

  /**
   * Joins a peer's versions of one key, given the peer's context (`theirs`) and ours (`ours`).
   * `remote` MUST be every version the peer holds at `key`. Returns true when the key changed.
   * The caller adds the peer's dots to our context afterwards.
   */
  join(key: string, remote: readonly Version<V>[], theirs: DotSet, ours: DotSet): boolean {
    const local = this.#entries.get(key) ?? [];
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
    if (kept.length === 0) this.#entries.delete(key);
    else this.#entries.set(key, kept);
    return true;
  }

  /** Drops the versions of `key` that `drop` selects; returns how many went. */
  dropWhere(key: string, drop: (v: Version<V>) => boolean): number {
    const local = this.#entries.get(key);
    if (!local) return 0;
    const kept = local.filter((v) => !drop(v));
    const gone = local.length - kept.length;
    if (gone === 0) return 0;
    if (kept.length === 0) this.#entries.delete(key);
    else this.#entries.set(key, kept);
    return gone;
  }

  /** Puts versions back as stored (loading from disk): no join, no checks. */
  restore(key: string, versions: Version<V>[]): void {
    if (versions.length > 0) this.#entries.set(key, versions);
  }
}
