/** Index of the first element greater than `after` in `sorted` (ascending): a binary search. */
export function firstAfter<T extends number | string>(sorted: readonly T[], after: T): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as T) <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
