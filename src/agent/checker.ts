import { type CheckState, initialCheckState, nextCheckState } from "../core/checks/check-state.js";
import { type DueItem, DueQueue } from "../core/checks/due-queue.js";
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
import type { KeySpace } from "../core/state/key-space.js";
import type { HealthRecord, HealthStatus, OriginEntry, OriginSpec } from "../core/state/types.js";

/** What the checker reads and writes of the replicated state. */
export interface CheckerState {
  /** Every live origin (read on `reconcile()`, the full resynchronisation). */
  liveOrigins(): Iterable<OriginEntry>;
  /** The catalog entry of `id` (a tombstone has `spec: null`), or undefined. */
  origin(id: string): OriginEntry | undefined;
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

type TaskPhase = "queued" | "waiting" | "running" | "stopped";

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

/**
 * One owned origin. A class with every field set in its constructor, so that all tasks share one
 * shape and hold their fields in the object itself; and nothing in it is replaced per probe: the
 * check state is kept in its own fields, and the times are numbers from the start (NaN for "not
 * yet"), which V8 updates in place. A task lives as long as its origin is owned (in old space, at
 * 100,000 origins), so an object made per probe and kept until the next one (10 s later) would be
 * promoted there and grow the old generation by the probe rate, each full collection of that heap
 * costing the event loop tens of milliseconds.
 */
class Task implements DueItem, CheckState {
  dueAt: number;
  /** The spec's probe interval, for the watermark ({@link Checker.probeWatermark}). */
  intervalMs: number;
  heapIndex = -1;
  phase: TaskPhase = "queued";
  /**
   * The probe in flight, aborted when the task ends (the origin moved away or was deleted, or the
   * checker stopped). One per probe, not one per task, so that an owned origin holds nothing for it
   * between probes.
   */
  inFlight: InFlightProbe | undefined = undefined;
  /** Counts the task's probes, so that a result is taken only from the latest. */
  probes = 0;
  /** When this node's last probe of the origin completed; NaN before the first. */
  probedAt = Number.NaN;
  /** The check state (check-state.ts), held here rather than as an object replaced per probe. */
  status: HealthStatus;
  successes = 0;
  failures = 0;

  /**
   * The catalog write the task last took its spec from (writer, counter): a new one is a replaced
   * spec.
   */
  specWriter: string;
  specCounter: number;
  /**
   * The spec, for an origin probed often ({@link HOLD_SPEC_BELOW_MS}); else undefined, and each
   * probe reads it from the catalog, whose columns hold it in a few bytes.
   */
  spec: OriginSpec | undefined;

  constructor(
    readonly id: string,
    entry: OriginEntry,
    /** `host:port` of the target, the key of the per-host limit. */
    public host: string,
    status: HealthStatus,
    dueAt: number,
  ) {
    this.status = status;
    this.dueAt = dueAt;
    this.intervalMs = entry.spec.intervalMs;
    this.specWriter = entry.dot.writer;
    this.specCounter = entry.dot.counter;
    this.spec = holdsSpec(entry.spec) ? entry.spec : undefined;
  }

  /** Whether `entry` is the catalog write the task took its spec from. */
  takenFrom(entry: OriginEntry): boolean {
    return this.specCounter === entry.dot.counter && this.specWriter === entry.dot.writer;
  }

  /** Takes the spec of `entry`, a replaced one. */
  take(entry: OriginEntry): void {
    this.intervalMs = entry.spec.intervalMs;
    this.specWriter = entry.dot.writer;
    this.specCounter = entry.dot.counter;
    this.spec = holdsSpec(entry.spec) ? entry.spec : undefined;
    this.host = hostOf(entry.spec.url);
  }

