/**
 * Sharing of the small values that repeat across a large catalog: the same `expectStatus` list,
 * the same (often empty) header set, the same probe error text. A hundred thousand origins hold a
 * handful of distinct ones, so one shared, frozen copy each saves a good part of an origin's
 * memory. The table is bounded: past its size new values are simply not shared.
 */
export class Interner<T> {
  readonly #table = new Map<string, T>();
  readonly #max: number;

  constructor(max = 10_000) {
    this.#max = max;
  }

  /** The shared copy of a value whose identity is `key`; `make` builds it the first time. */
  get(key: string, make: () => T): T {
    const held = this.#table.get(key);
    if (held !== undefined) return held;
    const value = make();
    if (this.#table.size < this.#max) this.#table.set(key, value);
    return value;
  }
}

const texts = new Interner<string>();

/** The shared copy of a string (error texts, node names). */
export function internText(text: string): string;
export function internText(text: string | null): string | null;
export function internText(text: string | null): string | null {
  return text === null || text.length > 200 ? text : texts.get(text, () => text);
}
