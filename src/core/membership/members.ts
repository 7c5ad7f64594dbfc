import { type Address, sameAddress } from "../address.js";
import { type Rng, randomInt, shuffle } from "../env.js";
import type { MemberStatus, MemberView } from "./ports.js";

/**
 * The member table and SWIM's state-transition rules (docs/wire.md §6.2). The rules are pure
 * functions of (what we know, what the message says) so they can be table-tested; the table keeps
 * the states and memberlist's round-robin probe order over a shuffled list.
 */

/** Everything known about one member, ourselves included. Mutated in place by Swim. */
export interface MemberState {
  name: string;
  address: Address;
  /** `address.host` as the raw 4 or 16 bytes memberlist sends and compares (docs/wire.md §6.2). */
  addr: Uint8Array;
  meta: Uint8Array;
  /** The member's 6-byte Vsn as last announced (docs/wire.md §6.1). */
  vsn: Uint8Array;
  incarnation: number;
  status: MemberStatus;
  /** Clock time of the last status change. */
  statusSince: number;
}

export function viewOf(state: MemberState): MemberView {
  return {
    name: state.name,
    address: { host: state.address.host, port: state.address.port },
    status: state.status,
    incarnation: state.incarnation,
    meta: state.meta,
    statusSince: state.statusSince,
  };
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  // Decoded addresses, Vsn and Meta are shared between messages (MsgpackReader.readSharedBytes).
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A member that no longer takes part: dead (failed) or left (gracefully). */
export function isGone(status: MemberStatus): boolean {
  return status === "dead" || status === "left";
}

export interface AliveClaim {
  incarnation: number;
  address: Address;
  meta: Uint8Array;
  vsn: Uint8Array;
}

/**
 * What to do with an alive message (docs/wire.md §6.2):
 * - `apply`: record it and re-gossip it;
 * - `refute`: it is about us and disagrees with what we announce (a newer incarnation, or the same
 *   one with other Meta/Vsn), so we must out-bid it;
 * - `conflict`: another address claims a live name;
 * - `ignore`: stale, or an echo of our own announcement (§8.13).
 */
export type AliveVerdict = "apply" | "refute" | "conflict" | "ignore";

export function judgeAlive(
  known: MemberState | undefined,
  claim: AliveClaim,
  isSelf: boolean,
  now: number,
  deadNodeReclaimTimeMs: number,
): AliveVerdict {
  // An unknown node counts as known with incarnation 0, so its first alive must carry >= 1.
  if (known === undefined) return claim.incarnation >= 1 ? "apply" : "ignore";
  let reclaimed = false;
  if (!sameAddress(known.address, claim.address)) {
    // A departed name may return at a new address: always once it left gracefully, and after
    // deadNodeReclaimTime once it failed (0 disables reclaiming dead names, as Serf configures it).
    const reclaimable =
      known.status === "left" ||
      (known.status === "dead" &&
        deadNodeReclaimTimeMs > 0 &&
        now - known.statusSince > deadNodeReclaimTimeMs);
    if (!reclaimable || isSelf) return "conflict";
    reclaimed = true;
  }
  if (isSelf) {
    if (claim.incarnation < known.incarnation) return "ignore";
    if (
      claim.incarnation === known.incarnation &&
      bytesEqual(claim.meta, known.meta) &&
      bytesEqual(claim.vsn, known.vsn)
    ) {
      return "ignore";
    }
    return "refute";
  }
  if (!reclaimed && claim.incarnation <= known.incarnation) return "ignore";
  return "apply";
}

/**
 * A suspect applies to an alive member when its incarnation is at least the known one. When a
 * suspicion is already running, the same condition makes it a confirmation instead.
 */
export function suspectApplies(known: MemberState | undefined, incarnation: number): boolean {
  return known !== undefined && incarnation >= known.incarnation && known.status === "alive";
}

/** A dead applies to a member not yet dead or left when its incarnation is at least the known one. */
export function deadApplies(known: MemberState | undefined, incarnation: number): boolean {
  return known !== undefined && incarnation >= known.incarnation && !isGone(known.status);
}

/** The new incarnation that out-bids an accusation: max(own + 1, accused + 1) (docs/wire.md §6.2). */
export function refutingIncarnation(own: number, accused: number): number {
  return Math.max(own + 1, accused + 1);
}

/**
 * The states of all known members with memberlist's probe order: a list walked round-robin and
 * reshuffled at every wrap, so each member is probed once per cycle in an unpredictable order
 * (SWIM §4.3 "Round-Robin Probe Target Selection": bounded worst-case detection time).
 */
/**
 * A small number for each member name held by some table of the process, shared by all of them,
 * so that a table finds a member in an array indexed by it rather than in a map of its own. A
 * simulated cluster holds a thousand tables of a thousand members and looks a name up in one of
 * them for every message: the one shared map stays in the cache, a thousand maps did not. An id is
 * freed when the last table holding its name drops it, so the ids stay as few as the names held.
 */
const nameIds = new Map<string, number>();
/** How many tables hold the name of each id. */
const idHolders: number[] = [];
const freeIds: number[] = [];

function takeNameId(name: string): number {
  let id = nameIds.get(name);
  if (id === undefined) {
    id = freeIds.pop() ?? idHolders.length;
    nameIds.set(name, id);
    idHolders[id] = 0;
  }
  idHolders[id] = (idHolders[id] as number) + 1;
  return id;
}

function releaseNameId(name: string, id: number): void {
  const holders = (idHolders[id] as number) - 1;
  idHolders[id] = holders;
  if (holders > 0) return;
  nameIds.delete(name);
  freeIds.push(id);
}

/**
 * The positions {@link MemberTable.randomMembers} has swapped, one map for every pick of the
 * process (a pick calls nothing that picks again) rather than a new one five times a second.
 */
const swappedScratch = new Map<number, number>();

export class MemberTable {
  readonly #rng: Rng;
  /** Members by name id (see {@link nameIds}); undefined where this table holds none. */
  readonly #byId: Array<MemberState | undefined> = [];
  #order: MemberState[] = [];
  #probeIndex = 0;

  constructor(rng: Rng) {
    this.#rng = rng;
  }

  get(name: string): MemberState | undefined {
    const id = nameIds.get(name);
    return id === undefined ? undefined : this.#byId[id];
  }

  /** Number of known members including ourselves and dead ones not yet forgotten. */
  get size(): number {
    return this.#order.length;
  }

  all(): readonly MemberState[] {
    return this.#order;
  }

  /**
   * Adds a new member at a random position of the probe list, so a newcomer is probed within
   * the current cycle with the same odds as everyone else.
   */
  add(state: MemberState): void {
    if (this.get(state.name) !== undefined) throw new Error(`member ${state.name} already known`);
    const id = takeNameId(state.name);
    // Filled up to the id, so that the array stays a plain one rather than a sparse dictionary.
    while (this.#byId.length <= id) this.#byId.push(undefined);
    this.#byId[id] = state;
    this.#order.push(state);
    const last = this.#order.length - 1;
    const at = randomInt(this.#rng, last + 1);
    this.#order[last] = this.#order[at] as MemberState;
    this.#order[at] = state;
  }

  /**
   * The next member to probe, skipping `selfName` and departed members; undefined when there is
   * none. The list is reshuffled at each wrap.
   */
  nextProbeTarget(selfName: string): MemberState | undefined {
    for (let checked = 0; checked <= this.#order.length; checked++) {
      if (this.#probeIndex >= this.#order.length) {
        shuffle(this.#rng, this.#order);
        this.#probeIndex = 0;
        continue;
      }
      const candidate = this.#order[this.#probeIndex++] as MemberState;
      if (candidate.name === selfName || isGone(candidate.status)) continue;
      return candidate;
    }
    return undefined;
  }

  /** Up to k distinct random members that pass `accept`. */
  randomMembers(k: number, accept: (state: MemberState) => boolean): MemberState[] {
    const picked: MemberState[] = [];
    if (k <= 0) return picked;
    // Sample by a partial shuffle of indices, no retries when few members qualify. The shuffle
    // is kept sparse (only the swapped positions), so a pick costs the draws it makes, not the
    // size of the table: the gossip picks its targets five times a second.
    const n = this.#order.length;
    const swapped = swappedScratch;
    swapped.clear();
    for (let i = 0; i < n && picked.length < k; i++) {
      const j = i + randomInt(this.#rng, n - i);
      const atI = swapped.get(i) ?? i;
      const atJ = swapped.get(j) ?? j;
      swapped.set(j, atI);
      const state = this.#order[atJ] as MemberState;
      if (accept(state)) picked.push(state);
    }
    return picked;
  }

  /** Drops the members `forget` selects, keeping the probe position; returns them. */
  forget(forget: (state: MemberState) => boolean): MemberState[] {
    const dropped: MemberState[] = [];
    // Called on every probe tick; nearly always nothing is due, which needs no new list.
    if (!this.#order.some(forget)) return dropped;
    const keep: MemberState[] = [];
    let index = this.#probeIndex;
    this.#order.forEach((s, i) => {
      if (forget(s)) {
        dropped.push(s);
        if (i < this.#probeIndex) index--;
      } else {
        keep.push(s);
      }
    });
    if (dropped.length === 0) return dropped;
    this.#order = keep;
    this.#probeIndex = index;
    for (const s of dropped) {
      const id = nameIds.get(s.name) as number;
      this.#byId[id] = undefined;
      releaseNameId(s.name, id);
    }
    return dropped;
  }
}
