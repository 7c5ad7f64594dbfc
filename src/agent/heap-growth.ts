/**
 * How the agent asks V8 to keep its heap small. A node holding a large catalog survives each full
 * collection with 50-100 MB of state, and V8's own sizing favours speed over memory two ways:
 *
 * - After each full collection V8 sets the next one's limit at a multiple of the bytes that
 *   survived: a multiple it picks from how fast it collects against how fast the program
 *   allocates, up to 4 when the heap may grow to gigabytes, as it may here. Capping it at 1.2
 *   (`--heap-growth-percent` 20, the default) costs more full collections; they mark
 *   concurrently. V8 keeps a minimum step of some megabytes between them all the same.
 * - The young generation doubles under a burst of allocation up to 32 MB, and stays there until
 *   the program idles. Capped, it keeps the size it has (2 to 4 MB after start-up): more, shorter
 *   scavenges.
 *
 * `bench:state` and `bench:memory` measure both sides (docs/benchmarks.md).
 *
 * While the node catches up (a new or wiped node takes the catalog in from a peer), its heap is
 * growing towards its final size: the cap would buy nothing there but more collections of a
 * growing heap, so V8 sizes it then. Nodes merely receiving news, even a bulk load, stay capped.
 *
 * Left alone: having every full collection compact (`--compact-on-every-full-gc`), as V8 does on
 * its own only after some seconds idle. It took a third off the heap after a bulk load, but a
 * compacting collection pauses the event loop for its evacuation, and during a bootstrap that
 * took the longest stall of the cluster's nodes from about 45 ms to 60 to 150 ms.
 */
import { setFlagsFromString } from "node:v8";

export class HeapGrowth {
  readonly #percent: number;
  /** The growth setting last given to V8; -1 before the first. */
  #applied = -1;

  /** `percent`: the cap, 0 to leave the sizing to V8 at all times. */
  constructor(percent: number) {
    this.#percent = percent;
  }

  /** The cap now in force, in percent; 0 when V8 sizes the heap. */
  get applied(): number {
    return Math.max(0, this.#applied);
  }

  /** Caps the heap, or leaves it to V8 while `growing` (the node takes a bootstrap in). */
  update(growing: boolean): void {
    const want = growing ? 0 : this.#percent;
    if (want === this.#applied) return;
    // V8 reads these flags each time it sets a new limit or would grow the young generation; 0
    // and 2 restore its own choices.
    setFlagsFromString(`--heap-growing-percent=${want}`);
    setFlagsFromString(`--semi-space-growth-factor=${want > 0 ? 1 : 2}`);
    this.#applied = want;
  }
}
