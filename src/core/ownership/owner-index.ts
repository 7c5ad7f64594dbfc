/**
 * The owner of every origin, kept current incrementally instead of recomputed in full (issue 8,
 * item 1). Rendezvous hashing (rendezvous.ts) makes the incremental rules exact:
 *
 * - a member that joins takes exactly the origins for which its weight beats the current owner's:
 *   one hash per origin, against the owner's weight the index keeps;
 * - a member that departs loses exactly its own origins, each to its runner-up: the index keeps
 *   every origin's runner-up too, so a departure costs no hash at all on the way to current
 *   owners (one step per origin, counted as one hash, so that it too runs in slices); the runner-ups of the moved origins are then recomputed in the background (one hash
 *   per member each), and an origin whose runner-up is unknown or gone is recomputed at once;
 * - an origin added costs one hash per member; a changed spec costs nothing (the owner depends on
 *   the id alone).
 *
 * At 100,000 origins and 1,000 members a join is 100,000 hashes and a departure none (then about
 * 100 x 1,000 in the background), where a full pass is 10^8. Work is counted in hashes and can be done in slices
 * (`setMembers(names, budget)` then `settle(budget)`), so that a large change, such as a node
 * learning 1,000 members at once, never blocks the event loop for long. While work is pending,
 * `ownerOf` may answer from before the change (or undefined for a departed member's origins).
 *
 * Invariant once settled (`pending` is false): for every id, `ownerOf(id)` equals
 * `ownerOf(id, members)` of rendezvous.ts. Pure: no clock, no timers.
 */
import { xxh64 } from "../hash.js";

interface Slot {
  readonly id: string;
  /** The owner, or undefined while there are no members or the slot waits for a recompute. */
  owner: string | undefined;
  /** The owner's rendezvous weight for this id (-1 when there is no owner). */
  weight: bigint;
  /**
   * The runner-up: the best member but the owner. Trusted only while `runnerUpKnown` and while it
   * is still a member (a departed runner-up is noticed when it would be used).
   */
  runnerUp: string | undefined;
  runnerUpWeight: bigint;
  runnerUpKnown: boolean;
  /** The owner before the current one, if any (the member it was handed on or taken from). */
  previous: string | undefined;
}

/** A scan of every origin against members that joined: one hash per (origin, member). */
interface JoinScan {
  members: string[];
  slots: IterableIterator<Slot>;
  /** Origins scored by the latest slice. */
  scored: number;
}

const NO_WEIGHT = -1n;

/** Whether candidate (weight `w`, name `name`) beats `best` (weight `bestWeight`); see rendezvous.ts. */
function beats(w: bigint, name: string, best: string | undefined, bestWeight: bigint): boolean {
  return best === undefined || w > bestWeight || (w === bestWeight && name < best);
}

export class OwnerIndex {
  readonly #slots = new Map<string, Slot>();
  readonly #byOwner = new Map<string, Set<string>>();
  readonly #members = new Set<string>();
  /** `"\n" + member`, built once per member. */
  readonly #suffix = new Map<string, string>();
  /**
   * Departed members' origins, waiting to pass to their runner-ups (one step each, no hash): a
   * member that owned 30,000 origins is handed on in slices, not in one turn.
   */
  #departures: Array<{ name: string; ids: IterableIterator<string> }> = [];
  /** Origins of departed members, waiting to be recomputed over the current members. */
  #orphans: Slot[] = [];
  #orphanHead = 0;
  readonly #scans: JoinScan[] = [];
  /** Origins whose runner-up is to be recomputed; background work, owners are current. */
  #refresh: Slot[] = [];
  #refreshHead = 0;

