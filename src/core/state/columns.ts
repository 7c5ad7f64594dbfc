/**
 * Column storage for the causal maps (causal-map.ts): a key's version lives in slots of typed
 * arrays instead of a handful of small objects. A catalog of 100,000 origins held as objects costs
 * some ten objects per origin (the version, its value, the spec, the target dot, boxed numbers);
 * each is a header and pointers on the heap, and the garbage collector traces all of them on every
 * full collection. In columns an origin's version is a few numbers in arrays outside the heap, its
 * spec the URL alone plus a shared template of the other fields, which a catalog repeats.
 *
 * Readers still get plain objects: a column store builds the value of a slot when asked, so the
 * objects a reader holds are young and short-lived. (A spec past the template table is held whole
 * and handed out as it is: as everywhere in the state, callers MUST NOT change what they read.)
 */
import { capacityFor, grown } from "../typed-arrays.js";
import { CountedTexts, ownText } from "./intern.js";
import { TextColumn } from "./text-column.js";
import type { CatalogValue, HealthStatus, HealthValue, OriginSpec } from "./types.js";

/** Names that versions carry (writer ids, reporters), each held once and referred to by index. */
export class NameTable {
  readonly #index = new Map<string, number>();
  readonly #names: string[] = [];

  idOf(name: string): number {
    let i = this.#index.get(name);
    if (i === undefined) {
      const own = ownText(name);
      i = this.#names.length;
      this.#names.push(own);
      this.#index.set(own, i);
    }
    return i;
  }

  nameOf(id: number): string {
    return this.#names[id] as string;
  }
}

/** One table for every map of the process: writer ids and node names are few and long-lived. */
export const names = new NameTable();

/** Where a causal map keeps the value of a slot's (single) version. */
export interface ValueColumns<V> {
  /** Makes room for slots below `capacity`. */
  grow(capacity: number): void;
  set(slot: number, value: V): void;
  /** A fresh object equal to the value last set at `slot`. */
  get(slot: number): V;
  /** Lets go of what `slot` refers to (the slot is empty or holds a tombstone now). */
  clear(slot: number): void;
}

/** Values kept as they are, one reference per slot: for maps of small values (tests). */
export class ObjectColumns<V> implements ValueColumns<V> {
  readonly #values: Array<V | undefined> = [];

  grow(): void {}

  set(slot: number, value: V): void {
    this.#values[slot] = value;
  }

  get(slot: number): V {
    return this.#values[slot] as V;
  }

  clear(slot: number): void {
    if (slot < this.#values.length) this.#values[slot] = undefined;
  }
}

/** Distinct templates kept at most; specs beyond are held whole. */
const MAX_TEMPLATES = 10_000;

/**
 * Catalog values: the URL of each spec, the shared template of its other fields, and the target dot.
 * A template is the spec in normal form (catalog.ts) with an empty URL; the specs of a catalog
 * share a few of them.
 */
export class CatalogColumns implements ValueColumns<CatalogValue> {
  /** The URLs, in an arena (text-column.ts). */
  readonly #url = new TextColumn();
  /** Index into #templates, or -1: the spec is in #whole. */
  #template = new Int32Array(0);
  #targetWriter = new Int32Array(0);
  #targetCounter = new Float64Array(0);
  readonly #templates: OriginSpec[] = [];
  readonly #templateIds = new Map<string, number>();
  readonly #whole = new Map<number, OriginSpec>();
  #lastTemplate = 0;

  grow(capacity: number): void {
    this.#url.grow(capacity);
    this.#template = grown(this.#template, capacity);
    this.#targetWriter = grown(this.#targetWriter, capacity);
    this.#targetCounter = grown(this.#targetCounter, capacity);
  }

  set(slot: number, value: CatalogValue): void {
    const template = this.#templateOf(value.spec);
    this.#template[slot] = template;
    if (template < 0) {
      this.#whole.set(slot, value.spec);
      this.#url.clear(slot);
    } else {
      this.#whole.delete(slot);
      this.#url.set(slot, value.spec.url);
    }
    this.#targetWriter[slot] = names.idOf(value.target.writer);
    this.#targetCounter[slot] = value.target.counter;
  }

  get(slot: number): CatalogValue {
    return { spec: this.spec(slot), target: this.target(slot) };
  }

  clear(slot: number): void {
    this.#url.clear(slot);
    this.#whole.delete(slot);
  }

