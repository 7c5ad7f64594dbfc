/**
 * Replication of the origin catalog and the health registers over the membership layer, as
 * memberlist's delegate: deltas (single entries, see catalog.ts) ride on gossip packets as user
 * messages, and push-pull anti-entropy exchanges whole states, so that whatever gossip loses is
 * repaired within one push-pull interval. Both paths apply the same join, so the order, loss or
 * duplication of messages cannot make replicas disagree once they have seen the same writes.
 *
 * Wire format of every heck user message and user state (append-only, versioned):
 *
 *     byte 0   0x68 ('h'), which no Serf message starts with (Serf's first byte is a message type
 *              below 0x20), so a mixed cluster can tell the two apart
 *     byte 1   format version, 1
 *     rest     msgpack array of deltas, each an array:
 *                [0, id, wall, counter, node, spec | null]                      origin (null: deleted)
 *                [1, id, wall, counter, node, status, reporter, checkedAt,
 *                    changedAt, latencyMs, error]                                health register
 *
 * (wall, counter, node) is the entry's HLC stamp; spec is a map with the field names of OriginSpec.
 */
import { pack, unpack } from "msgpackr";
import type { Address } from "../address.js";
import { isOriginId, isOriginSpec } from "../checks/spec.js";
import { type Clock, type Logger, silentLogger } from "../env.js";
import { BroadcastQueue, retransmitLimit } from "../membership/broadcast-queue.js";
import type { MembershipDelegate } from "../membership/ports.js";
import { Catalog, sameSpec } from "./catalog.js";
import { HealthTable } from "./health.js";
import { compareHlc, HlcClock } from "./hlc.js";
import type { HealthRecord, HealthStatus, Hlc, OriginEntry, OriginSpec } from "./types.js";

export const WIRE_MAGIC = 0x68;
export const WIRE_FORMAT_VERSION = 1;
/** See {@link ReplicatorOptions.retransmitMult}. */
export const DEFAULT_RETRANSMIT_MULT = 8;
const HEADER_BYTES = 2;
/** Largest msgpack array header (array32); reserved so a batch never outgrows its room. */
const ARRAY_HEADER_MAX_BYTES = 5;
/** First bytes below this belong to other users of memberlist's user messages (Serf). */
const FOREIGN_BELOW = 0x20;

const TAG_ORIGIN = 0;
const TAG_HEALTH = 1;
const ORIGIN_FIELDS = 6;
const HEALTH_FIELDS = 11;
const MAX_NODE_NAME = 255;

const STATUSES: ReadonlySet<unknown> = new Set<HealthStatus>(["unknown", "healthy", "unhealthy"]);

export type StateChange =
  | { kind: "origin"; entry: OriginEntry; previous: OriginEntry | undefined }
  | { kind: "health"; record: HealthRecord; previous: HealthRecord | undefined };

export type ChangeListener = (change: StateChange) => void;

export interface ReplicatorOptions {
  /** This node's name: the writer in every stamp it issues. */
  node: string;
  clock: Clock;
  /** Members in the cluster, read whenever the retransmit limit is needed. @default () => 1 */
  clusterSize?: () => number;
  /**
   * Each delta is piggybacked retransmitMult * ceil(log10(n + 1)) times by every node that learns
   * it by gossip (as memberlist's RetransmitMult). When every node forwards a delta r times, a
   * given node misses it with probability about exp(-r); it then waits for the next push-pull.
   * Membership news can afford memberlist's 2-4, since a missed alive or dead is re-learned by
   * the next probe; a missed status change cannot, so deltas get more: exp(-8) < 0.04% per node
   * in the smallest cluster, for a few hundred bytes of gossip per change. @default 8
   */
  retransmitMult?: number;
  /** Peer stamps further ahead of the local clock are not observed (hlc.ts). @default 60000 */
  maxForwardDriftMs?: number;
  log?: Logger;
}

/** The health fields an owner sets; the id and the stamp are the replicator's. */
export type HealthFields = Omit<HealthRecord, "id" | "stamp">;

const isStampPart = (wall: unknown, counter: unknown, node: unknown): boolean =>
  Number.isSafeInteger(wall) &&
  (wall as number) >= 0 &&
  Number.isSafeInteger(counter) &&
  (counter as number) >= 0 &&
  typeof node === "string" &&
  node.length > 0 &&
  node.length <= MAX_NODE_NAME;

const isTime = (v: unknown): v is number | null =>
  v === null || (typeof v === "number" && Number.isFinite(v));
const isText = (v: unknown): v is string | null => v === null || typeof v === "string";

