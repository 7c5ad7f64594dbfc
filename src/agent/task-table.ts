/**
 * The probing state of the origins a node owns, held in columns rather than one object per origin.
 *
 * An owner keeps some fifteen fields per origin for as long as it owns it: when the next probe is
 * due, when the last one completed, the streak, the catalog write its spec came from, the target
 * host. As objects, with a map from id to object and their boxed times, that came to some 230
 * bytes per owned origin on the heap of the process, 7.6 MB for the 33,000 origins a node of three
 * owns at 100,000; the garbage collector walks all of it at each full collection. In columns it is
 * some 60 bytes per owned origin outside the heap, plus 4 per origin of the replica for the
 * mapping from key slot to row.
 *
 * A task is a row. Rows are numbered densely and reused: a free row is taken by the next new task.
 * A task cancelled while a queue or a probe in flight still refers to its row is `stopped`: the row
 * stays out of use until that reference is dropped ({@link TaskTable.free}), so a row number in a
 * queue or a callback always means the task that put it there.
 *
 * Each task holds its key slot (key-space.ts): its id is the space's key of that slot.
 */

import { names } from "../core/state/columns.js";
import { CountedTexts } from "../core/state/intern.js";
import type { KeySpace } from "../core/state/key-space.js";
import type { HealthStatus, OriginSpec } from "../core/state/types.js";
import { capacityFor, grown } from "../core/typed-arrays.js";

