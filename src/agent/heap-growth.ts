/**
 * How the agent asks V8 to keep its heap small. A node holding a large catalog survives each full
 * collection with 50-100 MB of state, and V8's own sizing favours speed over memory three ways:
 *
 * - After each full collection V8 sets the next one's limit at a multiple of the bytes that
 *   survived: a multiple it picks from how fast it collects against how fast the program
 *   allocates, up to 4 when the heap may grow to gigabytes, as it may here. Capping it at 1.5
 *   (`--heap-growth-percent` 50, the default) costs more full collections; they mark
 *   concurrently.
 * - A full collection compacts only the few pages that are emptiest. The objects a bulk load or a
 *   bootstrap leaves behind lie scattered over old-space pages that are otherwise dead, and V8
 *   keeps those pages. Capped, every full collection compacts as V8 does when it reduces memory
 *   on its own (which it does only once the program has been idle for some seconds).
 * - The young generation doubles under a burst of allocation up to 32 MB, and stays there until
 *   the program idles. Capped, it keeps its first size (2 MB): more, shorter scavenges.
 *
 * `bench:state` and `bench:memory` measure both sides (docs/benchmarks.md).
 *
 * While the node catches up (a new or wiped node takes the catalog in from a peer), its heap is
 * growing towards its final size: the cap would buy nothing there but more collections, and more
 * compaction, of a growing heap, so V8 sizes it then. Nodes merely receiving news, even a bulk
 * load, stay capped.
 *
 * While the node helps a peer catch up (sends it the catalog), its full collections do not
 * compact beyond V8's own choice: a collection that compacts pauses the event loop for its
 * evacuation, which in `bench:state` took the longest stall of the nodes sending a bootstrap from
 * about 45 to about 70 ms.
 */
import { setFlagsFromString } from "node:v8";

export class HeapGrowth {
  readonly #percent: number;
  /** The growth setting last given to V8; -1 before the first. */
  #applied = -1;
  #compacting: boolean | undefined;

  /** `percent`: the cap, 0 to leave the sizing to V8 at all times. */
  constructor(percent: number) {
    this.#percent = percent;
    // V8 reads this flag each time the young generation would grow. Set once: a young generation
    // that has grown shrinks only when the program idles.
    if (percent > 0) setFlagsFromString("--semi-space-growth-factor=1");
  }

  /** The cap now in force, in percent; 0 when V8 sizes the heap. */
  get applied(): number {
    return Math.max(0, this.#applied);
  }

  /** Whether every full collection compacts now. */
  get compacting(): boolean {
    return this.#compacting === true;
  }

  /**
   * Caps the growth, or leaves it to V8 while `growing` (the node takes a bootstrap in); compacts
   * on every full collection while capped, unless `helping` (the node sends a peer a bootstrap).
   */
  update(growing: boolean, helping = false): void {
    const want = growing ? 0 : this.#percent;
    // V8 reads both flags at each full collection; 0 restores its own choice of growth.
    if (want !== this.#applied) {
      setFlagsFromString(`--heap-growing-percent=${want}`);
      this.#applied = want;
    }
    const compact = want > 0 && !helping;
    if (compact !== this.#compacting) {
      setFlagsFromString(compact ? "--compact-on-every-full-gc" : "--no-compact-on-every-full-gc");
      this.#compacting = compact;
    }
  }
}
