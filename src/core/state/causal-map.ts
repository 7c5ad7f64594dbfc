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

import { firstAfter } from "../sorted.js";
import { capacityFor, grown } from "../typed-arrays.js";
import { names, ObjectColumns, type ValueColumns } from "./columns.js";
import type { CausalContext, Dot } from "./dots.js";
import { KeySpace } from "./key-space.js";

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

/**
 * One writer's versions in a map: [counter, slot] pairs in the order they were added. A pair goes
 * stale when its version leaves the slot; stale pairs are skipped when read and dropped when they
 * outnumber the live ones.
 */
interface WriterIndex {
  counters: number[];
  slots: number[];
  /**
   * How many pairs from the first are in counter order. Pairs come in the order their versions
   * arrive, mostly ascending; those after this prefix are sorted into it when the index is read.
   */
  ordered: number;
  /** Pairs whose version is still held. */
  live: number;
}

/** What a slot holds: nothing, one version in the columns, or several in {@link CausalMap.#many}. */
const EMPTY = 0;
const ONE = 1;
const MANY = 2;

const hasDot = <V>(versions: readonly Version<V>[], writer: string, counter: number): boolean =>
  versions.some((v) => v.writer === writer && v.counter === counter);

/**
 * The map keeps each key in a slot of column arrays (columns.ts). Nearly every key holds one
 * version: its dot and stamp are four numbers in typed arrays and its value lives in the value
 * columns. The few keys with concurrent versions keep them as objects. A read of a single version
 * builds it afresh, so what readers keep holds nothing of the map alive; the versions of a key
 * with several are the map's own: callers MUST NOT change what they read.
 */
export class CausalMap<V> {
  readonly #space: KeySpace;
  /** Keys held. */
  #size = 0;
  #capacity = 0;
  #kind = new Uint8Array(0);
  #writer = new Int32Array(0);
  #counter = new Float64Array(0);
  #wall = new Float64Array(0);
  #tick = new Float64Array(0);
  #tomb = new Uint8Array(0);
  readonly #many = new Map<number, Version<V>[]>();
  readonly #values: ValueColumns<V>;
  /**
   * Per writer (by name id), where its versions are: anti-entropy asks "which keys hold a version
   * the peer has not seen", and a peer usually lacks the last few writes of a few writers. The
   * index answers in time proportional to those versions, not to the size of the map.
   */
  readonly #byWriter = new Map<number, WriterIndex>();
  readonly #toCompact = new Set<number>();

  /**
   * `space` numbers the keys; maps of one replica share it, so that a key has one slot in all of
   * them (key-space.ts).
   */
  constructor(values: ValueColumns<V> = new ObjectColumns<V>(), space: KeySpace = new KeySpace()) {
    this.#values = values;
    this.#space = space;
  }

  // Slots

