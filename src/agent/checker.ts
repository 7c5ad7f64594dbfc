import {
  type CheckState,
  checkState,
  initialCheckState,
  nextCheckState,
} from "../core/checks/check-state.js";
import { DueQueue } from "../core/checks/due-queue.js";
import type { ProbeResult, Prober, ProbeSignal, ProbeSignalListener } from "../core/checks/prober.js";
import {
  DEFAULT_HANDOVER_SPREAD_MS,
  DEFAULT_JITTER_PERCENT,
  firstDueAt,
  gridDueAt,
  inheritedDueAt,
  intervalFor,
} from "../core/checks/schedule.js";
import type { Clock, Rng, TimerHandle, Timers } from "../core/env.js";
import { Fifo } from "../core/fifo.js";
import { OwnerIndex } from "../core/ownership/owner-index.js";
import { internText } from "../core/state/intern.js";
import { KeySpace } from "../core/state/key-space.js";
import type { HealthRecord, OriginEntry, OriginSpec } from "../core/state/types.js";
import { Phase, TaskTable } from "./task-table.js";

/** What the checker reads and writes of the replicated state. */
export interface CheckerState {
  /** Every live origin (read on `reconcile()`, the full resynchronisation). */
  liveOrigins(): Iterable<OriginEntry>;
  /** The catalog entry of `id` (a tombstone has `spec: null`), or undefined. */
  origin(id: string): OriginEntry | undefined;
  /** Whether `id` is a live origin (`origin(id)?.spec` is set), told without building its entry. */
  isLive(id: string): boolean;
  /**
   * The health of `id`; given `owner`, its `checkedAt` is raised to that member's probe watermark
   * (the time by which it had probed every origin it owned with this interval).
   */
  healthOf(id: string, owner?: string): HealthRecord | undefined;
  /** Records this node's probe outcome in the replicated health register. */
  recordHealth(id: string, fields: Omit<HealthRecord, "id">): void;
}

export interface CheckerOptions {
  /** This node's name: the owner it probes for, and the `reporter` it records. */
  self: string;
  prober: Prober;
  state: CheckerState;
  clock: Clock;
  timers: Timers;
  rng: Rng;
  /** The members that may own origins in this node's current view (alive and suspect). */
  members(): readonly string[];
  /**
   * Called after every completed probe, for metrics: its verdict, its latency, and how late it
   * started after it was due (time spent waiting for a free probe slot included), and its error
   * (null when it succeeded).
   */
  onProbe?(ok: boolean, latencyMs: number, lateMs: number, error: string | null): void;
  /**
   * Asks another member to probe `originId` once, before this node turns it `unhealthy`: a node
   * whose own network is broken must not mark healthy origins down. Resolves with the member that
   * answered and whether its probe failed too; undefined when no member could be asked or none
   * answered in time (the verdict then stands on this node's probes alone). Without it, no
   * confirmation is asked. Origins with `confirm: false` are never confirmed.
   */
  confirm?(originId: string): Promise<{ by: string; failed: boolean } | undefined>;
  /** Called once per confirmation asked, for metrics. */
  onConfirm?(outcome: "confirmed" | "refuted" | "unanswered"): void;
  /**
   * The replica's key space (key-space.ts), so that the owner index keeps its columns at the slots
   * the state's maps use. @default a space of the checker's own
   */
  keySpace?: KeySpace;
  /** Probes in flight at once on this node. @default 1024 */
  maxConcurrentProbes?: number;
  /** Probes in flight at once to one target `host:port`, so that no origin host is stormed. @default 32 */
  maxProbesPerHost?: number;
  /** Probes started in one turn of the event loop; the rest start on the next turns. @default 256 */
  maxStartsPerTurn?: number;
  /** Jitter of each later probe, in percent of the interval, centred on it (Envoy's interval_jitter_percent). @default 0 */
  jitterPercent?: number;
  /**
   * A new origin is first probed within min(interval, this), spread by id; an overdue inherited
   * one within what is left of that window. @default 2000
   */
  handoverSpreadMs?: number;
  /** Rendezvous hashes of ownership work per turn of the event loop (about 5-10 ms). @default 2500 */
  ownershipHashesPerTurn?: number;
}

