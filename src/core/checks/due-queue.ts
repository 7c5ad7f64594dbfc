/**
 * The probes an owner has scheduled, ordered by due time: a binary min-heap that records each
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

export class DueQueue<T extends DueItem> {
  readonly #heap: T[] = [];

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
    item.heapIndex = this.#heap.length;
    this.#heap.push(item);
    this.#up(item.heapIndex);
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
    heap[index] = last;
    last.heapIndex = index;
    this.#down(index);
    this.#up(last.heapIndex);
  }

  #up(index: number): void {
    const heap = this.#heap;
    const item = heap[index] as T;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex] as T;
      if (parent.dueAt <= item.dueAt) break;
      heap[index] = parent;
      parent.heapIndex = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.heapIndex = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const item = heap[index] as T;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && (heap[right] as T).dueAt < (heap[left] as T).dueAt ? right : left;
      const c = heap[child] as T;
      if (c.dueAt >= item.dueAt) break;
      heap[index] = c;
      c.heapIndex = index;
      index = child;
    }
    heap[index] = item;
    item.heapIndex = index;
  }
}
