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

/**
 * A copy of `text` that holds no other string alive. A string read from a message may be a slice of
 * a larger one (the decoder reads a run of strings at once and slices it), and a slice keeps the
 * whole of its parent: a URL kept for the life of an origin would keep a few kilobytes of the
 * message it came in. Strings shorter than V8's shortest slice (13 characters) are always copies.
 */
export function ownText(text: string): string {
  return text.length < 13 ? text : (JSON.parse(JSON.stringify(text)) as string);
}

/** The shared copy of a string (error texts, node names, writer ids). */
export function internText(text: string): string;
export function internText(text: string | null): string | null;
export function internText(text: string | null): string | null {
  if (text === null) return null;
  return text.length > 200 ? ownText(text) : texts.get(text, () => ownText(text));
}

/**
 * Strings that many slots of a column share (target hosts, probe errors), each held
 * once, numbered and counted: a column keeps the number, and a string goes when no slot refers to
 * it any more. Unlike {@link internText}'s table, it is not bounded: it holds as many strings as
 * there are distinct ones in use.
 */
export class CountedTexts {
  readonly #texts: Array<string | undefined> = [];
  readonly #numbers = new Map<string, number>();
  readonly #refs: number[] = [];
  readonly #free: number[] = [];

  /** The number of `text`, with one reference more. A slice of a message is copied first. */
  acquire(text: string): number {
    let n = this.#numbers.get(text);
    if (n === undefined) {
      const own = ownText(text);
      n = this.#free.pop();
      if (n === undefined) {
        n = this.#texts.length;
        this.#texts.push(own);
        this.#refs.push(0);
      } else {
        this.#texts[n] = own;
      }
      this.#numbers.set(own, n);
    }
    this.#refs[n] = (this.#refs[n] as number) + 1;
    return n;
  }

  release(n: number): void {
    const left = (this.#refs[n] as number) - 1;
    this.#refs[n] = left;
    if (left > 0) return;
    this.#numbers.delete(this.#texts[n] as string);
    this.#texts[n] = undefined;
    this.#free.push(n);
  }

  text(n: number): string {
    return this.#texts[n] as string;
  }

  clear(): void {
    this.#texts.length = 0;
    this.#numbers.clear();
    this.#refs.length = 0;
    this.#free.length = 0;
  }
}