/**
 * Starting or updating the probing of one origin (catalog and health lookups, parsing its URL,
 * a heap insert) costs about as much as this many rendezvous hashes; counted against the slice
 * budget so that a catalog of 100,000 origins arriving at once is also taken in slices.
 */
const APPLY_COST_IN_HASHES = 8;
/**
 * A slice of ownership work also ends once it has run this long: the costs above hold for warm
 * code, and a node that has just started runs it several times slower (a bootstrap).
 */
const WORK_SLICE_MS = 8;

/**
 * A task holds its spec (and so the prober's prepared request, kept per spec object) only when
 * the origin may be probed more often than this. A spec read from the catalog's columns and a
 * request built from it cost some 6 µs per probe; held, they cost some 400 bytes per origin for
 * as long as it is owned. At one probe a minute or less, reading them per probe costs a hundredth
 * of a core for 100,000 origins, and holding them 40 MB.
 */
export const HOLD_SPEC_BELOW_MS = 60_000;

function holdsSpec(spec: OriginSpec): boolean {
  const fastest = Math.min(spec.intervalMs, spec.fastIntervalMs ?? Infinity, spec.downIntervalMs ?? Infinity);
  return fastest < HOLD_SPEC_BELOW_MS;
}

/** The reason a probe is aborted with when its task ends. */
const TASK_ENDED = new Error("probe no longer wanted");

/**
 * One probe in flight: the signal that cancels it (lighter than an AbortController, which is made
 * of an event target and its listener maps, at thousands of probes a second) and what its result
 * is taken with.
 */
class InFlightProbe implements ProbeSignal {
  aborted = false;
  reason: unknown;
  #listener: ProbeSignalListener | undefined;
  /** Listeners beyond the first, which a prober rarely adds. */
  #more: ProbeSignalListener[] | undefined;

  constructor(
    /** The row of the task in the checker's table. */
    readonly row: number,
    /** The task's probe count when this one started. */
    readonly number: number,
    readonly spec: OriginSpec,
    readonly slot: HostSlot,
    readonly startedAt: number,
    readonly lateMs: number,
  ) {}