  /** Takes the check state `next` (which may be a short-lived object: nothing keeps it). */
  setCheck(next: CheckState): void {
    this.status = next.status;
    this.successes = next.successes;
    this.failures = next.failures;
  }
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
    readonly task: Task,
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

/** The probes in flight to one target `host:port`, and those waiting for one of its slots. */
interface HostSlot {
  readonly host: string;
  inFlight: number;
  waiting: Fifo<Task> | undefined;
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
  readonly #tasks = new Map<string, Task>();
  readonly #due = new DueQueue<Task>();
  readonly #ready = new Fifo<Task>();
  /** Per target `host:port` with probes in flight or waiting. */
  readonly #hosts = new Map<string, HostSlot>();
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
    this.#index = new OwnerIndex(options.keySpace);
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
    for (const task of this.#tasks.values()) {
      const at = task.probedAt;
      if (Number.isNaN(at)) continue;
      const interval = task.intervalMs;
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
  ownedIds(): IterableIterator<string> {
    return this.#tasks.keys();
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
    for (const task of this.#tasks.values()) {
      task.phase = "stopped";
      task.inFlight?.abort();
    }
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
      for (const id of this.#tasks.keys()) this.#dirty.add(id);
      for (const id of index.ids()) if (!live.has(id)) this.#dirty.add(id);
    }
    let spent = 0;
    const clock = this.#o.clock;
    const started = clock.now();
    const late = () => clock.now() - started >= WORK_SLICE_MS;
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
      const entry = this.#o.state.origin(id);
      spent += APPLY_COST_IN_HASHES;
      if (entry?.spec) {
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

  /** Starts, updates or stops probing `id` after its owner or spec may have changed. */
  #apply(id: string): void {
    const entry = this.#o.state.origin(id);
    const spec = entry?.spec ?? null;
    const task = this.#tasks.get(id);
    if (entry === undefined || spec === null || this.#index.ownerOf(id) !== this.#o.self) {
      if (task) this.#cancel(task);
      return;
    }
    const now = this.#o.clock.now();
    if (task === undefined) {
      // The previous owner's watermark bounds its last probe from below: an origin it probed
      // since its last record is not taken for overdue and probed again at once.
      const health = this.#o.state.healthOf(id, this.#index.previousOwnerOf(id));
      const check = initialCheckState(health?.status);
      const fresh = new Task(
        // The key space's copy of the id when there is one, rather than a second string.
        this.#index.canonicalId(id),
        entry,
        hostOf(spec.url),
        check.status,
        inheritedDueAt(
          id,
          intervalFor(spec, check),
          now,
          health?.checkedAt,
          this.#o.rng,
          this.#jitterPercent,
          this.#handoverSpreadMs,
        ),
      );
      this.#tasks.set(fresh.id, fresh);
      this.#due.push(fresh);
      this.#armTimer();
    } else if (!task.takenFrom(entry)) {
      // Replaced spec: keep the status and streak; a queued probe comes soon under the new spec.
      task.take(entry);
      if (task.phase === "queued") {
        this.#due.remove(task);
        task.dueAt = firstDueAt(id, intervalFor(spec, task), now, this.#handoverSpreadMs);
        this.#due.push(task);
        this.#armTimer();
      }
    }
  }

  #cancel(task: Task): void {
    this.#tasks.delete(task.id);
    this.#due.remove(task);
    task.phase = "stopped";
    task.inFlight?.abort();
  }

  /** Keeps the one timer armed for the head of the due heap. */
  #armTimer(): void {
    if (this.#stopped) return;
    const head = this.#due.peek();
    if (head === undefined || (this.#timer !== undefined && this.#timerAt <= head.dueAt)) return;
    if (this.#timer !== undefined) this.#o.timers.clearTimeout(this.#timer);
    this.#timerAt = head.dueAt;
    this.#timer = this.#o.timers.setTimeout(
      () => {
        this.#timer = undefined;
        this.#timerAt = Number.POSITIVE_INFINITY;
        this.#fire();
      },
      Math.max(0, head.dueAt - this.#o.clock.now()),
    );
  }

  /** Moves every due probe into the ready line, starts what the limits allow, re-arms. */
  #fire(): void {
    const now = this.#o.clock.now();
    for (let head = this.#due.peek(); head !== undefined && head.dueAt <= now; head = this.#due.peek()) {
      this.#due.pop();
      head.phase = "waiting";
      this.#ready.push(head);
    }
    this.#drain();
    this.#armTimer();
  }

  /** Starts waiting probes while slots are free, at most maxStartsPerTurn in this turn. */
  #drain(): void {
    if (this.#stopped) return;
    let started = 0;
    while (this.#inFlight < this.#maxConcurrent && started < this.#maxStartsPerTurn) {
      const task = this.#ready.shift();
      if (task === undefined) break;
      if (task.phase !== "waiting") continue;
      let slot = this.#hosts.get(task.host);
      if (slot === undefined) {
        slot = { host: task.host, inFlight: 0, waiting: undefined };
        this.#hosts.set(task.host, slot);
      } else if (slot.inFlight >= this.#maxPerHost) {
        slot.waiting ??= new Fifo();
        slot.waiting.push(task);
        continue;
      }
      if (this.#start(task, slot)) started++;
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

  /** Starts a probe of `task` under `slot`; false when its origin has gone meanwhile. */
  #start(task: Task, slot: HostSlot): boolean {
    const spec = task.spec ?? this.#o.state.origin(task.id)?.spec;
    if (spec === undefined) {
      // Deleted, with the change still to be applied: the task ends here.
      this.#cancel(task);
      const idle = slot.inFlight === 0 && (slot.waiting === undefined || slot.waiting.size === 0);
      if (idle && this.#hosts.get(slot.host) === slot) this.#hosts.delete(slot.host);
      return false;
    }
    const startedAt = this.#o.clock.now();
    const probe = new InFlightProbe(
      task,
      ++task.probes,
      spec,
      slot,
      startedAt,
      Math.max(0, startedAt - task.dueAt),
    );
    task.inFlight = probe;
    task.phase = "running";
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
    const task = probe.task;
    if (task.inFlight === probe) task.inFlight = undefined;
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
    while (next !== undefined && next.phase !== "waiting") next = slot.waiting?.shift();
    if (next !== undefined) this.#ready.unshift(next);
    if (slot.inFlight === 0 && (slot.waiting === undefined || slot.waiting.size === 0)) {
      if (this.#hosts.get(slot.host) === slot) this.#hosts.delete(slot.host);
    }
    const current = task.phase === "running" && task.probes === probe.number && !this.#stopped;
    if (current) {
      if (result === undefined) {
        this.#requeue(task, probe.startedAt, probe.spec);
      } else {
        const spec = probe.spec;
        this.#o.onProbe?.(result.ok, result.latencyMs, probe.lateMs, result.error);
        const turnsDown =
          !result.ok &&
          task.status !== "unhealthy" &&
          nextCheckState(task, false, spec).status === "unhealthy";
        if (turnsDown && this.#o.confirm && spec.confirm !== false) {
          this.#confirmThenRecord(task, spec, probe.number, probe.startedAt, result.latencyMs, result.error);
        } else {
          this.#record(task, spec, result.ok, result.latencyMs, result.error);
          this.#requeue(task, probe.startedAt, spec);
        }
      }
    }
    this.#scheduleDrain();
  }

  /**
   * The failure that would turn `task` unhealthy is checked from a second place first. The task
   * stays `running` (no new probe of it starts) until the answer; if ownership moved meanwhile,
   * the answer is dropped.
   */
  #confirmThenRecord(
    task: Task,
    spec: OriginSpec,
    probe: number,
    startedAt: number,
    latencyMs: number,
    error: string | null,
  ): void {
    const confirm = this.#o.confirm as NonNullable<CheckerOptions["confirm"]>;
    const settle = (answer: { by: string; failed: boolean } | undefined) => {
      if (task.phase !== "running" || task.probes !== probe || this.#stopped) return;
      if (answer && !answer.failed) {
        // The origin answered the other member: the failure is this node's own. No verdict; the
        // streak starts over, so the next failures ask again.
        this.#o.onConfirm?.("refuted");
        task.successes = 0;
        task.failures = 0;
      } else {
        this.#o.onConfirm?.(answer ? "confirmed" : "unanswered");
        this.#record(task, spec, false, latencyMs, error, answer?.by ?? null);
      }
      this.#requeue(task, startedAt, spec);
      this.#scheduleDrain();
    };
    confirm(task.id).then(settle, () => settle(undefined));
  }

  #record(
    task: Task,
    spec: OriginSpec,
    ok: boolean,
    latencyMs: number,
    error: string | null,
    confirmedBy: string | null = null,
  ): void {
    const previous = this.#o.state.healthOf(task.id);
    const check = nextCheckState(task, ok, spec);
    task.setCheck(check);
    const now = this.#o.clock.now();
    task.probedAt = now;
    const changed = !previous || previous.status !== check.status;
    this.#o.state.recordHealth(task.id, {
      status: check.status,
      reporter: this.#o.self,
      checkedAt: now,
      changedAt: changed ? now : (previous?.changedAt ?? now),
      latencyMs,
      error,
      confirmedBy: check.status === "unhealthy" ? (confirmedBy ?? previous?.confirmedBy ?? null) : null,
    });
  }

  #requeue(task: Task, startedAt: number, spec: OriginSpec): void {
    const interval = intervalFor(spec, task);
    task.dueAt = gridDueAt(task.id, startedAt, interval, this.#o.rng, this.#jitterPercent);
    task.phase = "queued";
    this.#due.push(task);
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
