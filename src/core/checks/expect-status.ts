/**
 * `expectStatus` of an origin spec (contract.md "Origin spec"): a list of single HTTP status codes
 * and inclusive "low-high" ranges, each within 100-599. Codes may be given as numbers or strings
 * ("404"), ranges only as strings ("200-399"). The user's list is stored as given; a matcher
 * compiled from it answers the probe's question.
 */
import { ValidationError } from "../../errors.js";

export const MIN_STATUS_CODE = 100;
export const MAX_STATUS_CODE = 599;

/** Inclusive range of status codes. */
export interface StatusRange {
  low: number;
  high: number;
}

export interface StatusMatcher {
  matches(code: number): boolean;
  /** The accepted codes as sorted, disjoint, non-adjacent ranges (for messages and metrics labels). */
  readonly ranges: readonly StatusRange[];
}

const CODE = /^[0-9]{3}$/;
const RANGE = /^([0-9]{3})-([0-9]{3})$/;

const inBounds = (code: number): boolean =>
  Number.isInteger(code) && code >= MIN_STATUS_CODE && code <= MAX_STATUS_CODE;

/**
 * Reads one item of `expectStatus`. Returns the range it stands for, or a human reason why it is
 * not valid (without the field name, which the caller knows).
 */
export function parseStatusItem(item: unknown): StatusRange | string {
  if (typeof item === "number") {
    return inBounds(item) ? { low: item, high: item } : `${item} is not a status code from 100 to 599`;
  }
  if (typeof item !== "string") return 'must be a status code or a range such as "200-399"';
  if (CODE.test(item)) {
    const code = Number(item);
    return inBounds(code) ? { low: code, high: code } : `"${item}" is not a status code from 100 to 599`;
  }
  const range = RANGE.exec(item);
  if (!range) return `"${item}" is neither a status code nor a range such as "200-399"`;
  const low = Number(range[1]);
  const high = Number(range[2]);
  if (!inBounds(low) || !inBounds(high)) return `range "${item}" must lie within 100-599`;
  if (low > high) return `range "${item}" is reversed`;
  return { low, high };
}

/** Sorts and merges overlapping or adjacent ranges so that `ranges` is canonical. */
function mergeRanges(ranges: StatusRange[]): StatusRange[] {
  const sorted = [...ranges].sort((a, b) => a.low - b.low);
  const out: StatusRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.low <= last.high + 1) last.high = Math.max(last.high, r.high);
    else out.push({ ...r });
  }
  return out;
}

/**
 * Compiles `expectStatus` into a matcher. Throws {@link ValidationError} (field `expectStatus`)
 * naming the offending item when the list is empty or an item is invalid.
 */
export function parseExpectStatus(items: ReadonlyArray<unknown>): StatusMatcher {
  if (items.length === 0) {
    throw new ValidationError("expectStatus must list at least one status code or range", "expectStatus");
  }
  const ranges: StatusRange[] = [];
  items.forEach((item, i) => {
    const parsed = parseStatusItem(item);
    if (typeof parsed === "string")
      throw new ValidationError(`expectStatus[${i}]: ${parsed}`, "expectStatus");
    ranges.push(parsed);
  });
  const merged = mergeRanges(ranges);
  // One flag per code: a probe's verdict is then one array read, whatever the list's length.
  const accepted = new Uint8Array(MAX_STATUS_CODE + 1);
  for (const r of merged) accepted.fill(1, r.low, r.high + 1);
  return {
    ranges: merged,
    matches: (code) => Number.isInteger(code) && code >= 0 && code <= MAX_STATUS_CODE && accepted[code] === 1,
  };
}
