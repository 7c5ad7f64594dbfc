/** The typed arrays that column storage grows (state/columns.ts, ownership/owner-index.ts). */
export type Column = Float64Array | Int32Array | Uint8Array | BigUint64Array;

/** `column` with room for `capacity` slots, its contents kept (the same array when it has room). */
export function grown<C extends Column>(column: C, capacity: number): C {
  if (column.length >= capacity) return column;
  const out = new (column.constructor as new (n: number) => C)(capacity);
  out.set(column as never);
  return out;
}

/** A capacity past `slot`: `capacity` doubled (1,024 at least) until `slot` fits. */
export function capacityFor(slot: number, capacity: number): number {
  let next = Math.max(1024, capacity * 2);
  while (next <= slot) next *= 2;
  return next;
}
