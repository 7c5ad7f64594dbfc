import { type CheckState, initialCheckState, nextCheckState } from "../core/checks/check-state.js";
import type { Prober } from "../core/checks/prober.js";
import { firstDueAt, nextDueAt } from "../core/checks/schedule.js";
import type { Clock, Rng, TimerHandle, Timers } from "../core/env.js";
import type { HealthRecord, OriginEntry, OriginSpec } from "../core/state/types.js";

/** What the checker reads and writes of the replicated state. */
export interface CheckerState {
  liveOrigins(): Iterable<OriginEntry>;
  healthOf(id: string): HealthRecord | undefined;
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
  /** The owner of an origin in this node's current view. */
  ownerOf(originId: string): string | undefined;
  /** Called after every completed probe, for metrics. */
  onProbe?(ok: boolean, latencyMs: number): void;
}

interface Task {
  spec: OriginSpec;
  check: CheckState;
  timer: TimerHandle | undefined;
  inFlight: AbortController | undefined;
}

/**
 * Probes the origins this node owns, one timer per origin. Ownership is recomputed by
 * `reconcile()`, which coalesces bursts (a push-pull that brings ten thousand origins, a member
 * event) into one pass on the next tick. A new owner starts from the replicated status (contract:
 * no reset to `unknown`).
 */
export class Checker {
  readonly #o: CheckerOptions;
  readonly #tasks = new Map<string, Task>();
  #reconcileTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: CheckerOptions) {
    this.#o = options;
  }

  /** Number of origins this node owns and probes. */
  owned(): number {
    return this.#tasks.size;
  }

  /** Ids of the origins this node owns and probes. */
  ownedIds(): IterableIterator<string> {
    return this.#tasks.keys();
  }

  /** Schedules one ownership pass on the next tick; repeated calls before it runs coalesce. */
  reconcile(): void {
    if (this.#stopped || this.#reconcileTimer !== undefined) return;
    this.#reconcileTimer = this.#o.timers.setTimeout(() => {
      this.#reconcileTimer = undefined;
      this.reconcileNow();
    }, 0);
  }

  /** One ownership pass: start probing newly owned origins, stop probing the others. */
  reconcileNow(): void {
    if (this.#stopped) return;
    const seen = new Set<string>();
    for (const entry of this.#o.state.liveOrigins()) {
      const spec = entry.spec;
      if (!spec || this.#o.ownerOf(entry.id) !== this.#o.self) continue;
      seen.add(entry.id);
      const task = this.#tasks.get(entry.id);
      if (!task) {
        const replicated = this.#o.state.healthOf(entry.id)?.status;
        const fresh: Task = {
          spec,
          check: initialCheckState(replicated),
          timer: undefined,
          inFlight: undefined,
        };
        this.#tasks.set(entry.id, fresh);
        this.#arm(entry.id, fresh, firstDueAt(entry.id, spec.intervalMs, this.#o.clock.now()));
      } else if (task.spec !== spec) {
        // Replaced spec: keep the status and streak, restart the schedule at the new interval.
        task.spec = spec;
        this.#cancel(task);
        this.#arm(entry.id, task, firstDueAt(entry.id, spec.intervalMs, this.#o.clock.now()));
      }
    }
    for (const [id, task] of this.#tasks) {
      if (seen.has(id)) continue;
      this.#cancel(task);
      this.#tasks.delete(id);
    }
  }

  /** Stops every timer and aborts probes in flight. Safe twice. */
  stop(): void {
    this.#stopped = true;
    if (this.#reconcileTimer !== undefined) this.#o.timers.clearTimeout(this.#reconcileTimer);
    this.#reconcileTimer = undefined;
    for (const task of this.#tasks.values()) this.#cancel(task);
    this.#tasks.clear();
  }

  #arm(id: string, task: Task, dueAt: number): void {
    const delay = Math.max(0, dueAt - this.#o.clock.now());
    task.timer = this.#o.timers.setTimeout(() => this.#probe(id, task), delay);
  }

  #cancel(task: Task): void {
    if (task.timer !== undefined) this.#o.timers.clearTimeout(task.timer);
    task.timer = undefined;
    task.inFlight?.abort();
    task.inFlight = undefined;
  }

  #probe(id: string, task: Task): void {
    task.timer = undefined;
    const startedAt = this.#o.clock.now();
    const spec = task.spec;
    const controller = new AbortController();
    task.inFlight = controller;
    this.#o.prober.probe(spec, controller.signal).then(
      (result) => {
        if (this.#tasks.get(id) !== task || task.inFlight !== controller) return;
        task.inFlight = undefined;
        this.#o.onProbe?.(result.ok, result.latencyMs);
        const previous = this.#o.state.healthOf(id);
        const check = nextCheckState(task.check, result.ok, spec);
        task.check = check;
        const now = this.#o.clock.now();
        const changed = !previous || previous.status !== check.status;
        this.#o.state.recordHealth(id, {
          status: check.status,
          reporter: this.#o.self,
          checkedAt: now,
          changedAt: changed ? now : (previous?.changedAt ?? now),
          latencyMs: result.latencyMs,
          error: result.error,
        });
        this.#arm(id, task, nextDueAt(startedAt, spec.intervalMs, this.#o.rng));
      },
      () => {
        // Only an abort rejects: the task was cancelled or the checker stopped.
      },
    );
  }
}
