/**
 * The origin ids of a replica, each held once and numbered by a slot that every per-origin
 * structure shares: the catalog map, the health map, the owner index and the probing engine keep
 * their columns at the id's slot. Each of them would otherwise keep its own table from id to slot
 * and its own copy of every id; at 100,000 origins that is several hash tables of 3.5 MB and some
 * 200,000 strings more.
 *
 * A slot is counted by its holders: {@link acquire} adds one, {@link release} takes one away, and
 * a slot held by nobody is free for the next new id. A holder keeps its own record of which slots
 * it holds.
 *
 * The table from id to slot is an open-addressing hash table of slot numbers in a typed array,
 * with each slot's hash in a column: some 14 bytes per id outside the JavaScript heap, where a
 * `Map` costs some 37 on it. Linear probing, at most half full; a removal shifts the entries after
 * it back rather than leaving a marker, so lookups never walk past removed ids. The hash is
 * seeded per process, so that ids cannot be chosen ahead to collide.
 */
import { capacityFor, grown, newColumn } from "../typed-arrays.js";
import { ownText } from "./intern.js";

/** The smallest table: a power of two. */
const MIN_TABLE = 1024;

const SEED = (Math.random() * 0x1_0000_0000) >>> 0;

/** A 32-bit hash of `key`: FNV-1a over its UTF-16 code units from a random basis, then mixed. */
function hashOf(key: string): number {
  let h = SEED ^ 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Murmur3's finaliser: every bit of the input reaches the low bits the table is indexed by.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

export class KeySpace {
  /** Per table position: the slot there plus one, 0 for none. */
  #table = newColumn(Int32Array, MIN_TABLE);
  #mask = MIN_TABLE - 1;
  /** Per slot: the hash of its key. */
  #hashes = new Int32Array(0);
  readonly #keys: Array<string | undefined> = [];
  readonly #free: number[] = [];
  #holders = new Uint8Array(1024);
  #size = 0;
  readonly #onFree: Array<(slot: number) => void> = [];
  /**
   * The key last looked up or added, and its slot: a merge or a read asks for one id's slot some
   * ten times in a row (both maps, their columns, the checks before and after), each time with
   * the same string.
   */
  #lastKey: string | undefined;
  #lastSlot = -1;

  /**
   * Calls `fn` with each slot that its last holder lets go of, before the slot is reused: for
   * columns kept at a slot by something that does not hold it.
   */
  onFree(fn: (slot: number) => void): void {
    this.#onFree.push(fn);
  }

  /** The slot of `key`, or undefined when no holder has it. */
  slotOf(key: string): number | undefined {
    if (key === this.#lastKey) return this.#lastSlot;
    const at = this.#find(key, hashOf(key));
    if (at < 0) return undefined;
    const slot = (this.#table[at] as number) - 1;
    this.#lastKey = key;
    this.#lastSlot = slot;
    return slot;
  }

  /** The table position of `key` (of hash `hash`), or -1. */
  #find(key: string, hash: number): number {
    const table = this.#table;
    const mask = this.#mask;
    for (let at = hash & mask; ; at = (at + 1) & mask) {
      const entry = table[at] as number;
      if (entry === 0) return -1;
      const slot = entry - 1;
      if (this.#hashes[slot] === hash && this.#keys[slot] === key) return at;
    }
  }

  /** The key of a held slot. */
  keyOf(slot: number): string {
    return this.#keys[slot] as string;
  }

  /**
   * The slot of `key`, with one holder more; a new key gets a free slot. A key read from a message
   * may be a slice of it: the space keeps its own copy.
   */
  acquire(key: string): number {
    if (key === this.#lastKey) {
      this.#holders[this.#lastSlot] = (this.#holders[this.#lastSlot] as number) + 1;
      return this.#lastSlot;
    }
    const hash = hashOf(key);
    const at = this.#find(key, hash);
    let slot: number;
    if (at >= 0) {
      slot = (this.#table[at] as number) - 1;
    } else {
      const own = ownText(key);
      const free = this.#free.pop();
      if (free === undefined) {
        slot = this.#keys.length;
        this.#keys.push(own);
        if (slot >= this.#holders.length) {
          const capacity = capacityFor(slot, this.#holders.length);
          this.#holders = grown(this.#holders, capacity);
          this.#hashes = grown(this.#hashes, capacity);
        }
      } else {
        slot = free;
        this.#keys[slot] = own;
      }
      if (slot >= this.#hashes.length) this.#hashes = grown(this.#hashes, this.#holders.length);
      this.#hashes[slot] = hash;
      this.#size++;
      if (this.#size * 2 > this.#table.length) this.#rehash(this.#table.length * 2);
      this.#insert(slot, hash);
    }
    this.#holders[slot] = (this.#holders[slot] as number) + 1;
    this.#lastKey = key;
    this.#lastSlot = slot;
    return slot;
  }

  /** One holder of `slot` fewer; the key goes when none is left. */
  release(slot: number): void {
    const left = (this.#holders[slot] as number) - 1;
    this.#holders[slot] = left;
    if (left > 0) return;
    this.#remove(this.#find(this.#keys[slot] as string, this.#hashes[slot] as number));
    this.#size--;
    this.#keys[slot] = undefined;
    if (this.#lastSlot === slot) this.#lastKey = undefined;
    for (const fn of this.#onFree) fn(slot);
    this.#free.push(slot);
  }

  #insert(slot: number, hash: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let at = hash & mask;
    while (table[at] !== 0) at = (at + 1) & mask;
    table[at] = slot + 1;
  }

  /** Empties table position `at`, shifting back the entries after it that may move there. */
  #remove(at: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let hole = at;
    for (let next = (at + 1) & mask; ; next = (next + 1) & mask) {
      const entry = table[next] as number;
      if (entry === 0) break;
      const home = (this.#hashes[entry - 1] as number) & mask;
      // The entry may fill the hole unless its home lies cyclically in (hole, next].
      const stays = hole <= next ? hole < home && home <= next : hole < home || home <= next;
      if (stays) continue;
      table[hole] = entry;
      hole = next;
    }
    table[hole] = 0;
  }

  #rehash(capacity: number): void {
    const old = this.#table;
    this.#table = newColumn(Int32Array, capacity);
    this.#mask = capacity - 1;
    for (let at = 0; at < old.length; at++) {
      const entry = old[at] as number;
      if (entry !== 0) this.#insert(entry - 1, this.#hashes[entry - 1] as number);
    }
  }

  /** One more than the highest slot ever given out: the bound of a walk over slots. */
  get limit(): number {
    return this.#keys.length;
  }

  /** Keys held by anyone. */
  get size(): number {
    return this.#size;
  }

  /**
   * [key, slot] of every key held, in slot order (a live view: a key added during the walk is met
   * if its slot is ahead of the walk, a key released before the walk reaches it is not).
   */
  *entries(): IterableIterator<[string, number]> {
    const keys = this.#keys;
    for (let slot = 0; slot < keys.length; slot++) {
      const key = keys[slot];
      if (key !== undefined) yield [key, slot];
    }
  }
}
