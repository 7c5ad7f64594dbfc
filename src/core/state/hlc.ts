/**
 * Hybrid logical clock, after Kulkarni, Demirbas, Madappa, Avva and Leone, "Logical Physical Clocks
 * and Consistent Snapshots in Globally Distributed Databases" (OPODIS 2014), Figure 5. A stamp is
 * (l, c): l is the largest wall time this node has heard of, c counts events within one l. Stamps
 * grow on every local event and move past every stamp observed from a peer, so a write made after
 * seeing another always wins the last-writer-wins join, while l stays within the clock skew of
 * real time (unlike a Lamport clock, a stamp still reads as a date).
 *
 * heck adds the writer's node name as the last key of the order, which makes the order total: two
 * distinct writes never compare equal, so the LWW join never has to pick between equal stamps.
 */
import type { Clock } from "../env.js";
import type { Hlc } from "./types.js";

/**
 * A peer stamp more than this far ahead of the local wall clock is not observed (see
 * {@link HlcClock.observe}). One minute is far above NTP-synchronised skew and far below the time a
 * wrong clock would otherwise drag every node's stamps into the future.
 */
export const DEFAULT_MAX_FORWARD_DRIFT_MS = 60_000;

/** Total order of stamps: wall, then counter, then node name (by UTF-16 code units). */
export function compareHlc(a: Hlc, b: Hlc): number {
  if (a.wall !== b.wall) return a.wall < b.wall ? -1 : 1;
  if (a.counter !== b.counter) return a.counter < b.counter ? -1 : 1;
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return 0;
}

export interface HlcClockOptions {
  /** Peer stamps further ahead of the local clock are not observed. @default 60000 */
  maxForwardDriftMs?: number;
}

export class HlcClock {
  readonly node: string;
  readonly #clock: Clock;
  readonly #maxForwardDriftMs: number;
  #wall = 0;
  #counter = 0;

  constructor(node: string, clock: Clock, options: HlcClockOptions = {}) {
    this.node = node;
    this.#clock = clock;
    this.#maxForwardDriftMs = options.maxForwardDriftMs ?? DEFAULT_MAX_FORWARD_DRIFT_MS;
  }

  /**
   * A stamp for a local event (a write): strictly greater than every stamp this clock issued or
   * observed before. Paper, "send or local event": l = max(l, pt); c = (l unchanged) ? c + 1 : 0.
   */
  now(): Hlc {
    const pt = Math.floor(this.#clock.now());
    if (pt > this.#wall) {
      this.#wall = pt;
      this.#counter = 0;
    } else {
      this.#counter++;
    }
    return this.last();
  }

  /**
   * A stamp for a local write that replaces a value stamped `floor`: {@link now}, or the immediate
   * successor of `floor` when `floor` is still ahead of it. That happens only for a stamp that
   * {@link observe} refused as too far in the future; the user's write must still win over what it
   * replaces, but the clock is not moved there, so one runaway stamp does not carry every later
   * write into the future. Should this clock later reach that very wall time and counter, the two
   * writes share a stamp and the joins' deterministic tie-break still makes replicas agree.
   */
  nowAfter(floor: Hlc): Hlc {
    const stamp = this.now();
    if (compareHlc(stamp, floor) > 0) return stamp;
    return { wall: floor.wall, counter: floor.counter + 1, node: this.node };
  }

  /**
   * Moves the clock past a peer's stamp, so that the next local write is ordered after it.
   * Paper, "receive event of message m". Returns false, leaving the clock as it was, when the
   * stamp's wall time is more than the allowed drift ahead of the local clock: a peer whose clock
   * runs far ahead must not pull every node's stamps into the future. Its entry still merges (a
   * join may not depend on local clocks, or replicas could diverge), and it keeps winning until the
   * writers' clocks pass it.
   */
  observe(remote: Hlc): boolean {
    // Already behind this clock: every later stamp orders after it as things are, and the
    // physical clock need not be read (a bootstrap observes 100,000s of old stamps).
    if (remote.wall < this.#wall) return true;
    const pt = Math.floor(this.#clock.now());
    if (remote.wall > pt + this.#maxForwardDriftMs) return false;
    const old = this.#wall;
    const wall = Math.max(old, remote.wall, pt);
    if (wall === old && wall === remote.wall) this.#counter = Math.max(this.#counter, remote.counter) + 1;
    else if (wall === old) this.#counter++;
    else if (wall === remote.wall) this.#counter = remote.counter + 1;
    else this.#counter = 0;
    this.#wall = wall;
    return true;
  }

  /** The latest stamp issued or observed, without advancing the clock. */
  last(): Hlc {
    return { wall: this.#wall, counter: this.#counter, node: this.node };
  }
}
