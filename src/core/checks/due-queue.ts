/**
 * The probes an owner has scheduled, ordered by due time: a 4-ary min-heap of item numbers (the
 * rows of the owner's task table) that records each item's position, so that cancelling a probe
 * (its origin moved away) is O(log n) rather than a scan. One timer armed for the head drives
 * every probe of a node, instead of a timer per origin: at 100,000 owned origins that is one timer
 * instead of 100,000. Everything lives in typed arrays: the heap costs the garbage collector
 * nothing however many items it holds. Pure.
 */
import { capacityFor, grown } from "../typed-arrays.js";

/**
 * Children per node: a 4-ary heap is half as deep as a binary one, and the four keys of a node's
 * children lie side by side in `#keys`.
 */
const ARITY_SHIFT = 2;
const ARITY = 1 << ARITY_SHIFT;

export class DueQueue {
  /** The items, in heap order. */
  #items = new Int32Array(64);
  /** The due times of `#items`, position for position: sifting compares these, side by side. */
  #keys = new Float64Array(64);
  #size = 0;
  /** Per item number: its position in the heap plus one, 0 when not queued. */
  #position = new Int32Array(64);

  get size(): number {
    return this.#size;
  }

  /** The item due first, without removing it; -1 when empty. */
  peek(): number {
    return this.#size > 0 ? (this.#items[0] as number) : -1;
  }

  /** The due time of the item due first; +Infinity when empty. */
  peekDueAt(): number {
    return this.#size > 0 ? (this.#keys[0] as number) : Number.POSITIVE_INFINITY;
  }

  has(item: number): boolean {
    return item < this.#position.length && (this.#position[item] as number) > 0;
  }

  /** Queues `item` (a number from 0), due at `dueAt`; it MUST NOT be queued already. */
  push(item: number, dueAt: number): void {
    const index = this.#size;
    if (index === this.#items.length) {
      this.#items = grown(this.#items, index * 2);
      this.#keys = grown(this.#keys, index * 2);
    }
    if (item >= this.#position.length) {
      this.#position = grown(this.#position, capacityFor(item, this.#position.length));
    }
    this.#size++;
    this.#up(item, dueAt, index);
  }

  /** Removes and returns the item due first; -1 when empty. */
  pop(): number {
    if (this.#size === 0) return -1;
    const top = this.#items[0] as number;
    this.#removeAt(0);
    return top;
  }

  /** Removes `item` if it is queued; returns whether it was. */
  remove(item: number): boolean {
    if (!this.has(item)) return false;
    this.#removeAt((this.#position[item] as number) - 1);
    return true;
  }

  clear(): void {
    this.#position.fill(0);
    this.#size = 0;
  }

  #removeAt(index: number): void {
    const removed = this.#items[index] as number;
    this.#position[removed] = 0;
    const lastIndex = --this.#size;
    if (index === lastIndex) return;
    const last = this.#items[lastIndex] as number;
    const key = this.#keys[lastIndex] as number;
    if (index > 0 && key < (this.#keys[(index - 1) >> ARITY_SHIFT] as number)) this.#up(last, key, index);
    else this.#down(last, key, index);
  }

  /** Places `item` (due at `key`) at `index` or above it. */
  #up(item: number, key: number, index: number): void {
    const items = this.#items;
    const keys = this.#keys;
    const position = this.#position;
    while (index > 0) {
      const parentIndex = (index - 1) >> ARITY_SHIFT;
      const parentKey = keys[parentIndex] as number;
      if (parentKey <= key) break;
      const parent = items[parentIndex] as number;
      items[index] = parent;
      keys[index] = parentKey;
      position[parent] = index + 1;
      index = parentIndex;
    }
    items[index] = item;
    keys[index] = key;
    position[item] = index + 1;
  }

  /** Places `item` (due at `key`) at `index` or below it. */
  #down(item: number, key: number, index: number): void {
    const items = this.#items;
    const keys = this.#keys;
    const position = this.#position;
    const n = this.#size;
    for (;;) {
      const first = (index << ARITY_SHIFT) + 1;
      if (first >= n) break;
      let child = first;
      let childKey = keys[first] as number;
      const end = Math.min(first + ARITY, n);
      for (let c = first + 1; c < end; c++) {
        const k = keys[c] as number;
        if (k < childKey) {
          child = c;
          childKey = k;
        }
      }
      if (childKey >= key) break;
      const moved = items[child] as number;
      items[index] = moved;
      keys[index] = childKey;
      position[moved] = index + 1;
      index = child;
    }
    items[index] = item;
    keys[index] = key;
    position[item] = index + 1;
  }
}
