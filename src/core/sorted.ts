/**
 * Index of the first element greater than `after` in `sorted` (ascending up to `end`, the whole
 * array by default): a binary search.
 */
export function firstAfter<T extends number | string>(
  sorted: readonly T[],
  after: T,
  end: number = sorted.length,
): number {
  let lo = 0;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as T) <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