/** Where a task is in its cycle. */
export const Phase = {
  /** The row holds no task. */
  Free: 0,
  /** In the due heap, waiting for its time. */
  Queued: 1,
  /** Due, in the ready line or a host's line, waiting for a free probe slot. */
  Waiting: 2,
  /** A probe in flight, or its result waiting for a second member's confirmation. */
  Running: 3,
  /** Cancelled while a line or a probe still refers to the row. */
  Stopped: 4,
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

const STATUSES: readonly HealthStatus[] = ["unknown", "healthy", "unhealthy"];
const STATUS_CODE: Readonly<Record<HealthStatus, number>> = { unknown: 0, healthy: 1, unhealthy: 2 };

// Int32 fields of a row.
const I_SLOT = 0;
const I_INTERVAL = 1;
const I_PROBES = 2;
const I_SUCCESSES = 3;
const I_FAILURES = 4;
const I_WRITER = 5;
const I_HOST = 6;
const INTS = 7;
// Float64 fields of a row.
const F_DUE = 0;
const F_PROBED = 1;
const F_COUNTER = 2;
const FLOATS = 3;
// Byte fields of a row.
const B_PHASE = 0;
const B_STATUS = 1;
const BYTES = 2;

/** Streak counters stop here rather than wrap (some 68 years of probes a second). */
const MAX_STREAK = 0x7fffffff;

export class TaskTable {
  readonly #space: KeySpace;
  /** Per key slot: the row of its task plus one, 0 for none. */
  #rowOfSlot = new Int32Array(0);
  #ints = new Int32Array(0);
  #floats = new Float64Array(0);
  #bytes = new Uint8Array(0);
  /** Rows in use, free ones included below the highest. */
  #rows = 0;
  readonly #freeRows: number[] = [];
  /** Tasks not stopped. */
  #size = 0;
  readonly #hosts = new CountedTexts();
  /** The spec a task holds (origins probed often), by row; an array, read at every probe. */
  readonly #specs: Array<OriginSpec | undefined> = [];

  constructor(space: KeySpace) {
    this.#space = space;
  }

  /** Tasks not stopped: the origins owned. */
  get size(): number {
    return this.#size;
  }

  /** One more than the highest row in use: the bound of a walk over rows. */
  get limit(): number {
    return this.#rows;
  }

  /** The row of the task of `id`, or -1; a stopped task is no longer found. */
  rowOf(id: string): number {
    const slot = this.#space.slotOf(id);
    if (slot === undefined || slot >= this.#rowOfSlot.length) return -1;
    return (this.#rowOfSlot[slot] as number) - 1;
  }

  /**
   * A new task for `id`, queued by the caller: `status` with no streak, due at `dueAt`. The
   * caller then gives it its spec ({@link take}).
   */
  add(id: string, status: HealthStatus, dueAt: number): number {
    const slot = this.#space.acquire(id);
    let row = this.#freeRows.pop();
    if (row === undefined) {
      row = this.#rows++;
      const rows = this.#bytes.length / BYTES;
      if (row >= rows) {
        const capacity = capacityFor(row, rows);
        this.#ints = grown(this.#ints, capacity * INTS);
        this.#floats = grown(this.#floats, capacity * FLOATS);
        this.#bytes = grown(this.#bytes, capacity * BYTES);
      }
    }
    if (slot >= this.#rowOfSlot.length) {
      this.#rowOfSlot = grown(this.#rowOfSlot, capacityFor(slot, this.#rowOfSlot.length));
    }
    this.#rowOfSlot[slot] = row + 1;
    const i = row * INTS;
    const ints = this.#ints;
    ints[i + I_SLOT] = slot;
    ints[i + I_PROBES] = 0;
    ints[i + I_SUCCESSES] = 0;
    ints[i + I_FAILURES] = 0;
    ints[i + I_WRITER] = -1;
    ints[i + I_HOST] = -1;
    ints[i + I_INTERVAL] = 0;
    const f = row * FLOATS;
    this.#floats[f + F_DUE] = dueAt;
    this.#floats[f + F_PROBED] = Number.NaN;
    this.#floats[f + F_COUNTER] = Number.NaN;
    this.#bytes[row * BYTES + B_PHASE] = Phase.Queued;
    this.#bytes[row * BYTES + B_STATUS] = STATUS_CODE[status];
    this.#size++;
    return row;
  }

  /**
   * Ends the task of `row`: its id no longer finds it. With `referenced`, a line or a probe still
   * refers to the row: it is marked stopped and freed by whoever drops that reference; else it is
   * freed now.
   */
  stop(row: number, referenced: boolean): void {
    const slot = this.#ints[row * INTS + I_SLOT] as number;
    if (this.#rowOfSlot[slot] === row + 1) this.#rowOfSlot[slot] = 0;
    this.#size--;
    if (referenced) this.#bytes[row * BYTES + B_PHASE] = Phase.Stopped;
    else this.free(row);
  }

  /** Frees a stopped row (or one stopped without references), letting go of what it held. */
  free(row: number): void {
    const i = row * INTS;
    const ints = this.#ints;
    this.#space.release(ints[i + I_SLOT] as number);
    const host = ints[i + I_HOST] as number;
    if (host >= 0) this.#hosts.release(host);
    this.#specs[row] = undefined;
    this.#bytes[row * BYTES + B_PHASE] = Phase.Free;
    this.#freeRows.push(row);
  }

  /** Drops every task at once (the checker stopped). */
  clear(): void {
    for (let row = 0; row < this.#rows; row++) {
      if (this.phase(row) !== Phase.Free) this.#space.release(this.#ints[row * INTS + I_SLOT] as number);
    }
    this.#rowOfSlot = new Int32Array(0);
    this.#ints = new Int32Array(0);
    this.#floats = new Float64Array(0);
    this.#bytes = new Uint8Array(0);
    this.#rows = 0;
    this.#freeRows.length = 0;
    this.#size = 0;
    this.#hosts.clear();
    this.#specs.length = 0;
  }

  id(row: number): string {
    return this.#space.keyOf(this.#ints[row * INTS + I_SLOT] as number);
  }

  phase(row: number): Phase {
    return this.#bytes[row * BYTES + B_PHASE] as Phase;
  }

  setPhase(row: number, phase: Phase): void {
    this.#bytes[row * BYTES + B_PHASE] = phase;
  }

  /** Whether `row` holds a task that is not stopped. */
  live(row: number): boolean {
    const phase = this.phase(row);
    return phase !== Phase.Free && phase !== Phase.Stopped;
  }

  dueAt(row: number): number {
    return this.#floats[row * FLOATS + F_DUE] as number;
  }

  setDueAt(row: number, at: number): void {
    this.#floats[row * FLOATS + F_DUE] = at;
  }

  /** When this node's last probe of the origin completed; NaN before the first. */
  probedAt(row: number): number {
    return this.#floats[row * FLOATS + F_PROBED] as number;
  }

  setProbedAt(row: number, at: number): void {
    this.#floats[row * FLOATS + F_PROBED] = at;
  }

  /** The spec's probe interval, for the watermark. */
  intervalMs(row: number): number {
    return this.#ints[row * INTS + I_INTERVAL] as number;
  }

  /** Counts the task's probes (wrapping), so that a result is taken only from the latest. */
  probes(row: number): number {
    return this.#ints[row * INTS + I_PROBES] as number;
  }

  /** Numbers a new probe of `row`. */
  nextProbe(row: number): number {
    const i = row * INTS + I_PROBES;
    const next = ((this.#ints[i] as number) + 1) | 0;
    this.#ints[i] = next;
    return next;
  }

  status(row: number): HealthStatus {
    return STATUSES[this.#bytes[row * BYTES + B_STATUS] as number] as HealthStatus;
  }

  successes(row: number): number {
    return this.#ints[row * INTS + I_SUCCESSES] as number;
  }

  failures(row: number): number {
    return this.#ints[row * INTS + I_FAILURES] as number;
  }

  /** Sets the check state (check-state.ts). */
  setCheck(row: number, status: HealthStatus, successes: number, failures: number): void {
    this.#bytes[row * BYTES + B_STATUS] = STATUS_CODE[status];
    const i = row * INTS;
    this.#ints[i + I_SUCCESSES] = Math.min(successes, MAX_STREAK);
    this.#ints[i + I_FAILURES] = Math.min(failures, MAX_STREAK);
  }

  /** Whether the task took its spec from the catalog write (`writer`, `counter`). */
  takenFrom(row: number, writer: string, counter: number): boolean {
    const n = this.#ints[row * INTS + I_WRITER] as number;
    return this.#floats[row * FLOATS + F_COUNTER] === counter && n >= 0 && names.nameOf(n) === writer;
  }

  /**
   * Takes the spec of the catalog write (`writer`, `counter`): its interval and target host, and
   * the spec itself when `hold`.
   */
  take(row: number, spec: OriginSpec, host: string, writer: string, counter: number, hold: boolean): void {
    const i = row * INTS;
    const ints = this.#ints;
    ints[i + I_WRITER] = names.idOf(writer);
    const oldHost = ints[i + I_HOST] as number;
    ints[i + I_HOST] = this.#hosts.acquire(host);
    if (oldHost >= 0) this.#hosts.release(oldHost);
    ints[i + I_INTERVAL] = spec.intervalMs;
    this.#floats[row * FLOATS + F_COUNTER] = counter;
    const specs = this.#specs;
    while (specs.length <= row) specs.push(undefined);
    specs[row] = hold ? spec : undefined;
  }

  /** The spec the task holds, if it holds one. */
  spec(row: number): OriginSpec | undefined {
    return this.#specs[row];
  }

  /** `host:port` of the target, the key of the per-host limit. */
  host(row: number): string {
    return this.#hosts.text(this.#ints[row * INTS + I_HOST] as number);
  }
}
