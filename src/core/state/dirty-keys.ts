/**
 * The keys of the two maps (catalog, health) changed since they were last written to disk, kept as
 * flags at the keys' slots and a list of the flagged slots. A bootstrap marks 200,000 keys before
 * the first of them is written; a `Set` of ids grew to that size and cost more per key than the
 * merge's every other lookup.
 *
 * A marked key's slot is held (key-space.ts) until it is taken, so that a key removed from both
 * maps in between keeps its slot and its id: what is taken is its removal, to be written too.
 */
import { capacityFor, grown } from "../typed-arrays.js";
import type { KeySpace } from "./key-space.js";

/** The flag of a catalog key; a health key's is {@link HEALTH}. */
export const CATALOG = 1;
export const HEALTH = 2;

export class DirtyKeys {
  readonly #space: KeySpace;
  /** Per slot: CATALOG and HEALTH bits. */
  #flags = new Uint8Array(0);
  /** Flagged slots, in the order they were first marked, from {@link #head} on. */
  #list: number[] = [];
  #head = 0;

  constructor(space: KeySpace) {
    this.#space = space;
  }

  /** Keys marked and not taken yet (a key marked in both maps counts once). */
  get size(): number {
    return this.#list.length - this.#head;
  }

  /** Marks `key` of the map `flag` (CATALOG or HEALTH) as changed. */
  mark(key: string, flag: number): void {
    const space = this.#space;
    const held = space.slotOf(key);
    if (held !== undefined && held < this.#flags.length) {
      const flags = this.#flags[held] as number;
      if ((flags & flag) !== 0) return;
      if (flags !== 0) {
        this.#flags[held] = flags | flag;
        return;
      }
    }
    const slot = space.acquire(key);
    if (slot >= this.#flags.length) this.#flags = grown(this.#flags, capacityFor(slot, this.#flags.length));
    this.#flags[slot] = flag;
    this.#list.push(slot);
  }

  /**
   * Takes marked keys, oldest first, until `limit` keys (a key of both maps counts twice) are taken
   * or none is left: the catalog's and the health map's ids.
   */
  take(limit: number): { catalog: string[]; health: string[] } {
    const catalog: string[] = [];
    const health: string[] = [];
    const space = this.#space;
    const list = this.#list;
    while (this.#head < list.length && catalog.length + health.length < limit) {
      const slot = list[this.#head++] as number;
      const flags = this.#flags[slot] as number;
      const key = space.keyOf(slot);
      if ((flags & CATALOG) !== 0) catalog.push(key);
      if ((flags & HEALTH) !== 0) health.push(key);
      this.#flags[slot] = 0;
      space.release(slot);
    }
    if (this.#head === list.length) {
      this.#list = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > list.length) {
      this.#list = list.slice(this.#head);
      this.#head = 0;
    }
    return { catalog, health };
  }
}