  /** The members ownership is computed over (after the latest `setMembers`). */
  members(): string[] {
    return [...this.#members];
  }

  /** Number of origins held. */
  get size(): number {
    return this.#slots.size;
  }

  /** Whether some owners are not current yet after a membership change (see `settle`). */
  get pending(): boolean {
    return this.#departures.length > 0 || this.#orphanHead < this.#orphans.length || this.#scans.length > 0;
  }

  /** Whether any work is left, background runner-up refreshes included. */
  get busy(): boolean {
    return this.pending || this.#refreshHead < this.#refresh.length;
  }

  has(id: string): boolean {
    return this.#slots.has(id);
  }

  /** Every id held (a live view: do not change the index while iterating it). */
  ids(): Iterable<string> {
    return this.#slots.keys();
  }

  /** The owner of `id`, or undefined for an unknown id, no members, or a recompute pending. */
  ownerOf(id: string): string | undefined {
    return this.#slots.get(id)?.owner;
  }

  /** The member that owned `id` before its current owner, if it has changed hands here. */
  previousOwnerOf(id: string): string | undefined {
    return this.#slots.get(id)?.previous;
  }

  /** The ids `name` owns (a live view: do not change the index while iterating it). */
  owned(name: string): Iterable<string> {
    return this.#byOwner.get(name) ?? [];
  }

  /** Number of origins per owner, for members that own any. */
  countByOwner(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [name, ids] of this.#byOwner) if (ids.size > 0) out.set(name, ids.size);
    return out;
  }

  /**
   * Replaces the member set (duplicates ignored) and does up to `budget` hashes of the resulting
   * work. Returns the ids whose owner changed so far; when `pending` is then true, call `settle`
   * for the rest.
   */
  setMembers(names: Iterable<string>, budget = Number.POSITIVE_INFINITY): string[] {
    const next = new Set(names);
    const added: string[] = [];
    for (const name of next) if (!this.#members.has(name)) added.push(name);
    const departed = [...this.#members].filter((name) => !next.has(name));
    for (const name of departed) {
      this.#members.delete(name);
      this.#suffix.delete(name);
    }
    const changed: string[] = [];
    // A member back before its departure was handed on: finish that first (rare, and whole), so
    // that no origin still names it as owner when its join scan runs.
    if (added.some((name) => this.#departures.some((d) => d.name === name))) {
      for (const id of this.#handOn(Number.POSITIVE_INFINITY).changed) changed.push(id);
    }
    for (const name of added) {
      this.#members.add(name);
      this.#suffix.set(name, `\n${name}`);
    }
    for (const name of departed) {
      const ids = this.#byOwner.get(name);
      this.#byOwner.delete(name);
      // Detached from the index, the set is never changed again: it can be walked in slices.
      if (ids !== undefined && ids.size > 0) this.#departures.push({ name, ids: ids.values() });
    }
    if (added.length > 0 && this.#slots.size > 0) {
      this.#scans.push({ members: added, slots: this.#slots.values(), scored: 0 });
    }
    for (const id of this.settle(budget)) changed.push(id);
    return dedupe(changed);
  }

  /**
   * Continues pending work for up to `budget` hashes (at least one origin's worth, so that it
   * always progresses): first the origins that have no owner, then join scans, then background
   * runner-up refreshes. Returns the ids whose owner changed.
   */
  settle(budget = Number.POSITIVE_INFINITY): string[] {
    const handed = this.#handOn(budget);
    const changed = handed.changed;
    let spent = handed.spent;
    const memberCount = Math.max(1, this.#members.size);
    const more = () => spent === 0 || spent < budget;
    while (this.#orphanHead < this.#orphans.length && more()) {
      const slot = this.#orphans[this.#orphanHead++] as Slot;
      spent += memberCount;
      // A removed origin needs nothing more. One that a join scan or an upsert has touched since
      // is recomputed all the same: a scan compares only against the members that joined.
      if (this.#slots.get(slot.id) !== slot) continue;
      if (this.#recompute(slot)) changed.push(slot.id);
    }
    if (this.#orphanHead >= this.#orphans.length) {
      this.#orphans = [];
      this.#orphanHead = 0;
    }
    while (this.#scans.length > 0 && more()) {
      const scan = this.#scans[0] as JoinScan;
      // A member that left again before its scan finished takes nothing.
      const members = scan.members.filter((m) => this.#members.has(m));
      const done = members.length === 0 || this.#scan(scan, members, budget - spent, changed);
      spent += scan.scored * members.length;
      if (done) this.#scans.shift();
    }
    while (this.#refreshHead < this.#refresh.length && more()) {
      const slot = this.#refresh[this.#refreshHead++] as Slot;
      if (this.#slots.get(slot.id) !== slot || slot.runnerUpKnown || slot.owner === undefined) continue;
      spent += memberCount;
      this.#recompute(slot);
    }
    if (this.#refreshHead >= this.#refresh.length) {
      this.#refresh = [];
      this.#refreshHead = 0;
    }
    return changed;
  }

  /**
   * Scores the next origins of a join scan against the members that joined, until about `room`
   * hashes are spent (at least one origin) or the scan ends; ids whose owner changed go to
   * `changed` and the number of origins scored to `scan.scored`. Returns true when the scan is
   * done. A method of its own so that V8 optimizes this loop on its own.
   */
  #scan(scan: JoinScan, members: string[], room: number, changed: string[]): boolean {
    const slots = scan.slots;
    const suffixes = members.map((m) => this.#suffix.get(m) as string);
    const count = members.length;
    const most = Math.max(1, Math.ceil(room / count));
    let scored = 0;
    let done = false;
    while (scored < most) {
      const next = slots.next();
      if (next.done === true) {
        done = true;
        break;
      }
      scored++;
      const slot = next.value;
      const before = slot.owner;
      for (let i = 0; i < count; i++) {
        const member = members[i] as string;
        const w = xxh64(slot.id + (suffixes[i] as string));
        if (beats(w, member, slot.owner, slot.weight)) {
          // The owner it beats is the best of the rest: the new runner-up.
          if (slot.owner !== undefined) {
            slot.runnerUp = slot.owner;
            slot.runnerUpWeight = slot.weight;
            slot.runnerUpKnown = true;
          }
          slot.owner = member;
          slot.weight = w;
        } else if (slot.runnerUpKnown && beats(w, member, slot.runnerUp, slot.runnerUpWeight)) {
          slot.runnerUp = member;
          slot.runnerUpWeight = w;
        }
      }
      if (slot.owner !== before) {
        if (before !== undefined) slot.previous = before;
        this.#moveOwned(slot.id, before, slot.owner);
        changed.push(slot.id);
      }
    }
    scan.scored = scored;
    return done;
  }

  /**
   * Hands departed members' origins on, up to `budget` steps: each to its runner-up when that is
   * known and still a member (the best of the others: no hash), else to the orphans, recomputed
   * next. An origin removed or recomputed since its owner left is skipped.
   */
  #handOn(budget: number): { changed: string[]; spent: number } {
    const changed: string[] = [];
    let spent = 0;
    while (this.#departures.length > 0 && (spent === 0 || spent < budget)) {
      const departure = this.#departures[0] as { name: string; ids: IterableIterator<string> };
      const next = departure.ids.next();
      if (next.done) {
        this.#departures.shift();
        continue;
      }
      spent++;
      const slot = this.#slots.get(next.value);
      if (slot === undefined || slot.owner !== departure.name) continue;
      changed.push(slot.id);
      slot.previous = departure.name;
      const heir = slot.runnerUp;
      if (slot.runnerUpKnown && heir !== undefined && this.#members.has(heir)) {
        slot.owner = heir;
        slot.weight = slot.runnerUpWeight;
        this.#forgetRunnerUp(slot);
        this.#addOwned(slot.id, heir);
      } else {
        slot.owner = undefined;
        slot.weight = NO_WEIGHT;
        this.#orphans.push(slot);
      }
    }
    return { changed, spent };
  }

  /**
   * Adds `id`, or recomputes it after a change; one hash per member. Returns true when its owner
   * changed (a new id with members always gets one).
   */
  upsert(id: string): boolean {
    let slot = this.#slots.get(id);
    if (slot === undefined) {
      slot = {
        id,
        owner: undefined,
        weight: NO_WEIGHT,
        runnerUp: undefined,
        runnerUpWeight: NO_WEIGHT,
        runnerUpKnown: false,
        previous: undefined,
      };
      this.#slots.set(id, slot);
    } else if (slot.owner !== undefined) {
      // The owner depends on the id alone: a changed spec moves nothing.
      return false;
    }
    return this.#recompute(slot);
  }

  /** Forgets `id`. Returns the owner it had, if any. */
  remove(id: string): string | undefined {
    const slot = this.#slots.get(id);
    if (slot === undefined) return undefined;
    this.#slots.delete(id);
    if (slot.owner !== undefined) this.#byOwner.get(slot.owner)?.delete(id);
    return slot.owner;
  }

  /** Computes the owner and runner-up of a slot over every member; true when the owner changed. */
  #recompute(slot: Slot): boolean {
    const before = slot.owner;
    let best: string | undefined;
    let bestWeight = NO_WEIGHT;
    let second: string | undefined;
    let secondWeight = NO_WEIGHT;
    for (const [member, suffix] of this.#suffix) {
      const w = xxh64(slot.id + suffix);
      if (beats(w, member, best, bestWeight)) {
        second = best;
        secondWeight = bestWeight;
        best = member;
        bestWeight = w;
      } else if (beats(w, member, second, secondWeight)) {
        second = member;
        secondWeight = w;
      }
    }
    slot.owner = best;
    slot.weight = bestWeight;
    slot.runnerUp = second;
    slot.runnerUpWeight = secondWeight;
    // With a single member there is no runner-up, and that is known.
    slot.runnerUpKnown = true;
    if (best === before) return false;
    if (before !== undefined) slot.previous = before;
    this.#moveOwned(slot.id, before, best);
    return true;
  }

  /** The runner-up moved up to owner: find the next one in the background. */
  #forgetRunnerUp(slot: Slot): void {
    slot.runnerUp = undefined;
    slot.runnerUpWeight = NO_WEIGHT;
    slot.runnerUpKnown = false;
    this.#refresh.push(slot);
  }

  #addOwned(id: string, to: string): void {
    let set = this.#byOwner.get(to);
    if (set === undefined) {
      set = new Set();
      this.#byOwner.set(to, set);
    }
    set.add(id);
  }

  #moveOwned(id: string, from: string | undefined, to: string | undefined): void {
    if (from !== undefined) this.#byOwner.get(from)?.delete(id);
    if (to !== undefined) this.#addOwned(id, to);
  }
}

function dedupe(ids: string[]): string[] {
  return ids.length < 2 ? ids : [...new Set(ids)];
}
