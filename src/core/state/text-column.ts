/**
 * A string per slot, kept as bytes in one arena outside the heap instead of as a string object
 * each. A catalog's URLs and ids are long-lived small objects; made in the same turns as the
 * garbage of a bulk load or a bootstrap, they end up scattered over old-space pages that are
 * otherwise dead, and V8, which compacts only a few pages per collection, keeps those pages. In an
 * arena they cost their bytes and nothing else. Reading one builds a young string.
 *
 * Text of one-byte characters (code units below 256: every URL and id in practice) is stored one
 * byte per character; anything else is kept as the string itself.
 */
import { grown, newColumn } from "../typed-arrays.js";

const NONE = -1;
/** Wider text: held as a string. */
const WIDE = -2;

export class TextColumn {
  #bytes = new Uint8Array(4096);
  /** `#bytes` as a Buffer, which builds a string of its bytes natively: some three times faster. */
  #text = asBuffer(this.#bytes);
  /** Bytes used at the end of the arena. */
  #used = 0;
  /** Bytes of text since cleared or replaced. */
  #dead = 0;
  #start = new Int32Array(0);
  /** Length in characters, NONE for no text, WIDE for text held in #wide. */
  #length = new Int32Array(0);
  readonly #wide = new Map<number, string>();

  grow(capacity: number): void {
    const from = this.#length.length;
    if (capacity <= from) return;
    this.#start = grown(this.#start, capacity);
    this.#length = grown(this.#length, capacity);
    this.#length.fill(NONE, from);
  }

  set(slot: number, text: string): void {
    this.clear(slot);
    const n = text.length;
    for (let i = 0; i < n; i++) {
      if (text.charCodeAt(i) > 0xff) {
        this.#wide.set(slot, text);
        this.#length[slot] = WIDE;
        return;
      }
    }
    if (this.#used + n > this.#bytes.length) this.#makeRoom(n);
    const at = this.#used;
    const bytes = this.#bytes;
    for (let i = 0; i < n; i++) bytes[at + i] = text.charCodeAt(i);
    this.#start[slot] = at;
    this.#length[slot] = n;
    this.#used += n;
  }

  /** The text at `slot`, or undefined. */
  get(slot: number): string | undefined {
    const n = this.#length[slot];
    if (n === undefined || n === NONE) return undefined;
    if (n === WIDE) return this.#wide.get(slot);
    const at = this.#start[slot] as number;
    return this.#text.toString("latin1", at, at + n);
  }

  /** Whether the text at `slot` is `text`, without building it. */
  equals(slot: number, text: string): boolean {
    const n = this.#length[slot];
    if (n === undefined || n === NONE) return false;
    if (n === WIDE) return this.#wide.get(slot) === text;
    if (n !== text.length) return false;
    const at = this.#start[slot] as number;
    const bytes = this.#bytes;
    for (let i = 0; i < n; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
    return true;
  }

  clear(slot: number): void {
    const n = this.#length[slot];
    if (n === undefined || n === NONE) return;
    if (n === WIDE) this.#wide.delete(slot);
    else this.#dead += n;
    this.#length[slot] = NONE;
  }

  /** Bytes the arena holds, live and dead. */
  get arenaBytes(): number {
    return this.#used;
  }

  /**
   * Room for `n` more bytes: the arena is compacted when half of it is dead, else it doubles. A
   * compaction copies the live text once, in slot order.
   */
  #makeRoom(n: number): void {
    const live = this.#used - this.#dead;
    let size = this.#bytes.length;
    if (this.#dead < live) while (size < live + n + (live >> 1)) size *= 2;
    else while (size < 2 * (live + n)) size *= 2;
    const next = newColumn(Uint8Array, size);
    let at = 0;
    const lengths = this.#length;
    for (let slot = 0; slot < lengths.length; slot++) {
      const len = lengths[slot] as number;
      if (len < 0) continue;
      const from = this.#start[slot] as number;
      next.set(this.#bytes.subarray(from, from + len), at);
      this.#start[slot] = at;
      at += len;
    }
    this.#bytes = next;
    this.#text = asBuffer(next);
    this.#used = at;
    this.#dead = 0;
  }
}

const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
