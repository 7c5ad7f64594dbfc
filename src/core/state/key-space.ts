/**
 * The origin ids of a replica, each held once and numbered by a slot that every per-origin
 * structure shares: the catalog map, the health map and the owner index keep their columns at the
 * id's slot. Each of them would otherwise keep its own table from id to slot and its own copy of
 * every id; at 100,000 origins that is three hash tables of 3.5 MB and some 200,000 strings more.
 *
 * A slot is counted by its holders: {@link acquire} adds one, {@link release} takes one away, and
 * a slot held by nobody is free for the next new id. A holder keeps its own record of which slots
 * it holds.
 */
import { capacityFor, grown } from "../typed-arrays.js";
import { ownText } from "./intern.js";

export class KeySpace {
  readonly #slots = new Map<string, number>();
  readonly #keys: Array<string | undefined> = [];
  readonly #free: number[] = [];
  #holders = new Uint8Array(1024);
  readonly #onFree: Array<(slot: number) => void> = [];

  /**
   * Calls `fn` with each slot that its last holder lets go of, before the slot is reused: for
   * columns kept at a slot by something that does not hold it.
   */
  onFree(fn: (slot: number) => void): void {
    this.#onFree.push(fn);
  }

  /** The slot of `key`, or undefined when no holder has it. */
  slotOf(key: string): number | undefined {
    return this.#slots.get(key);
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
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      const own = ownText(key);
      slot = this.#free.pop();
      if (slot === undefined) {
        slot = this.#keys.length;
        this.#keys.push(own);
        if (slot >= this.#holders.length)
          this.#holders = grown(this.#holders, capacityFor(slot, this.#holders.length));
      } else {
        this.#keys[slot] = own;
      }
      this.#slots.set(own, slot);
    }
    this.#holders[slot] = (this.#holders[slot] as number) + 1;
    return slot;
  }

  /** One holder of `slot` fewer; the key goes when none is left. */
  release(slot: number): void {
    const left = (this.#holders[slot] as number) - 1;
    this.#holders[slot] = left;
    if (left > 0) return;
    this.#slots.delete(this.#keys[slot] as string);
    this.#keys[slot] = undefined;
    for (const fn of this.#onFree) fn(slot);
    this.#free.push(slot);
  }

  /** One more than the highest slot ever given out: the bound of a walk over slots. */
  get limit(): number {
    return this.#keys.length;
  }

  /** Keys held by anyone. */
  get size(): number {
    return this.#slots.size;
  }

  /** [key, slot] of every key held, in the order the keys came (a live view). */
  entries(): IterableIterator<[string, number]> {
    return this.#slots.entries();
  }
}
