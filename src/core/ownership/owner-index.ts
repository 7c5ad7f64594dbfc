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
import { KeySpace } from "../state/key-space.js";
import { capacityFor, grown } from "../typed-arrays.js";

/**
 * The index keeps each origin in a slot of column arrays: owner, runner-up and previous owner as
 * member numbers, the two weights as unsigned 64-bit integers. An origin so costs a few numbers
 * outside the heap instead of an object, two boxed weights and a place in a set. The slot is the
 * id's in a key space (key-space.ts), which the replica's maps share.
 */
const NONE = -1;

/** A scan of every origin against members that joined: one hash per (origin, member). */
interface JoinScan {
  members: string[];
  /** The next slot to score. */
  next: number;
  /** Origins scored by the latest slice. */
  scored: number;
}

/** A departed member's origins, found by walking the slots from `next`. */
interface Departure {
  name: string;
  member: number;
  next: number;
}

/** Slots walked to find a departed member's origins count as one step of work per this many. */
const WALK_PER_STEP = 64;

export class OwnerIndex {
  readonly #space: KeySpace;
  #size = 0;
  #capacity = 0;
  /** 1 for the slots this index holds. */
  #held = new Uint8Array(0);
  #owner = new Int32Array(0);
  /** The owner's rendezvous weight for the id (meaningless without an owner). */
  #weight = new BigUint64Array(0);
  /**
   * The runner-up: the best member but the owner. Trusted only while `#runnerUpKnown` and while it
   * is still a member (a departed runner-up is noticed when it would be used).
   */
  #runnerUp = new Int32Array(0);
  #runnerUpWeight = new BigUint64Array(0);
  #runnerUpKnown = new Uint8Array(0);
  /** The owner before the current one, if any (the member it was handed on or taken from). */
  #previous = new Int32Array(0);
  /** Member names by number; a name keeps its number for the life of the index. */
  readonly #names: string[] = [];
  readonly #numbers = new Map<string, number>();
  /** Origins per owner (by number). */
  readonly #counts = new Map<number, number>();
  readonly #members = new Set<string>();
  /** `"\n" + member`, built once per member. */
  readonly #suffix = new Map<string, string>();
  /**
   * Departed members' origins, waiting to pass to their runner-ups (one step each, no hash): a
   * member that owned 30,000 origins is handed on in slices, not in one turn.
   */
  #departures: Departure[] = [];
  /** Origins of departed members, waiting to be recomputed over the current members. */
  #orphans: string[] = [];
  #orphanHead = 0;
  readonly #scans: JoinScan[] = [];
  /** Origins whose runner-up is to be recomputed; background work, owners are current. */
  #refresh: string[] = [];
  #refreshHead = 0;

  /** `space` numbers the ids; pass the replica's to share its slots. */
  constructor(space: KeySpace = new KeySpace()) {
    this.#space = space;
  }

