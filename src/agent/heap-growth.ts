/**
 * How far V8 lets the JavaScript heap grow between full collections. After each one V8 sets the
 * next collection's limit at a multiple of the bytes that survived: a multiple it picks from how
 * fast it collects against how fast the program allocates, up to 4 when the heap may grow to
 * gigabytes, as it may here. A node holding a large catalog survives each collection with
 * 50-100 MB of state and, with V8's sizing, lets its heap reach three to four times that before
 * the next: hundreds of megabytes of resident memory that hold garbage. Capping the multiple at
 * 1.5 (50%, the default) costs more full collections; they mark concurrently, and their pauses
 * shrink with the heap they compact. `bench:state` measures both sides (docs/benchmarks.md).
 *
 * While the node catches up (a new or wiped node takes the catalog in from a peer), its heap is
 * growing towards its final size: the cap would buy nothing there but more collections of a
 * growing heap, so V8 sizes it then. Nodes merely receiving news, even a bulk load, stay capped.
 */
import { setFlagsFromString } from "node:v8";

export class HeapGrowth {
  readonly #percent: number;
  /** The setting last given to V8; -1 before the first. */
  #applied = -1;

  /** `percent`: the cap, 0 to leave the sizing to V8 at all times. */
  constructor(percent: number) {
    this.#percent = percent;
  }

  /** The cap now in force, in percent; 0 when V8 sizes the heap. */
  get applied(): number {
    return Math.max(0, this.#applied);
  }

  /** Caps the growth, or leaves it to V8 while `growing` (the node takes a bootstrap in). */
  update(growing: boolean): void {
    const want = growing ? 0 : this.#percent;
    if (want === this.#applied) return;
    // V8 reads this flag each time it sets a new limit; 0 restores its own choice.
    setFlagsFromString(`--heap-growing-percent=${want}`);
    this.#applied = want;
  }
}
