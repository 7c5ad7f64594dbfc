/**
 * The probes an owner has scheduled, ordered by due time: a 4-ary min-heap that records each
 * item's position, so that cancelling a probe (its origin moved away) is O(log n) rather than a
 * scan. One timer armed for the head drives every probe of a node, instead of a timer per origin:
 * at 100,000 owned origins that is one timer instead of 100,000. Pure.
 */

export interface DueItem {
  /** When the item is due, on the caller's clock. MUST NOT change while the item is queued. */
  dueAt: number;
  /** Position in the heap, -1 when not queued. Owned by the queue. */
  heapIndex: number;
}

/**
 * Children per node: a 4-ary heap is half as deep as a binary one, and the four keys of a node's
 * children lie side by side in `#keys`.
 */
const ARITY_SHIFT = 2;
const ARITY = 1 << ARITY_SHIFT;

export class DueQueue<T extends DueItem> {
  readonly #heap: T[] = [];
  /**
   * The due times of `#heap`, position for position: sifting compares these, contiguous in memory,
   * rather than reading `dueAt` from items scattered over the heap of the process (at 100,000
   * origins, a cache miss per comparison). Grown by doubling.
   */
  #keys = new Float64Array(64);

  get size(): number {
    return this.#heap.length;
  }

  /** The item due first, without removing it. */
  peek(): T | undefined {
    return this.#heap[0];
  }

  has(item: T): boolean {
    return item.heapIndex >= 0 && this.#heap[item.heapIndex] === item;
  }

  /** Queues `item`, which MUST NOT be queued already. */
  push(item: T): void {
    const index = this.#heap.length;
    if (index === this.#keys.length) {
      const keys = new Float64Array(index * 2);
      keys.set(this.#keys);
      this.#keys = keys;
    }
    this.#heap.push(item);
    this.#up(item, item.dueAt, index);
  }

  /** Removes and returns the item due first. */
  pop(): T | undefined {
    const top = this.#heap[0];
    if (top !== undefined) this.#removeAt(0);
    return top;
  }

  /** Removes `item` if it is queued; returns whether it was. */
  remove(item: T): boolean {
    if (!this.has(item)) return false;
    this.#removeAt(item.heapIndex);
    return true;
  }

  clear(): void {
    for (const item of this.#heap) item.heapIndex = -1;
    this.#heap.length = 0;
  }

  #removeAt(index: number): void {
    const heap = this.#heap;
    const removed = heap[index] as T;
    const last = heap.pop() as T;
    removed.heapIndex = -1;
    if (index === heap.length) return;
    const key = this.#keys[heap.length] as number;
    if (index > 0 && key < (this.#keys[(index - 1) >> ARITY_SHIFT] as number)) this.#up(last, key, index);
    else this.#down(last, key, index);
  }

  /** Places `item` (due at `key`) at `index` or above it. */
  #up(item: T, key: number, index: number): void {
    const heap = this.#heap;
    const keys = this.#keys;
    while (index > 0) {
      const parentIndex = (index - 1) >> ARITY_SHIFT;
      const parentKey = keys[parentIndex] as number;
      if (parentKey <= key) break;
      const parent = heap[parentIndex] as T;
      heap[index] = parent;
      keys[index] = parentKey;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    keys[index] = key;
    item.heapIndex = index;
  }

  /** Places `item` (due at `key`) at `index` or below it. */
  #down(item: T, key: number, index: number): void {
    const heap = this.#heap;
    const keys = this.#keys;
    const n = heap.length;
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
      const moved = heap[child] as T;
      heap[index] = moved;
      keys[index] = childKey;
      moved.heapIndex = index;
      index = child;
    }
    heap[index] = item;
    keys[index] = key;
    item.heapIndex = index;
  }
}