  /** The slot of `id` when the index holds it. */
  #slotOf(id: string): number | undefined {
    const slot = this.#space.slotOf(id);
    return slot !== undefined && this.#isHeld(slot) ? slot : undefined;
  }

  #isHeld(slot: number): boolean {
    return slot < this.#capacity && this.#held[slot] === 1;
  }

  #number(name: string): number {
    let n = this.#numbers.get(name);
    if (n === undefined) {
      n = this.#names.length;
      this.#names.push(name);
      this.#numbers.set(name, n);
    }
    return n;
  }

  #name(n: number): string | undefined {
    return n === NONE ? undefined : this.#names[n];
  }

  /** Whether candidate (weight `w`, member `m`) beats member `best` of weight `bestWeight`; see rendezvous.ts. */
  #beats(w: bigint, m: number, best: number, bestWeight: bigint): boolean {
    return (
      best === NONE ||
      w > bestWeight ||
      (w === bestWeight && (this.#names[m] as string) < (this.#names[best] as string))
    );
  }

  /** The members ownership is computed over (after the latest `setMembers`). */
  members(): string[] {
    return [...this.#members];
  }

  /** Number of origins held. */
  get size(): number {
    return this.#size;
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
    return this.#slotOf(id) !== undefined;
  }

  /** The index's own copy of `id` (the key space's) when it holds it, else `id` itself. */
  canonicalId(id: string): string {
    const slot = this.#slotOf(id);
    return slot === undefined ? id : this.#space.keyOf(slot);
  }

  /** Every id held (a live view: do not change the index while iterating it). */
  *ids(): Iterable<string> {
    for (const [id, slot] of this.#space.entries()) if (this.#isHeld(slot)) yield id;
  }

  /** The owner of `id`, or undefined for an unknown id, no members, or a recompute pending. */
  ownerOf(id: string): string | undefined {
    const slot = this.#slotOf(id);
    return slot === undefined ? undefined : this.#name(this.#owner[slot] as number);
  }

  /** The member that owned `id` before its current owner, if it has changed hands here. */
  previousOwnerOf(id: string): string | undefined {
    const slot = this.#slotOf(id);
    return slot === undefined ? undefined : this.#name(this.#previous[slot] as number);
  }

  /** The ids `name` owns: a walk of every origin, for tests and diagnostics. */
  owned(name: string): string[] {
    const member = this.#numbers.get(name);
    const out: string[] = [];
    if (member === undefined || !this.#members.has(name)) return out;
    for (const [id, slot] of this.#space.entries()) {
      if (this.#isHeld(slot) && this.#owner[slot] === member) out.push(id);
    }
    return out;
  }

  /** Number of origins per owner, for members that own any. */
  countByOwner(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [n, count] of this.#counts) if (count > 0) out.set(this.#names[n] as string, count);
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
      this.#number(name);
    }
    for (const name of departed) {
      const member = this.#number(name);
      const count = this.#counts.get(member) ?? 0;
      this.#counts.delete(member);
      if (count > 0) this.#departures.push({ name, member, next: 0 });
    }
    if (added.length > 0 && this.#size > 0) {
      this.#scans.push({ members: added, next: 0, scored: 0 });
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
      const id = this.#orphans[this.#orphanHead++] as string;
      spent += memberCount;
      // A removed origin needs nothing more. One that a join scan or an upsert has touched since
      // is recomputed all the same: a scan compares only against the members that joined.
      const slot = this.#slotOf(id);
      if (slot !== undefined && this.#recompute(slot)) changed.push(id);
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
      const slot = this.#slotOf(this.#refresh[this.#refreshHead++] as string);
      if (slot === undefined || this.#runnerUpKnown[slot] === 1 || this.#owner[slot] === NONE) continue;
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
    const space = this.#space;
    const suffixes = members.map((m) => this.#suffix.get(m) as string);
    const numbers = members.map((m) => this.#number(m));
    const count = members.length;
    const most = Math.max(1, Math.ceil(room / count));
    const owner = this.#owner;
    const weight = this.#weight;
    let scored = 0;
    let done = false;
    while (scored < most) {
      if (scan.next >= space.limit) {
        done = true;
        break;
      }
      const slot = scan.next++;
      if (!this.#isHeld(slot)) continue;
      scored++;
      const id = space.keyOf(slot);
      const before = owner[slot] as number;
      for (let i = 0; i < count; i++) {
        const member = numbers[i] as number;
        const w = xxh64(id + (suffixes[i] as string));
        const current = owner[slot] as number;
        if (this.#beats(w, member, current, weight[slot] as bigint)) {
          // The owner it beats is the best of the rest: the new runner-up.
          if (current !== NONE) {
            this.#runnerUp[slot] = current;
            this.#runnerUpWeight[slot] = weight[slot] as bigint;
            this.#runnerUpKnown[slot] = 1;
          }
          owner[slot] = member;
          weight[slot] = w;
        } else if (
          this.#runnerUpKnown[slot] === 1 &&
          this.#beats(w, member, this.#runnerUp[slot] as number, this.#runnerUpWeight[slot] as bigint)
        ) {
          this.#runnerUp[slot] = member;
          this.#runnerUpWeight[slot] = w;
        }
      }
      const after = owner[slot] as number;
      if (after !== before) {
        if (before !== NONE) this.#previous[slot] = before;
        this.#moveOwned(before, after);
        changed.push(id);
      }
    }
    scan.scored = scored;
    return done;
  }

  /**
   * Hands departed members' origins on, up to `budget` steps: each to its runner-up when that is
   * known and still a member (the best of the others: no hash), else to the orphans, recomputed
   * next. Each origin found is a step, and so is each {@link WALK_PER_STEP} slots walked.
   */
  #handOn(budget: number): { changed: string[]; spent: number } {
    const changed: string[] = [];
    let spent = 0;
    let walked = 0;
    while (this.#departures.length > 0 && (spent === 0 || spent < budget)) {
      const departure = this.#departures[0] as Departure;
      if (departure.next >= this.#capacity) {
        this.#departures.shift();
        continue;
      }
      const slot = departure.next++;
      if (++walked === WALK_PER_STEP) {
        walked = 0;
        spent++;
      }
      if (this.#owner[slot] !== departure.member || this.#held[slot] !== 1) continue;
      spent++;
      const id = this.#space.keyOf(slot);
      changed.push(id);
      this.#previous[slot] = departure.member;
      const heir = this.#runnerUp[slot] as number;
      if (
        this.#runnerUpKnown[slot] === 1 &&
        heir !== NONE &&
        this.#members.has(this.#names[heir] as string)
      ) {
        this.#owner[slot] = heir;
        this.#weight[slot] = this.#runnerUpWeight[slot] as bigint;
        this.#forgetRunnerUp(slot);
        this.#moveOwned(NONE, heir);
      } else {
        this.#owner[slot] = NONE;
        this.#orphans.push(id);
      }
    }
    return { changed, spent };
  }

  /**
   * Adds `id`, or recomputes it after a change; one hash per member. Returns true when its owner
   * changed (a new id with members always gets one).
   */
  upsert(id: string): boolean {
    let slot = this.#slotOf(id);
    if (slot === undefined) {
      slot = this.#alloc(id);
    } else if (this.#owner[slot] !== NONE) {
      // The owner depends on the id alone: a changed spec moves nothing.
      return false;
    }
    return this.#recompute(slot);
  }

  /** Forgets `id`. Returns the owner it had, if any. */
  remove(id: string): string | undefined {
    const slot = this.#slotOf(id);
    if (slot === undefined) return undefined;
    const owner = this.#owner[slot] as number;
    // A departed owner's origins were taken off its count already.
    if (owner !== NONE && this.#members.has(this.#names[owner] as string)) this.#moveOwned(owner, NONE);
    this.#owner[slot] = NONE;
    this.#held[slot] = 0;
    this.#size--;
    this.#space.release(slot);
    return this.#name(owner);
  }

  #alloc(id: string): number {
    const slot = this.#space.acquire(id);
    if (slot >= this.#capacity) {
      this.#grow(capacityFor(slot, this.#capacity));
    }
    this.#held[slot] = 1;
    this.#size++;
    this.#owner[slot] = NONE;
    this.#runnerUp[slot] = NONE;
    this.#runnerUpKnown[slot] = 0;
    this.#previous[slot] = NONE;
    return slot;
  }

  #grow(capacity: number): void {
    this.#capacity = capacity;
    this.#held = grown(this.#held, capacity);
    this.#owner = grown(this.#owner, capacity);
    this.#weight = grown(this.#weight, capacity);
    this.#runnerUp = grown(this.#runnerUp, capacity);
    this.#runnerUpWeight = grown(this.#runnerUpWeight, capacity);
    this.#runnerUpKnown = grown(this.#runnerUpKnown, capacity);
    this.#previous = grown(this.#previous, capacity);
  }

  /** Computes the owner and runner-up of a slot over every member; true when the owner changed. */
  #recompute(slot: number): boolean {
    const id = this.#space.keyOf(slot);
    const before = this.#owner[slot] as number;
    let best = NONE;
    let bestWeight = 0n;
    let second = NONE;
    let secondWeight = 0n;
    for (const [member, suffix] of this.#suffix) {
      const m = this.#number(member);
      const w = xxh64(id + suffix);
      if (this.#beats(w, m, best, bestWeight)) {
        second = best;
        secondWeight = bestWeight;
        best = m;
        bestWeight = w;
      } else if (this.#beats(w, m, second, secondWeight)) {
        second = m;
        secondWeight = w;
      }
    }
    this.#owner[slot] = best;
    this.#weight[slot] = bestWeight;
    this.#runnerUp[slot] = second;
    this.#runnerUpWeight[slot] = secondWeight;
    // With a single member there is no runner-up, and that is known.
    this.#runnerUpKnown[slot] = 1;
    if (best === before) return false;
    if (before !== NONE) this.#previous[slot] = before;
    this.#moveOwned(before, best);
    return true;
  }

  /** The runner-up moved up to owner: find the next one in the background. */
  #forgetRunnerUp(slot: number): void {
    this.#runnerUp[slot] = NONE;
    this.#runnerUpKnown[slot] = 0;
    this.#refresh.push(this.#space.keyOf(slot));
  }

  #moveOwned(from: number, to: number): void {
    if (from !== NONE && this.#members.has(this.#names[from] as string)) {
      this.#counts.set(from, (this.#counts.get(from) ?? 1) - 1);
    }
    if (to !== NONE) this.#counts.set(to, (this.#counts.get(to) ?? 0) + 1);
  }
}

function dedupe(ids: string[]): string[] {
  return ids.length < 2 ? ids : [...new Set(ids)];
}
