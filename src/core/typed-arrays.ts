/**
 * The typed arrays that column storage grows (state/columns.ts, ownership/owner-index.ts).
 *
 * A large column lives in a memory of its own: a `WebAssembly.Memory`, which the runtime reserves
 * as address space and backs with pages only where written. Such a column grows in place, without
 * a copy, and once dropped its pages go straight back to the system. A column in an ordinary
 * typed array instead grows into a new array, and the old one goes back to the C allocator, whose
 * heap keeps the holes. Since growing in place costs no copy, large columns also grow in steps of
 * an eighth rather than double, which leaves less unused room at the end.
 *
 * Growing a column's memory detaches the array it had: {@link grown} returns the new one, and no
 * one may keep the old. Every column here is a private field replaced by `grown`'s result.
 */
export type Column = Float64Array | Int32Array | Uint8Array | BigUint64Array;

export type ColumnType<C extends Column> = {
  new (length: number): C;
  new (buffer: ArrayBuffer, byteOffset: number, length: number): C;
  readonly BYTES_PER_ELEMENT: number;
};

/** The unit in which a `WebAssembly.Memory` grows. */
const PAGE_BYTES = 65_536;
/** A column in a memory of its own may grow up to 4 GiB, the most one memory may hold. */
const MAX_PAGES = 65_536;
/** Columns at least this large get a memory of their own. */
const OWN_MEMORY_BYTES = PAGE_BYTES;
/**
 * Columns in memories of their own at once, at most, in one process. Each memory reserves some
 * 10 GiB of address space, of which a process has room for about 13,000; a runtime that runs out
 * collects garbage for each memory it then fails to make. A node has some 60 such columns: the
 * bound matters only to tests and simulations that run many nodes in one process.
 */
const MAX_OWN_MEMORIES = 1024;
/** From this capacity on, columns grow by an eighth ({@link capacityFor}). */
const FINE_STEP_SLOTS = 16_384;

const memoryOf = new WeakMap<ArrayBufferLike, WebAssembly.Memory>();
let ownMemories = 0;
/** Set once a memory could not be made: each failed try costs the runtime collections. */
let ownMemoryFailed = false;
const released = new FinalizationRegistry<undefined>(() => {
  ownMemories--;
});

/** Columns in memories of their own, now. */
export function ownMemoryColumns(): number {
  return ownMemories;
}

/** A new column of `capacity` slots, zeroed: in a memory of its own when large. */
export function newColumn<C extends Column>(type: ColumnType<C>, capacity: number): C {
  const bytes = capacity * type.BYTES_PER_ELEMENT;
  if (bytes >= OWN_MEMORY_BYTES && ownMemories < MAX_OWN_MEMORIES && !ownMemoryFailed) {
    const own = ownMemory(Math.ceil(bytes / PAGE_BYTES));
    if (own) return new type(own.buffer, 0, capacity);
  }
  return new type(capacity);
}

/** `column` with room for `capacity` slots, its contents kept (the same array when it has room). */
export function grown<C extends Column>(column: C, capacity: number): C {
  if (column.length >= capacity) return column;
  const type = column.constructor as ColumnType<C>;
  const memory = memoryOf.get(column.buffer);
  if (memory) {
    const pages = Math.ceil((capacity * type.BYTES_PER_ELEMENT) / PAGE_BYTES);
    memory.grow(pages - memory.buffer.byteLength / PAGE_BYTES);
    memoryOf.set(memory.buffer, memory);
    return new type(memory.buffer, 0, capacity);
  }
  const out = newColumn(type, capacity);
  out.set(column as never);
  return out;
}

function ownMemory(pages: number): WebAssembly.Memory | undefined {
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES });
  } catch {
    // Out of address space (a limit on virtual memory): ordinary arrays will do, from now on.
    ownMemoryFailed = true;
    return undefined;
  }
  ownMemories++;
  released.register(memory, undefined);
  memoryOf.set(memory.buffer, memory);
  return memory;
}

/**
 * A capacity past `slot`: `capacity` doubled (1,024 at least) while small, and from
 * {@link FINE_STEP_SLOTS} on grown by an eighth (in whole multiples of it) until `slot` fits.
 */
export function capacityFor(slot: number, capacity: number): number {
  let next = Math.max(1024, capacity);
  while (next <= slot) {
    if (next < FINE_STEP_SLOTS) next *= 2;
    else next += FINE_STEP_SLOTS * Math.max(1, Math.floor(next / 8 / FINE_STEP_SLOTS));
  }
  return next;
}