  addEventListener(_type: "abort", listener: ProbeSignalListener): void {
    if (this.#listener === undefined) this.#listener = listener;
    else if (this.#more === undefined) this.#more = [listener];
    else this.#more.push(listener);
  }

  removeEventListener(_type: "abort", listener: ProbeSignalListener): void {
    if (this.#listener === listener) this.#listener = undefined;
    else if (this.#more !== undefined) this.#more = this.#more.filter((l) => l !== listener);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = TASK_ENDED;
    const listeners = [this.#listener, ...(this.#more ?? [])];
    this.#listener = this.#more = undefined;
    for (const listener of listeners) {
      if (typeof listener === "function") listener();
      else listener?.handleEvent();
    }
  }
}

/** The probes in flight to one target `host:port`, and the tasks (rows) waiting for one of its slots. */
interface HostSlot {
  readonly host: string;
  inFlight: number;
  waiting: Fifo<number> | undefined;
}

/**
 * Probes the origins this node owns (contract.md "Probes", issue 8 items 1-3).
 *
 * Ownership lives in an {@link OwnerIndex}, updated incrementally: a member event costs one hash
 * per origin for a join and none for a departure, and an origin change costs one hash per member,
 * instead of a full members x origins pass. Only the origins whose owner changed are started or
 * stopped; this node stops probing an origin the moment it sees it is no longer the owner (a probe
 * in flight is aborted and its result dropped). Big changes are worked off in slices so the event
 * loop never stalls on them.
 *
 * Scheduled probes sit in one due-time heap driven by a single timer. A due probe starts when a
 * slot is free under both the node's and the target host's concurrency limit, else waits in line.
 * A new owner starts from the replicated status (contract: no reset to `unknown`). It probes an
 * inherited origin when its next probe falls due on its grid, going by the last probe time it
 * knows (the health record's, or its own note of an earlier probe), and at once when that time
 * has passed by min(interval, 2 s) or more, else within the rest of that window, staggered by id
 * ({@link inheritedDueAt}): after a crash, the origins unprobed the longest come first. A new
 * origin is probed within min(interval, 2 s), staggered by id. Bursts are paced by the per-turn
 * budget of ownership work and by the concurrency limits.
 */
export class Checker {
  readonly #o: CheckerOptions;
  readonly #index: OwnerIndex;
  /** The owned origins' tasks, one row each (task-table.ts). */
  readonly #tasks: TaskTable;
  /** Rows of queued tasks by due time. */
  readonly #due = new DueQueue();
  /** Rows of due tasks waiting for a free probe slot. */
  readonly #ready = new Fifo<number>();
  /** Per target `host:port` with probes in flight or waiting. */
  readonly #hosts = new Map<string, HostSlot>();
  /** The probe in flight per task row (an array: set and read at every probe). */
  readonly #probes: Array<InFlightProbe | undefined> = [];
  #inFlight = 0;
  readonly #maxConcurrent: number;
  readonly #maxPerHost: number;
  readonly #maxStartsPerTurn: number;
  readonly #jitterPercent: number;
  readonly #handoverSpreadMs: number;
  readonly #hashesPerTurn: number;

  #timer: TimerHandle | undefined;
  #timerAt = Number.POSITIVE_INFINITY;
  #drainTimer: TimerHandle | undefined;
  #drainScheduled = false;
  #workTimer: TimerHandle | undefined;
  #membersDirty = false;
  #resyncPending = false;
  readonly #dirty = new Set<string>();
  /** Origins whose owner changed in the index, to start or stop probing. */
  readonly #moved = new Set<string>();
  #stopped = false;

  constructor(options: CheckerOptions) {
    this.#o = options;
    const space = options.keySpace ?? new KeySpace();
    this.#index = new OwnerIndex(space);
    this.#tasks = new TaskTable(space);
    this.#maxConcurrent = options.maxConcurrentProbes ?? 1024;
    this.#maxPerHost = options.maxProbesPerHost ?? 32;
    this.#maxStartsPerTurn = options.maxStartsPerTurn ?? 256;
    this.#jitterPercent = options.jitterPercent ?? DEFAULT_JITTER_PERCENT;
    this.#handoverSpreadMs = options.handoverSpreadMs ?? DEFAULT_HANDOVER_SPREAD_MS;
    this.#hashesPerTurn = options.ownershipHashesPerTurn ?? 2500;
  }

  /**
   * Per probe interval (the spec's), the earliest last probe among the origins this node owns and
   * has probed: every one of them has been probed since. An origin not probed yet by this node is
   * left out until its first probe, which comes soon after it is taken over.
   */
  probeWatermark(): Map<number, number> {
    const marks = new Map<number, number>();
    const tasks = this.#tasks;
    for (let row = 0; row < tasks.limit; row++) {
      if (!tasks.live(row)) continue;
      const at = tasks.probedAt(row);
      if (Number.isNaN(at)) continue;
      const interval = tasks.intervalMs(row);
      const mark = marks.get(interval);
      if (mark === undefined || at < mark) marks.set(interval, at);
    }
    return marks;
  }

  /** Number of origins this node owns and probes. */
  owned(): number {
    return this.#tasks.size;
  }

  /** Ids of the origins this node owns and probes. */
  *ownedIds(): IterableIterator<string> {
    const tasks = this.#tasks;
    for (let row = 0; row < tasks.limit; row++) if (tasks.live(row)) yield tasks.id(row);
  }

  /** Probes in flight now. */
  inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The owner of `originId` by this node's index, or undefined when the index does not know the
   * origin yet or has its owner still to recompute.
   */
  ownerOf(originId: string): string | undefined {
    return this.#index.ownerOf(originId);
  }

  /** Origins per owner, by this node's index. */
  countByOwner(): Map<string, number> {
    return this.#index.countByOwner();
  }

  /** The member set may have changed: re-read `members()` on the next turn (bursts coalesce). */
  membersChanged(): void {
    this.#membersDirty = true;
    this.#scheduleWork();
  }

  /** The origin `id` was added, replaced or deleted: handle it on the next turn (bursts coalesce). */
  originChanged(id: string): void {
    this.#dirty.add(id);
    this.#scheduleWork();
  }

  /** A full resynchronisation with the catalog and the member set, on the next turn. */
  reconcile(): void {
    this.#resyncPending = true;
    this.#membersDirty = true;
    this.#scheduleWork();
  }

  /** Does every pending ownership change now, in one go (for tests and benchmarks). */
  reconcileNow(): void {
    if (this.#stopped) return;
    if (this.#workTimer !== undefined) this.#o.timers.clearTimeout(this.#workTimer);
    this.#workTimer = undefined;
    while (this.#workSlice(Number.POSITIVE_INFINITY)) {}
  }

  /** Stops every timer and aborts probes in flight. Safe twice. */
  stop(): void {
    this.#stopped = true;
    for (const handle of [this.#timer, this.#drainTimer, this.#workTimer]) {
      if (handle !== undefined) this.#o.timers.clearTimeout(handle);
    }
    this.#timer = this.#drainTimer = this.#workTimer = undefined;
    const probes = this.#probes.filter((p) => p !== undefined);
    this.#probes.length = 0;
    for (const probe of probes) probe.abort();
    this.#tasks.clear();
    this.#due.clear();
    this.#ready.clear();
    this.#hosts.clear();
    this.#dirty.clear();
    this.#moved.clear();
  }

  #scheduleWork(): void {
    if (this.#stopped || this.#workTimer !== undefined) return;
    this.#workTimer = this.#o.timers.setTimeout(() => {
      this.#workTimer = undefined;
      if (this.#workSlice(this.#hashesPerTurn)) this.#scheduleWork();
    }, 0);
  }

  /** One slice of ownership work of about `budget` hashes; returns true when work remains. */
  #workSlice(budget: number): boolean {
    if (this.#stopped) return false;
    const index = this.#index;
    if (this.#resyncPending) {
      this.#resyncPending = false;
      const live = new Set<string>();
      for (const entry of this.#o.state.liveOrigins()) {
        live.add(entry.id);
        this.#dirty.add(entry.id);
      }
      for (const id of this.ownedIds()) this.#dirty.add(id);
      for (const id of index.ids()) if (!live.has(id)) this.#dirty.add(id);
    }
    let spent = 0;
    const clock = this.#o.clock;
    const started = clock.now();
    // The clock is read every few origins: one costs some microseconds.
    let items = 0;
    const late = () => (++items & 15) === 0 && clock.now() - started >= WORK_SLICE_MS;
    if (this.#membersDirty) {
      this.#membersDirty = false;
      const members = this.#o.members();
      for (const id of index.setMembers(members, budget)) this.#moved.add(id);
      if (index.busy) spent = budget;
    } else if (index.busy) {
      for (const id of index.settle(budget)) this.#moved.add(id);
      spent = budget;
    }
    // Origins whose owner changed: started or stopped here, a slice at a time, since a departed
    // member can leave tens of thousands at once.
    for (const id of this.#moved) {
      if (spent >= budget || late()) break;
      this.#moved.delete(id);
      spent += APPLY_COST_IN_HASHES;
      this.#apply(id);
    }
    const perNewOrigin = Math.max(1, index.members().length);
    for (const id of this.#dirty) {
      if (spent >= budget || late()) break;
      this.#dirty.delete(id);
      spent += APPLY_COST_IN_HASHES;
      if (this.#o.state.isLive(id)) {
        if (!index.has(id)) spent += perNewOrigin;
        index.upsert(id);
      } else {
        index.remove(id);
      }
      this.#apply(id);
    }
    return (
      this.#membersDirty || this.#resyncPending || index.busy || this.#dirty.size > 0 || this.#moved.size > 0
    );
  }

  /**
   * Starts, updates or stops probing `id` after its owner or spec may have changed. The entry is
   * read only for an origin this node owns: most of a catalog arriving is someone else's.
   */
  #apply(id: string): void {
    const tasks = this.#tasks;
    const row = tasks.rowOf(id);
    const entry = this.#index.ownerOf(id) === this.#o.self ? this.#o.state.origin(id) : undefined;
    const spec = entry?.spec ?? null;
    if (entry === undefined || spec === null) {
      if (row >= 0) this.#cancel(row);
      return;
    }
    const now = this.#o.clock.now();
    if (row < 0) {
      // The previous owner's watermark bounds its last probe from below: an origin it probed
      // since its last record is not taken for overdue and probed again at once.
      const health = this.#o.state.healthOf(id, this.#index.previousOwnerOf(id));
      const check = initialCheckState(health?.status);
      const dueAt = inheritedDueAt(
        id,
        intervalFor(spec, check),
        now,
        health?.checkedAt,
        this.#o.rng,
        this.#jitterPercent,
        this.#handoverSpreadMs,
      );
      const fresh = tasks.add(id, check.status, dueAt);
      tasks.take(fresh, spec, hostOf(spec.url), entry.dot.writer, entry.dot.counter, holdsSpec(spec));
      this.#due.push(fresh, dueAt);
      this.#armTimer();
    } else if (!tasks.takenFrom(row, entry.dot.writer, entry.dot.counter)) {
      // Replaced spec: keep the status and streak; a queued probe comes soon under the new spec.
      tasks.take(row, spec, hostOf(spec.url), entry.dot.writer, entry.dot.counter, holdsSpec(spec));
      if (tasks.phase(row) === Phase.Queued) {
        this.#due.remove(row);
        const dueAt = firstDueAt(id, intervalFor(spec, this.#check(row)), now, this.#handoverSpreadMs);
        tasks.setDueAt(row, dueAt);
        this.#due.push(row, dueAt);
        this.#armTimer();
      }
    }
  }

  /** The check state of `row` (check-state.ts), a shared value in the common cases. */
  #check(row: number): CheckState {
    const tasks = this.#tasks;
    return checkState(tasks.status(row), tasks.successes(row), tasks.failures(row));
  }

  /**
   * Ends the task of `row`. A queued one leaves the due heap and its row is freed; a waiting one
   * stays in its line, stopped, until the line reaches it; a running one has its probe aborted,
   * and its row is freed when the probe (or the confirmation after it) settles.
   */
  #cancel(row: number): void {
    const phase = this.#tasks.phase(row);
    if (phase === Phase.Queued) this.#due.remove(row);
    this.#tasks.stop(row, phase === Phase.Waiting || phase === Phase.Running);
    if (phase === Phase.Running) this.#probes[row]?.abort();
  }

  /** Keeps the one timer armed for the head of the due heap. */
  #armTimer(): void {
    if (this.#stopped) return;
    const headAt = this.#due.peekDueAt();
    if (headAt === Number.POSITIVE_INFINITY || (this.#timer !== undefined && this.#timerAt <= headAt)) return;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timerAt = headAt;
    this.#timer = this.#o.timers.setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#fire();
      },
      Math.max(0, headAt - this.#o.clock.now()),
    );
  }

  /** Moves every due probe into the ready line, starts what the limits allow, re-arms. */
  #fire(): void {
    const now = this.#o.clock.now();
    while (this.#due.peekDueAt() <= now) {
      const row = this.#due.pop();
      this.#tasks.setPhase(row, Phase.Waiting);
      this.#ready.push(row);
    }
    this.#drain();
    this.#armTimer();
  }

  /**
   * Whether `row`, just taken from a line, still waits for a slot; a stopped one (cancelled while
   * in line) is freed here, as nothing refers to it any more.
   */
  #stillWaiting(row: number): boolean {
    const phase = this.#tasks.phase(row);
    if (phase === Phase.Stopped) this.#tasks.free(row);
    return phase === Phase.Waiting;
  }

  /** Starts waiting probes while slots are free, at most maxStartsPerTurn in this turn. */
  #drain(): void {
    if (this.#stopped) return;
    let started = 0;
    while (this.#inFlight < this.#maxConcurrent && started < this.#maxStartsPerTurn) {
      const row = this.#ready.shift();
      if (row === undefined) break;
      if (!this.#stillWaiting(row)) continue;
      const host = this.#tasks.host(row);
      let slot = this.#hosts.get(host);
      if (slot === undefined) {
        slot = { host, inFlight: 0, waiting: undefined };
        this.#hosts.set(host, slot);
      } else if (slot.inFlight >= this.#maxPerHost) {
        slot.waiting ??= new Fifo();
        slot.waiting.push(row);
        continue;
      }
      if (this.#start(row, slot)) started++;
    }
    if (this.#ready.size > 0 && this.#inFlight < this.#maxConcurrent) this.#scheduleDrain();
  }

  /**
   * Starts waiting probes once the I/O callbacks of this turn are done rather than from the
   * callback of the probe that just finished: under load, hundreds of probes finish in one turn of
   * the event loop, and starting their successors there too would make that turn as long as all of
   * them together. `Timers.soon` (setImmediate) runs right after them; a zero-delay timeout, the
   * fallback, would leave every free slot idle for a millisecond or more.
   */
  #scheduleDrain(): void {
    if (this.#stopped || this.#drainScheduled || this.#ready.size === 0) return;
    this.#drainScheduled = true;
    const timers = this.#o.timers;
    if (timers.soon !== undefined) timers.soon(this.#drainSoon);
    else this.#drainTimer = timers.setTimeout(this.#drainSoon, 0);
  }

  readonly #drainSoon = (): void => {
    this.#drainScheduled = false;
    this.#drainTimer = undefined;
    this.#drain();
  };

  /** Starts a probe of the task `row` under `slot`; false when its origin has gone meanwhile. */
  #start(row: number, slot: HostSlot): boolean {
    const tasks = this.#tasks;
    const id = tasks.id(row);
    const spec = tasks.spec(row) ?? this.#o.state.origin(id)?.spec;
    if (spec === undefined) {
      // Deleted, with the change still to be applied: the task ends here (out of every line).
      tasks.stop(row, false);
      const idle = slot.inFlight === 0 && (slot.waiting === undefined || slot.waiting.size === 0);
      if (idle && this.#hosts.get(slot.host) === slot) this.#hosts.delete(slot.host);
      return false;
    }
    const startedAt = this.#o.clock.now();
    const probe = new InFlightProbe(
      row,
      tasks.nextProbe(row),
      spec,
      slot,
      startedAt,
      Math.max(0, startedAt - tasks.dueAt(row)),
    );
    // Filled up to the row first: an element far past the end would turn the array into a dictionary.
    const probes = this.#probes;
    while (probes.length <= row) probes.push(undefined);
    probes[row] = probe;
    tasks.setPhase(row, Phase.Running);
    this.#inFlight++;
    slot.inFlight++;
    this.#o.prober.probe(probe.spec, probe).then(
      (result) => this.#settled(probe, result),
      // An abort (the origin moved away, or the checker stopped) is the only expected rejection;
      // any other leaves the origin scheduled as if the probe had not happened.
      () => this.#settled(probe, undefined),
    );
    return true;
  }

  /** A probe ended: its slots are freed, and its result, if still wanted, is taken. */
  #settled(probe: InFlightProbe, result: ProbeResult | undefined): void {
    if (this.#stopped) return;
    const row = probe.row;
    const tasks = this.#tasks;
    if (this.#probes[row] === probe) this.#probes[row] = undefined;
    this.#inFlight--;
    const slot = probe.slot;
    slot.inFlight--;
    // The host has a free slot: its first waiting probe goes first in line, so that the next
    // drain gives it this slot. At the back of the line, probes of the same host ahead of it could
    // take the slot first and send it to the back of the host's line again, time after time: under
    // overload an origin could wait without end. Origins that moved away while they waited are
    // still in the host's line (they are dropped here, not searched for when they move): skip them,
    // or the free slot goes to nobody and the live ones behind them wait for another probe of the
    // host to finish, which for a host with few origins left is seconds.
    let next = slot.waiting?.shift();
    while (next !== undefined && !this.#stillWaiting(next)) next = slot.waiting?.shift();
    if (next !== undefined) this.#ready.unshift(next);
    if (slot.inFlight === 0 && (slot.waiting === undefined || slot.waiting.size === 0)) {
      if (this.#hosts.get(slot.host) === slot) this.#hosts.delete(slot.host);
    }
    // A row is not reused while its probe runs: the phase and count are this task's.
    const phase = tasks.phase(row);
    if (phase === Phase.Stopped) {
      tasks.free(row);
    } else if (phase === Phase.Running && tasks.probes(row) === probe.number) {
      if (result === undefined) {
        this.#requeue(row, probe.startedAt, probe.spec);
      } else {
        const spec = probe.spec;
        this.#o.onProbe?.(result.ok, result.latencyMs, probe.lateMs, result.error);
        const status = tasks.status(row);
        const turnsDown =
          !result.ok &&
          status !== "unhealthy" &&
          nextCheckState(this.#check(row), false, spec).status === "unhealthy";
        if (turnsDown && this.#o.confirm && spec.confirm !== false) {
          this.#confirmThenRecord(row, spec, probe.number, probe.startedAt, result.latencyMs, result.error);
        } else {
          this.#record(row, spec, result.ok, result.latencyMs, result.error);
          this.#requeue(row, probe.startedAt, spec);
        }
      }
    }
    this.#scheduleDrain();
  }

  /**
   * The failure that would turn the task `row` unhealthy is checked from a second place first.
   * The task stays running (no new probe of it starts, and its row is not reused) until the
   * answer; if ownership moved meanwhile, the answer is dropped.
   */
  #confirmThenRecord(
    row: number,
    spec: OriginSpec,
    probe: number,
    startedAt: number,
    latencyMs: number,
    error: string | null,
  ): void {
    const confirm = this.#o.confirm as NonNullable<CheckerOptions["confirm"]>;
    const tasks = this.#tasks;
    const settle = (answer: { by: string; failed: boolean } | undefined) => {
      if (this.#stopped) return;
      if (tasks.phase(row) === Phase.Stopped) {
        tasks.free(row);
        return;
      }
      if (tasks.phase(row) !== Phase.Running || tasks.probes(row) !== probe) return;
      if (answer && !answer.failed) {
        // The origin answered the other member: the failure is this node's own. No verdict; the
        // streak starts over, so the next failures ask again.
        this.#o.onConfirm?.("refuted");
        tasks.setCheck(row, tasks.status(row), 0, 0);
      } else {
        this.#o.onConfirm?.(answer ? "confirmed" : "unanswered");
        this.#record(row, spec, false, latencyMs, error, answer?.by ?? null);
      }
      this.#requeue(row, startedAt, spec);
      this.#scheduleDrain();
    };
    confirm(tasks.id(row)).then(settle, () => settle(undefined));
  }

  #record(
    row: number,
    spec: OriginSpec,
    ok: boolean,
    latencyMs: number,
    error: string | null,
    confirmedBy: string | null = null,
  ): void {
    const tasks = this.#tasks;
    const id = tasks.id(row);
    const previous = this.#o.state.healthOf(id);
    const check = nextCheckState(this.#check(row), ok, spec);
    tasks.setCheck(row, check.status, check.successes, check.failures);
    const now = this.#o.clock.now();
    tasks.setProbedAt(row, now);
    const changed = !previous || previous.status !== check.status;
    this.#o.state.recordHealth(id, {
      status: check.status,
      reporter: this.#o.self,
      checkedAt: now,
      changedAt: changed ? now : (previous?.changedAt ?? now),
      latencyMs,
      error,
      confirmedBy: check.status === "unhealthy" ? (confirmedBy ?? previous?.confirmedBy ?? null) : null,
    });
  }

  #requeue(row: number, startedAt: number, spec: OriginSpec): void {
    const tasks = this.#tasks;
    const interval = intervalFor(spec, this.#check(row));
    const dueAt = gridDueAt(tasks.id(row), startedAt, interval, this.#o.rng, this.#jitterPercent);
    tasks.setDueAt(row, dueAt);
    tasks.setPhase(row, Phase.Queued);
    this.#due.push(row, dueAt);
    this.#armTimer();
  }
}

/** `host:port` of a probe URL, the key of the per-host limit; one shared copy per host. */
function hostOf(url: string): string {
  try {
    return internText(new URL(url).host);
  } catch {
    return url;
  }
}