/**
 * A copy of a spec with a fixed key order and no undefined values: what goes on the wire (msgpack
 * has no undefined) and what is kept of a peer's spec (nothing of the decoded object survives).
 */
function normalSpec(spec: OriginSpec): OriginSpec {
  const out: OriginSpec = {
    url: spec.url,
    method: spec.method,
    intervalMs: spec.intervalMs,
    timeoutMs: spec.timeoutMs,
    expectStatus: [...spec.expectStatus],
    healthyThreshold: spec.healthyThreshold,
    unhealthyThreshold: spec.unhealthyThreshold,
    headers: { ...spec.headers },
  };
  if (spec.bodyContains !== undefined) out.bodyContains = spec.bodyContains;
  if (spec.fastIntervalMs !== undefined) out.fastIntervalMs = spec.fastIntervalMs;
  if (spec.downIntervalMs !== undefined) out.downIntervalMs = spec.downIntervalMs;
  if (spec.hostHeader !== undefined) out.hostHeader = spec.hostHeader;
  if (spec.followRedirects !== undefined) out.followRedirects = spec.followRedirects;
  if (spec.freshConnection !== undefined) out.freshConnection = spec.freshConnection;
  if (spec.tlsSkipVerify !== undefined) out.tlsSkipVerify = spec.tlsSkipVerify;
  if (spec.tlsCa !== undefined) out.tlsCa = spec.tlsCa;
  if (spec.tlsServerName !== undefined) out.tlsServerName = spec.tlsServerName;
  return out;
}

function originTuple(e: OriginEntry): unknown[] {
  return [TAG_ORIGIN, e.id, e.stamp.wall, e.stamp.counter, e.stamp.node, e.spec && normalSpec(e.spec)];
}

function healthTuple(r: HealthRecord): unknown[] {
  const { stamp: s } = r;
  return [
    TAG_HEALTH,
    r.id,
    s.wall,
    s.counter,
    s.node,
    r.status,
    r.reporter,
    r.checkedAt,
    r.changedAt,
    r.latencyMs,
    r.error,
  ];
}

/** msgpack of one delta, as a standalone copy (msgpackr returns views of a shared buffer). */
function encodeDelta(tuple: unknown[]): Uint8Array {
  return new Uint8Array(pack(tuple));
}