  /** The slot of `key` when this map holds it. */
  #slotOf(key: string): number | undefined {
    const slot = this.#space.slotOf(key);
    return slot !== undefined && this.#holdsSlot(slot) ? slot : undefined;
  }

  #alloc(key: string): number {
    const slot = this.#space.acquire(key);
    if (slot >= this.#capacity) {
      this.#grow(capacityFor(slot, this.#capacity));
    }
    this.#size++;
    return slot;
  }

  #grow(capacity: number): void {
    this.#capacity = capacity;
    this.#kind = grown(this.#kind, capacity);
    this.#writer = grown(this.#writer, capacity);
    this.#counter = grown(this.#counter, capacity);
    this.#wall = grown(this.#wall, capacity);
    this.#tick = grown(this.#tick, capacity);
    this.#tomb = grown(this.#tomb, capacity);
    this.#values.grow(capacity);
  }

  #release(slot: number): void {
    this.#kind[slot] = EMPTY;
    this.#many.delete(slot);
    this.#values.clear(slot);
    this.#size--;
    this.#space.release(slot);
  }

  /** Puts `versions` (at least one) in `slot`, replacing what it held. */
  #store(slot: number, versions: readonly Version<V>[]): void {
    if (versions.length > 1) {
      this.#kind[slot] = MANY;
      this.#many.set(slot, versions.slice());
      this.#values.clear(slot);
      return;
    }
    const v = versions[0] as Version<V>;
    this.#kind[slot] = ONE;
    this.#many.delete(slot);
    this.#writer[slot] = names.idOf(v.writer);
    this.#counter[slot] = v.counter;
    this.#wall[slot] = v.wall;
    this.#tick[slot] = v.tick;
    if (v.value === null) {
      this.#tomb[slot] = 1;
      this.#values.clear(slot);
    } else {
      this.#tomb[slot] = 0;
      this.#values.set(slot, v.value);
    }
  }

  /** The single version of a ONE slot, built. */
  #one(slot: number): Version<V> {
    return {
      writer: names.nameOf(this.#writer[slot] as number),
      counter: this.#counter[slot] as number,
      wall: this.#wall[slot] as number,
      tick: this.#tick[slot] as number,
      value: this.#tomb[slot] === 1 ? null : this.#values.get(slot),
    };
  }

  #read(slot: number): Version<V>[] {
    return this.#kind[slot] === ONE ? [this.#one(slot)] : (this.#many.get(slot) as Version<V>[]).slice();
  }

  /** Whether `slot` holds the version (writer id, counter). */
  #holds(slot: number, writer: number, counter: number): boolean {
    const kind = this.#kind[slot];
    if (kind === ONE) return this.#writer[slot] === writer && this.#counter[slot] === counter;
    if (kind === EMPTY) return false;
    return hasDot(this.#many.get(slot) as Version<V>[], names.nameOf(writer), counter);
  }

  // The writer index

  #index(slot: number, v: Version<V>): void {
    const writer = names.idOf(v.writer);
    let w = this.#byWriter.get(writer);
    if (!w) {
      w = { counters: [], slots: [], ordered: 0, live: 0 };
      this.#byWriter.set(writer, w);
    }
    const n = w.counters.length;
    if (w.ordered === n && (n === 0 || (w.counters[n - 1] as number) <= v.counter)) w.ordered = n + 1;
    w.counters.push(v.counter);
    w.slots.push(slot);
    w.live++;
  }

  #unindex(v: Version<V>): void {
    const writer = names.idOf(v.writer);
    const w = this.#byWriter.get(writer);
    if (!w) return;
    w.live--;
    if (w.live <= 0) {
      this.#byWriter.delete(writer);
      this.#toCompact.delete(writer);
    } else if (w.counters.length > 2 * w.live + 64) {
      this.#toCompact.add(writer);
    }
  }

  /** Drops stale pairs of the writers marked, once the slots hold what they will hold. */
  #compactMarked(): void {
    for (const writer of this.#toCompact) {
      const w = this.#byWriter.get(writer);
      if (w) this.#sort(writer, w);
    }
    this.#toCompact.clear();
  }

  /** Keeps only the live pairs of `w`, one per version, in counter order. */
  #sort(writer: number, w: WriterIndex): void {
    const order: number[] = [];
    for (let i = 0; i < w.counters.length; i++) {
      if (this.#holds(w.slots[i] as number, writer, w.counters[i] as number)) order.push(i);
    }
    order.sort((a, b) => (w.counters[a] as number) - (w.counters[b] as number));
    const counters: number[] = [];
    const slots: number[] = [];
    for (const i of order) {
      const c = w.counters[i] as number;
      if (counters.length > 0 && counters[counters.length - 1] === c) continue;
      counters.push(c);
      slots.push(w.slots[i] as number);
    }
    w.counters = counters;
    w.slots = slots;
    w.ordered = counters.length;
    w.live = counters.length;
  }

  /**
   * Puts `w` in counter order: the pairs after its ordered prefix (those still held) are sorted
   * and merged into it. A bootstrap indexes a writer's versions out of order (an origin's health
   * comes with its spec), and each session that reads the index meanwhile would otherwise sort all
   * of it again: at 1,000,000 origins, half a second each time.
   */
  #order(writer: number, w: WriterIndex): void {
    const { counters, slots } = w;
    const tail: number[] = [];
    for (let i = w.ordered; i < counters.length; i++) {
      if (this.#holds(slots[i] as number, writer, counters[i] as number)) tail.push(i);
    }
    tail.sort((a, b) => (counters[a] as number) - (counters[b] as number));
    const total = w.ordered + tail.length;
    const mergedCounters = new Array<number>(total);
    const mergedSlots = new Array<number>(total);
    let i = 0;
    let j = 0;
    for (let k = 0; k < total; k++) {
      const t = tail[j];
      if (i < w.ordered && (t === undefined || (counters[i] as number) <= (counters[t] as number))) {
        mergedCounters[k] = counters[i] as number;
        mergedSlots[k] = slots[i] as number;
        i++;
      } else {
        mergedCounters[k] = counters[t as number] as number;
        mergedSlots[k] = slots[t as number] as number;
        j++;
      }
    }
    w.counters = mergedCounters;
    w.slots = mergedSlots;
    w.ordered = total;
  }

  /**
   * Calls `fn` with the key of each of `writer`'s versions above `after`, in counter order, for
   * the first `max` of them.
   */
  #each(
    writer: string,
    after: number,
    fn: (counter: number, key: string) => void,
    max = Infinity,
    order = true,
  ): void {
    const id = names.idOf(writer);
    const w = this.#byWriter.get(id);
    if (!w) return;
    if (order && w.ordered !== w.counters.length) this.#order(id, w);
    const counters = w.counters;
    const end = w.ordered;
    let last = -1;
    let left = max;
    for (let i = firstAfter(counters, after, end); i < end && left > 0; i++) {
      const counter = counters[i] as number;
      const slot = w.slots[i] as number;
      if (counter === last || !this.#holds(slot, id, counter)) continue;
      last = counter;
      left--;
      fn(counter, this.#space.keyOf(slot));
    }
  }

  /** Writers with a version in this map. */
  *writers(): IterableIterator<string> {
    for (const id of this.#byWriter.keys()) yield names.nameOf(id);
  }

  /**
   * `writer`'s versions with a counter above `after`, in counter order: [counter, key] pairs, each
   * pair flat in the returned array; the first `max` of them. A long list is read page by page,
   * each page after the last counter of the one before. Without `order`, versions added since
   * the index was last read are left out: ordering them in merges the whole index, which a
   * session's later pages need not pay while probes keep writing.
   */
  dotsAfter(writer: string, after: number, max = Infinity, order = true): Array<number | string> {
    const out: Array<number | string> = [];
    this.#each(writer, after, (counter, key) => out.push(counter, key), max, order);
    return out;
  }

  /** Keys holding a version that `theirs` has not seen. */
  keysUnseenBy(theirs: CausalContext, into: (key: string) => void): void {
    for (const writer of [...this.writers()]) {
      this.#each(writer, theirs.vv.get(writer) ?? 0, (counter, key) => {
        if (!theirs.has({ writer, counter })) into(key);
      });
    }
  }

  // Reading

  get(key: string): readonly Version<V>[] | undefined {
    const slot = this.#slotOf(key);
    return slot === undefined ? undefined : this.#read(slot);
  }

  /** Whether `key` holds a tombstone (a version whose value is null). */
  hasTombstone(key: string): boolean {
    const slot = this.#slotOf(key);
    if (slot === undefined) return false;
    if (this.#kind[slot] === ONE) return this.#tomb[slot] === 1;
    return (this.#many.get(slot) as Version<V>[]).some((v) => v.value === null);
  }

  /** Whether `key` has a visible (live) version, told without building it. */
  hasLive(key: string): boolean {
    const slot = this.#slotOf(key);
    if (slot === undefined) return false;
    if (this.#kind[slot] === ONE) return this.#tomb[slot] !== 1;
    return (this.#many.get(slot) as Version<V>[]).some((v) => v.value !== null);
  }

  /** The visible version of `key` (see {@link visibleVersion}). */
  visible(key: string): Version<V> | undefined {
    const slot = this.#slotOf(key);
    if (slot === undefined) return undefined;
    if (this.#kind[slot] === ONE) return this.#tomb[slot] === 1 ? undefined : this.#one(slot);
    return visibleVersion(this.#many.get(slot));
  }

  /**
   * The slot of `key` when it holds exactly one version and that version is live, else -1: the
   * value columns answer for it without building the value.
   */
  soleSlot(key: string): number {
    const slot = this.#slotOf(key);
    if (slot === undefined || this.#kind[slot] !== ONE || this.#tomb[slot] === 1) return -1;
    return slot;
  }

  /**
   * The first of `key`'s versions that `theirs` has not seen (every version when `theirs` is
   * undefined), in the order of writer ids, then counters; undefined when there is none.
   */
  firstUnseen(key: string, theirs: DotSet | undefined): Dot | undefined {
    const slot = this.#slotOf(key);
    if (slot === undefined) return undefined;
    if (this.#kind[slot] === ONE) {
      const dot = {
        writer: names.nameOf(this.#writer[slot] as number),
        counter: this.#counter[slot] as number,
      };
      return theirs?.has(dot) ? undefined : dot;
    }
    let first: Dot | undefined;
    for (const v of this.#many.get(slot) as Version<V>[]) {
      if (theirs?.has(v)) continue;
      if (!first || v.writer < first.writer || (v.writer === first.writer && v.counter < first.counter)) {
        first = { writer: v.writer, counter: v.counter };
      }
    }
    return first;
  }

  has(key: string): boolean {
    return this.#slotOf(key) !== undefined;
  }

  /** Whether this map holds a key at `slot` (a slot of its key space). */
  #holdsSlot(slot: number): boolean {
    return slot < this.#capacity && this.#kind[slot] !== EMPTY;
  }

  /** The keys held, in the order their slots came in the key space (a live view). */
  *keys(): IterableIterator<string> {
    for (const [key, slot] of this.#space.entries()) if (this.#holdsSlot(slot)) yield key;
  }

  *entries(): IterableIterator<[string, readonly Version<V>[]]> {
    for (const [key, slot] of this.#space.entries()) if (this.#holdsSlot(slot)) yield [key, this.#read(slot)];
  }

  /**
   * Calls `fn` for every version of every key, in the order of the key space (see {@link keys}). `fn` MUST NOT
   * change the map.
   */
  forEachVersion(fn: (version: Version<V>, key: string) => void): void {
    for (const [key, slot] of this.#space.entries()) {
      if (!this.#holdsSlot(slot)) continue;
      if (this.#kind[slot] === ONE) fn(this.#one(slot), key);
      else for (const v of this.#many.get(slot) as Version<V>[]) fn(v, key);
    }
  }

  /** Keys held (with a live value or only tombstones). */
  get size(): number {
    return this.#size;
  }

  // Writing

  /**
   * A local write: `version` replaces every version held at `key`, since this replica has seen
   * them all. Returns the replaced versions (their dots are the write's causal past).
   * The version's dot MUST be fresh (never issued before by its writer).
   */
  write(key: string, version: Version<V>): readonly Version<V>[] {
    let slot = this.#slotOf(key);
    const previous = slot === undefined ? [] : this.#read(slot);
    for (const v of previous) this.#unindex(v);
    slot ??= this.#alloc(key);
    this.#store(slot, [version]);
    this.#index(slot, version);
    this.#compactMarked();
    return previous;
  }

  /**
   * Joins a peer's versions of one key, given the peer's context (`theirs`) and ours (`ours`).
   * `remote` MUST be every version the peer holds at `key`. Returns true when the key changed.
   * The caller adds the peer's dots to our context afterwards.
   */
  join(key: string, remote: readonly Version<V>[], theirs: DotSet, ours: DotSet): boolean {
    const slot = this.#slotOf(key);
    const local = slot === undefined ? [] : this.#read(slot);
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
    this.#replace(key, slot, kept);
    for (const v of kept) if (!local.includes(v)) this.#index(this.#slotOf(key) as number, v);
    this.#compactMarked();
    return true;
  }

  /** Drops the versions of `key` that `drop` selects; returns how many went. */
  dropWhere(key: string, drop: (v: Version<V>) => boolean): number {
    const slot = this.#slotOf(key);
    if (slot === undefined) return 0;
    const local = this.#read(slot);
    const kept = local.filter((v) => !drop(v));
    const gone = local.length - kept.length;
    if (gone === 0) return 0;
    for (const v of local) if (!kept.includes(v)) this.#unindex(v);
    this.#replace(key, slot, kept);
    this.#compactMarked();
    return gone;
  }

  /** Puts versions back as stored (loading from disk): no join, no checks. */
  restore(key: string, versions: readonly Version<V>[]): void {
    if (versions.length === 0) return;
    const slot = this.#slotOf(key);
    if (slot !== undefined) for (const v of this.#read(slot)) this.#unindex(v);
    this.#replace(key, slot, versions);
    const now = this.#slotOf(key) as number;
    for (const v of versions) this.#index(now, v);
    this.#compactMarked();
  }

  /** Makes `key` hold exactly `versions` (none: the key goes). */
  #replace(key: string, slot: number | undefined, versions: readonly Version<V>[]): void {
    if (versions.length === 0) {
      if (slot !== undefined) this.#release(slot);
      return;
    }
    this.#store(slot ?? this.#alloc(key), versions);
  }
}