  /** The spec of the value at `slot`, built from its template. */
  spec(slot: number): OriginSpec {
    const template = this.#template[slot] as number;
    if (template < 0) return this.#whole.get(slot) as OriginSpec;
    const spec = { ...(this.#templates[template] as OriginSpec) };
    spec.url = this.#url.get(slot) as string;
    return spec;
  }

  target(slot: number): { writer: string; counter: number } {
    return {
      writer: names.nameOf(this.#targetWriter[slot] as number),
      counter: this.#targetCounter[slot] as number,
    };
  }

  /** Whether the target at `slot` is the dot (writer id `writer` in {@link names}, counter). */
  hasTarget(slot: number, writer: number, counter: number): boolean {
    return this.#targetWriter[slot] === writer && this.#targetCounter[slot] === counter;
  }

  /** The probe interval of the spec at `slot`, read without building the spec. */
  intervalMs(slot: number): number {
    const template = this.#template[slot] as number;
    const spec = template < 0 ? this.#whole.get(slot) : this.#templates[template];
    return (spec as OriginSpec).intervalMs;
  }

  targetWriterId(slot: number): number {
    return this.#targetWriter[slot] as number;
  }

  targetCounter(slot: number): number {
    return this.#targetCounter[slot] as number;
  }

  #templateOf(spec: OriginSpec): number {
    // Specs of one catalog arrive in runs sharing one template: compare with the last one first.
    const last = this.#templates[this.#lastTemplate];
    if (last !== undefined && sameButUrl(last, spec)) return this.#lastTemplate;
    const id = this.#findTemplate(spec);
    if (id >= 0) this.#lastTemplate = id;
    return id;
  }

  #findTemplate(spec: OriginSpec): number {
    const template = { ...spec, url: "" };
    const key = JSON.stringify(template);
    let id = this.#templateIds.get(key);
    if (id === undefined) {
      if (this.#templates.length >= MAX_TEMPLATES) return -1;
      id = this.#templates.length;
      this.#templates.push(Object.freeze(template) as OriginSpec);
      this.#templateIds.set(key, id);
    }
    return id;
  }
}

/**
 * Whether `spec` equals `template` in every field but the URL. Nested values (expectStatus,
 * headers) are compared by identity: specs in normal form share them (catalog.ts).
 */
function sameButUrl(template: OriginSpec, spec: OriginSpec): boolean {
  const t = template as unknown as Record<string, unknown>;
  const s = spec as unknown as Record<string, unknown>;
  let n = 0;
  for (const key in s) {
    n++;
    if (key !== "url" && s[key] !== t[key]) return false;
  }
  let m = 0;
  for (const _ in t) m++;
  return n === m;
}

const STATUS_NAMES: readonly HealthStatus[] = ["unknown", "healthy", "unhealthy"];
const STATUS_CODES = new Map<string, number>(STATUS_NAMES.map((s, i) => [s, i]));

/** Health values: one number per field, null as NaN (times) or -1 (names); error texts shared. */
export class HealthColumns implements ValueColumns<HealthValue> {
  #status = new Uint8Array(0);
  #reporter = new Int32Array(0);
  #confirmedBy = new Int32Array(0);
  #checkedAt = new Float64Array(0);
  #changedAt = new Float64Array(0);
  #latencyMs = new Float64Array(0);
  #targetWriter = new Int32Array(0);
  #targetCounter = new Float64Array(0);
  /** The error text's number in {@link errors} plus one; 0 for none. */
  #error = new Int32Array(0);

  grow(capacity: number): void {
    this.#error = grown(this.#error, capacity);
    this.#status = grown(this.#status, capacity);
    this.#reporter = grown(this.#reporter, capacity);
    this.#confirmedBy = grown(this.#confirmedBy, capacity);
    this.#checkedAt = grown(this.#checkedAt, capacity);
    this.#changedAt = grown(this.#changedAt, capacity);
    this.#latencyMs = grown(this.#latencyMs, capacity);
    this.#targetWriter = grown(this.#targetWriter, capacity);
    this.#targetCounter = grown(this.#targetCounter, capacity);
  }

  set(slot: number, value: HealthValue): void {
    this.#status[slot] = STATUS_CODES.get(value.status) ?? 0;
    this.#reporter[slot] = value.reporter === null ? -1 : names.idOf(value.reporter);
    this.#confirmedBy[slot] = value.confirmedBy == null ? -1 : names.idOf(value.confirmedBy);
    this.#checkedAt[slot] = value.checkedAt ?? Number.NaN;
    this.#changedAt[slot] = value.changedAt ?? Number.NaN;
    this.#latencyMs[slot] = value.latencyMs ?? Number.NaN;
    this.#error[slot] = swapError(this.#error[slot] as number, value.error);
    this.#targetWriter[slot] = names.idOf(value.target.writer);
    this.#targetCounter[slot] = value.target.counter;
  }

  /** The value at `slot`, in the one shape every health value has (see replication.ts). */
  get(slot: number): HealthValue {
    return {
      status: this.status(slot),
      reporter: nameOrNull(this.#reporter[slot] as number),
      checkedAt: numberOrNull(this.#checkedAt[slot] as number),
      changedAt: numberOrNull(this.#changedAt[slot] as number),
      latencyMs: numberOrNull(this.#latencyMs[slot] as number),
      error: errorText(this.#error[slot] as number),
      target: {
        writer: names.nameOf(this.#targetWriter[slot] as number),
        counter: this.#targetCounter[slot] as number,
      },
      confirmedBy: nameOrNull(this.#confirmedBy[slot] as number),
    };
  }

  clear(slot: number): void {
    if (slot < this.#error.length) this.#error[slot] = swapError(this.#error[slot] as number, null);
  }

  status(slot: number): HealthStatus {
    return STATUS_NAMES[this.#status[slot] as number] as HealthStatus;
  }

  /** Whether the target at `slot` is the dot (writer id `writer` in {@link names}, counter). */
  hasTarget(slot: number, writer: number, counter: number): boolean {
    return this.#targetWriter[slot] === writer && this.#targetCounter[slot] === counter;
  }

  /** The target of the value at `slot`. */
  target(slot: number): { writer: string; counter: number } {
    return {
      writer: names.nameOf(this.#targetWriter[slot] as number),
      counter: this.#targetCounter[slot] as number,
    };
  }
}

/** Probe error texts of every health column and probe note of the process, shared. */
const errors = new CountedTexts();

/** The column value for `error` (its number plus one, 0 for null), letting go of the one it replaces. */
function swapError(old: number, error: string | null): number {
  const next = error === null ? 0 : errors.acquire(error) + 1;
  if (old > 0) errors.release(old - 1);
  return next;
}

const errorText = (n: number): string | null => (n > 0 ? errors.text(n - 1) : null);

const numberOrNull = (n: number): number | null => (Number.isNaN(n) ? null : n);
const nameOrNull = (id: number): string | null => (id < 0 ? null : names.nameOf(id));

/** This node's own latest probe of an origin, which its record shows until gossip brings a later one. */
export interface ProbeNote {
  checkedAt: number | null;
  latencyMs: number | null;
  error: string | null;
}

/**
 * This node's probe notes, in columns at the origins' key slots: a node probing 30,000 origins
 * keeps three numbers and a shared error text per origin instead of a map entry, an object and two
 * boxed numbers. A note goes with its slot (the owner of the space calls {@link clear}).
 */
export class ProbeNotes {
  #noted = new Uint8Array(0);
  #checkedAt = new Float64Array(0);
  #latencyMs = new Float64Array(0);
  /** As {@link HealthColumns}'s. */
  #error = new Int32Array(0);

  set(slot: number, note: ProbeNote): void {
    if (slot >= this.#noted.length) {
      const capacity = capacityFor(slot, this.#noted.length);
      this.#noted = grown(this.#noted, capacity);
      this.#error = grown(this.#error, capacity);
      this.#checkedAt = grown(this.#checkedAt, capacity);
      this.#latencyMs = grown(this.#latencyMs, capacity);
    }
    this.#noted[slot] = 1;
    this.#checkedAt[slot] = note.checkedAt ?? Number.NaN;
    this.#latencyMs[slot] = note.latencyMs ?? Number.NaN;
    this.#error[slot] = swapError(this.#error[slot] as number, note.error);
  }

  /** The note at `slot` (a fresh object), or undefined. */
  get(slot: number): ProbeNote | undefined {
    if (this.#noted[slot] !== 1) return undefined;
    return {
      checkedAt: orNull(this.#checkedAt[slot] as number),
      latencyMs: orNull(this.#latencyMs[slot] as number),
      error: errorText(this.#error[slot] as number),
    };
  }

  /** The note's `checkedAt`, or undefined without a note or a time. */
  checkedAt(slot: number): number | undefined {
    if (this.#noted[slot] !== 1) return undefined;
    const at = this.#checkedAt[slot] as number;
    return Number.isNaN(at) ? undefined : at;
  }

  clear(slot: number): void {
    if (this.#noted[slot] !== 1) return;
    this.#noted[slot] = 0;
    this.#error[slot] = swapError(this.#error[slot] as number, null);
  }
}

const orNull = (n: number): number | null => (Number.isNaN(n) ? null : n);