/** The msgpack array header for `n` items (fixarray, array16 or array32). */
function arrayHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >>> 8, n & 0xff);
  return Uint8Array.of(0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/**
 * A batch payload from already-encoded deltas: concatenated msgpack values after an array header
 * form a valid msgpack array, so queued deltas are packed once and batched by copying.
 */
function batchPayload(deltas: Uint8Array[]): Uint8Array {
  const head = arrayHeader(deltas.length);
  let size = HEADER_BYTES + head.length;
  for (const d of deltas) size += d.length;
  const out = new Uint8Array(size);
  out[0] = WIRE_MAGIC;
  out[1] = WIRE_FORMAT_VERSION;
  out.set(head, HEADER_BYTES);
  let at = HEADER_BYTES + head.length;
  for (const d of deltas) {
    out.set(d, at);
    at += d.length;
  }
  return out;
}

type Decoded = { ok: true; items: unknown[] } | { ok: false; reason: string } | { ok: "ignored" };

export class Replicator implements MembershipDelegate {
  readonly catalog = new Catalog();
  readonly health = new HealthTable();
  readonly clock: HlcClock;
  /** This node's name, the writer of its stamps. */
  readonly node: string;
  readonly #queue: BroadcastQueue;
  readonly #listeners = new Set<ChangeListener>();
  readonly #log: Logger;
  #malformed = 0;

  constructor(options: ReplicatorOptions) {
    this.node = options.node;
    this.clock = new HlcClock(options.node, options.clock, {
      ...(options.maxForwardDriftMs !== undefined ? { maxForwardDriftMs: options.maxForwardDriftMs } : {}),
    });
    const clusterSize = options.clusterSize ?? (() => 1);
    const mult = options.retransmitMult ?? DEFAULT_RETRANSMIT_MULT;
    this.#queue = new BroadcastQueue(() => retransmitLimit(mult, clusterSize()));
    this.#log = options.log ?? silentLogger;
  }

  /** Peer payloads (user messages or states) that were not valid heck data, in whole or in part. */
  get malformed(): number {
    return this.#malformed;
  }

  /** Deltas waiting to be piggybacked. */
  get pendingBroadcasts(): number {
    return this.#queue.size();
  }

  /**
   * Subscribes to every change of the replicated state, local or remote, after it is applied
   * (not to {@link load}). Listeners run synchronously; one that throws is logged and skipped.
   */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Fills the state from durable storage at start: no broadcast, no change event. The stamps are
   * observed, so that writes made after a restart order after those made before it.
   */
  load(entries: Iterable<OriginEntry>, records: Iterable<HealthRecord>): void {
    for (const entry of entries) {
      this.catalog.apply(entry);
      this.clock.observe(entry.stamp);
    }
    for (const record of records) {
      this.health.apply(record);
      this.clock.observe(record.stamp);
    }
  }

  /**
   * Creates or replaces an origin. `spec` MUST come from parseOriginSpec and `id` MUST be valid.
   * `created` is true when no live origin had this id. A spec equal to the live one is not written
   * again, so that re-applying a list of origins causes no gossip.
   */
  putOrigin(id: string, spec: OriginSpec): { created: boolean; entry: OriginEntry } {
    const previous = this.catalog.get(id);
    if (previous?.spec && sameSpec(previous.spec, spec)) {
      return { created: false, entry: previous };
    }
    const entry: OriginEntry = { id, spec, stamp: this.#stampAfter(previous?.stamp) };
    this.#writeOrigin(entry, previous);
    return { created: previous === undefined || previous.spec === null, entry };
  }

  /** {@link putOrigin} for each item, in order. */
  putOrigins(
    items: Iterable<{ id: string; spec: OriginSpec }>,
  ): Array<{ created: boolean; entry: OriginEntry }> {
    const out: Array<{ created: boolean; entry: OriginEntry }> = [];
    for (const { id, spec } of items) out.push(this.putOrigin(id, spec));
    return out;
  }

  /** Deletes an origin by writing a tombstone, which it returns; undefined when there is no live origin `id`. */
  deleteOrigin(id: string): OriginEntry | undefined {
    const previous = this.catalog.get(id);
    if (!previous?.spec) return undefined;
    const tombstone: OriginEntry = { id, spec: null, stamp: this.#stampAfter(previous.stamp) };
    this.#writeOrigin(tombstone, previous);
    return tombstone;
  }

  /**
   * Writes this node's probe outcome for `id` (the owner's register write). Every call is a new
   * write, so push-pull carries the latest checkedAt and latency; but it is gossiped only when the
   * status changed, since a probe every few seconds per origin would otherwise flood the piggyback
   * room that status changes need.
   */
  recordHealth(id: string, fields: HealthFields): HealthRecord {
    const previous = this.health.get(id);
    const record: HealthRecord = { id, ...fields, stamp: this.#stampAfter(previous?.stamp) };
    this.health.apply(record);
    if (previous === undefined || previous.status !== record.status) {
      this.#queue.queue({ key: `h:${id}`, payload: encodeDelta(healthTuple(record)) });
    }
    this.#emit({ kind: "health", record, previous });
    return record;
  }

  // MembershipDelegate

  notifyUserMessage(payload: Uint8Array, _from: Address | undefined): void {
    this.#receive(payload, true);
  }

  /**
   * Queued deltas, least transmitted first, batched into one payload that with its `overhead` fits
   * `limit`. A delta too large for any packet stays queued; push-pull carries it meanwhile.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const room = limit - overhead - HEADER_BYTES - ARRAY_HEADER_MAX_BYTES;
    if (room <= 0 || this.#queue.size() === 0) return [];
    const deltas = this.#queue.take(0, room);
    return deltas.length === 0 ? [] : [batchPayload(deltas)];
  }

  /** The whole catalog (tombstones included) and every health register, in the wire format. */
  localState(_join: boolean): Uint8Array {
    const tuples: unknown[] = [];
    for (const entry of this.catalog.all()) tuples.push(originTuple(entry));
    for (const record of this.health.all()) tuples.push(healthTuple(record));
    const body = pack(tuples);
    const out = new Uint8Array(HEADER_BYTES + body.length);
    out[0] = WIRE_MAGIC;
    out[1] = WIRE_FORMAT_VERSION;
    out.set(body, HEADER_BYTES);
    return out;
  }

  /**
   * Joins a peer's whole state. Changes are not re-gossiped: the peer holds them already, and a
   * joining node would otherwise re-broadcast the entire catalog.
   */
  mergeRemoteState(state: Uint8Array, _join: boolean): void {
    this.#receive(state, false);
  }

  #stampAfter(previous: Hlc | undefined): Hlc {
    return previous ? this.clock.nowAfter(previous) : this.clock.now();
  }

  #writeOrigin(entry: OriginEntry, previous: OriginEntry | undefined): void {
    this.catalog.apply(entry);
    this.#queue.queue({ key: `o:${entry.id}`, payload: encodeDelta(originTuple(entry)) });
    this.#emit({ kind: "origin", entry, previous });
  }

  #emit(change: StateChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#log.error("state change listener failed", { error: String(err), kind: change.kind });
      }
    }
  }

  #decode(payload: Uint8Array): Decoded {
    const first = payload[0];
    if (first === undefined || first < FOREIGN_BELOW) return { ok: "ignored" };
    if (first !== WIRE_MAGIC) return { ok: false, reason: `first byte 0x${first.toString(16)}` };
    if (payload[1] !== WIRE_FORMAT_VERSION) return { ok: false, reason: `format version ${payload[1]}` };
    let value: unknown;
    try {
      value = unpack(payload.subarray(HEADER_BYTES));
    } catch (err) {
      return { ok: false, reason: `msgpack: ${String(err)}` };
    }
    if (!Array.isArray(value)) return { ok: false, reason: "batch is not an array" };
    return { ok: true, items: value };
  }

  /** Applies a payload. MUST NOT throw: every peer byte is untrusted. */
  #receive(payload: Uint8Array, gossip: boolean): void {
    const decoded = this.#decode(payload);
    if (decoded.ok === "ignored") return;
    if (!decoded.ok) {
      this.#malformed++;
      this.#log.debug("dropped a malformed state payload", { reason: decoded.reason, bytes: payload.length });
      return;
    }
    let bad = 0;
    let newest: Hlc | undefined;
    for (const item of decoded.items) {
      const stamp = Array.isArray(item) ? this.#applyItem(item, gossip) : undefined;
      if (stamp === undefined) bad++;
      else if (newest === undefined || compareHlc(stamp, newest) > 0) newest = stamp;
    }
    // One observe of the newest stamp moves the clock past all of them.
    if (newest) this.clock.observe(newest);
    if (bad > 0) {
      this.#malformed++;
      this.#log.debug("dropped malformed deltas", { bad, of: decoded.items.length });
    }
  }

  /** Validates and joins one delta; returns its stamp, or undefined when it is malformed. */
  #applyItem(t: unknown[], gossip: boolean): Hlc | undefined {
    const [tag, id, wall, counter, node] = t;
    if (!isOriginId(id) || !isStampPart(wall, counter, node)) return undefined;
    const stamp: Hlc = { wall: wall as number, counter: counter as number, node: node as string };
    if (tag === TAG_ORIGIN && t.length === ORIGIN_FIELDS) {
      const previous = this.catalog.get(id);
      const raw = t[5];
      // Validating a spec costs far more than comparing stamps, and most entries of a push-pull are
      // already known: a losing or already held entry is dropped unread.
      if (previous) {
        const order = compareHlc(previous.stamp, stamp);
        if (order > 0 || (order === 0 && sameSpec(previous.spec, raw))) return stamp;
      }
      if (raw !== null && !isOriginSpec(raw)) return undefined;
      const entry: OriginEntry = { id, spec: raw && normalSpec(raw), stamp };
      if (this.catalog.apply(entry)) {
        // Epidemic forwarding: news to this node is passed on, as memberlist does with alive and
        // dead messages, so a delta reaches all n nodes in O(log n) gossip rounds.
        if (gossip) this.#queue.queue({ key: `o:${id}`, payload: encodeDelta(originTuple(entry)) });
        this.#emit({ kind: "origin", entry, previous });
      }
      return stamp;
    }
    if (tag === TAG_HEALTH && t.length === HEALTH_FIELDS) {
      const [, , , , , status, reporter, checkedAt, changedAt, latencyMs, error] = t;
      if (
        !STATUSES.has(status) ||
        !isText(reporter) ||
        !isTime(checkedAt) ||
        !isTime(changedAt) ||
        !isTime(latencyMs) ||
        (latencyMs !== null && latencyMs < 0) ||
        !isText(error)
      ) {
        return undefined;
      }
      const record: HealthRecord = {
        id,
        status: status as HealthStatus,
        reporter,
        checkedAt,
        changedAt,
        latencyMs,
        error,
        stamp,
      };
      const previous = this.health.get(id);
      if (this.health.apply(record)) {
        if (gossip) this.#queue.queue({ key: `h:${id}`, payload: encodeDelta(healthTuple(record)) });
        this.#emit({ kind: "health", record, previous });
      }
      return stamp;
    }
    return undefined;
  }
}
