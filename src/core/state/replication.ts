/**
 * Replication of the origin catalog and the health registers, as memberlist's delegate.
 *
 * The state is two causal maps (causal-map.ts) under one causal context (dots.ts): every write
 * draws a dot from this replica's writer id, so "what has a peer seen" is one version vector over
 * writers, whatever the number of origins. Three paths carry writes:
 *
 * - Gossip: a local write is a delta (the key's new version plus the dots it replaced) piggybacked
 *   on membership packets and forwarded epidemically, as before. A bulk write skips gossip.
 * - Anti-entropy: push-pull carries only a digest (version vector, a bounded dot cloud, the
 *   collection floor). A node that sees a peer lacking writes opens a session to it: the keys whose
 *   versions the peer's context lacks, in bounded chunks sent a few at a time as user messages
 *   over streams (each done once the peer has read it, and sent again if its stream fails), each
 *   merged on arrival. The first chunk carries the sender's context (the others only its vector),
 *   which also tells the receiver which of its versions the sender saw overwritten; the receiver
 *   claims it chunk by chunk, and whole after the last.
 * - Sync requests: after local writes, and after a session brings news, a node sends its digest to
 *   a few random peers; a peer that lacks something answers with its own digest, which starts a
 *   session back. News so spreads epidemically without waiting for the push-pull interval.
 *
 * Deletes are tombstone versions, collected once causally stable: when every current member's
 * version vector (learnt from digests) covers the tombstone, or once it is older than the
 * tombstone TTL. Collecting raises the writer's floor. A peer whose vector is below our floor may
 * hold versions whose tombstones are gone; it gets a full session (every key), after which it
 * drops whatever our context has seen and we no longer hold. So a node away longer than anyone
 * remembers does not resurrect deleted origins: it is brought level instead.
 *
 * Health is written only on a status change. Probes that confirm a status update this node's own
 * record of the probe and a per-owner watermark ("every origin I own with interval I was probed
 * since T") that gossips once a second, so `checkedAt` stays fresh on every node at a cost that
 * does not grow with the number of origins.
 */
import type { Address } from "../address.js";
import {
  type Clock,
  type Logger,
  type Rng,
  randomInt,
  silentLogger,
  type TimerHandle,
  type Timers,
} from "../env.js";
import { Fifo } from "../fifo.js";
import { BroadcastQueue, retransmitLimit } from "../membership/broadcast-queue.js";
import type { MembershipDelegate } from "../membership/ports.js";
import { normalSpec, sameSpec, sameTarget } from "./catalog.js";
import { CausalMap, type DotSet, type Version, visibleVersion } from "./causal-map.js";
import { CatalogColumns, HealthColumns, ProbeNotes } from "./columns.js";
import { CATALOG as CATALOG_KEY, DirtyKeys, HEALTH as HEALTH_KEY } from "./dirty-keys.js";
import { CausalContext, type Dot, PrefixJoin, sameDot, type VersionVector } from "./dots.js";
import { HlcClock } from "./hlc.js";
import { internText } from "./intern.js";
import { KeySpace } from "./key-space.js";
import {
  decodeContext,
  decodeDots,
  decodeFrame,
  decodeVector,
  decodeVersions,
  encodeCloud,
  encodeDots,
  encodeItem,
  encodeVector,
  encodeVersions,
  frame,
  GOSSIP_OVERHEAD_BYTES,
  gossipPayload,
  ITEM_WATERMARK,
  isName,
  KIND_CHUNK,
  KIND_DIGEST,
  KIND_GOSSIP,
  MAP_CATALOG,
  MAP_HEALTH,
  MAX_DIGEST_CLOUD,
  type MapTag,
} from "./state-wire.js";
import type {
  CatalogValue,
  HealthRecord,
  HealthStatus,
  HealthValue,
  OriginEntry,
  OriginSpec,
} from "./types.js";

/** See {@link ReplicatorOptions.retransmitMult}. */
export const DEFAULT_RETRANSMIT_MULT = 8;
/** A write of more keys than this in one call is left to sync requests instead of gossip. */
export const BULK_GOSSIP_LIMIT = 64;
/** Keys per anti-entropy chunk. */
export const DEFAULT_CHUNK_KEYS = 300;
/**
 * Merging the records of arriving chunks pauses once it has run this long in one turn of the event
 * loop, and goes on in the next: a chunk takes 5 to 20 ms to merge on a warm process and several
 * times that on one that has just started (a bootstrap), and a turn may bring more than one.
 */
export const MERGE_SLICE_MS = 8;
/** A chunk closes once its records reach about this many bytes, well below the stream cap. */
const MAX_CHUNK_BYTES = 512 * 1024;
/** Keys a session's listing skips (sent already) between two pauses, when the sender may yield. */
const SKIPS_PER_PAUSE = 256;
/**
 * Filling a chunk yields the event loop once it has run this long: the listing may skip tens of
 * thousands of keys sent already (an origin's health goes with its spec, and its own dot comes
 * later in the order), and a pause per few hundred of them left the last chunk of a bootstrap
 * waiting on dozens of turns of a busy sender's event loop, up to a second.
 */
const FILL_SLICE_MS = 4;
/** An inbound session whose chunks stop arriving is forgotten after this. */
const SESSION_EXPIRY_MS = 60_000;
/**
 * Deltas queued for gossip at most. Gossip carries a few dozen per packet, so a burst beyond this
 * (the first probes of a large catalog, a mass outage) would keep the queue busy for minutes;
 * the excess is dropped instead, most transmitted first, and the one-second sync rounds bring
 * those writes to whoever missed them.
 */
export const MAX_QUEUED_DELTAS = 512;
/**
 * How long a peer may take to read one of our streams (a chunk, a digest). A node merging a
 * catalog, or in a long garbage collection, reads late: membership's own stream timeout (1 s on
 * the local profile) would give up on a chunk it is about to take, and a session that loses a
 * chunk leaves its receiver waiting {@link PULL_TIMEOUT_MS} to pull again.
 */
export const STREAM_TIMEOUT_MS = 10_000;
/**
 * Chunks of one session sent and not yet read by the peer, at most. A stream is done only once its
 * peer has read it (a round trip after the last byte), so one at a time would leave the link idle
 * between chunks; the receiver merges chunks in any order.
 */
const CHUNKS_IN_FLIGHT = 3;
/**
 * Chunks of one session held while its first chunk (the one with the sender's context) has not
 * come: its stream failed and waits for a retry, while the sender goes on with the next chunks. Past
 * this many the session is dropped, so that a peer that never sends a first chunk cannot fill
 * memory; the next pull starts again.
 */
const MAX_WAITING_CHUNKS = 32;
/** A chunk whose stream failed is sent again after this, at most twice, before the session ends. */
const CHUNK_RETRY_MS = [250, 1000];
/** Sync requests go to this many random peers. */
const SYNC_FANOUT = 3;
/** Writes within this window share one round of sync requests. */
const SYNC_DEBOUNCE_MS = 50;
/** See {@link ReplicatorOptions.syncIntervalMs}. */
export const DEFAULT_SYNC_INTERVAL_MS = 1000;

export type StateChange =
  | { kind: "origin"; id: string; entry: OriginEntry | undefined; previous: OriginEntry | undefined }
  | { kind: "health"; id: string; record: HealthRecord | undefined; previous: HealthRecord | undefined };

export type ChangeListener = (change: StateChange) => void;

/** What the replicator needs of the membership layer; attached after both exist. */
export interface StatePeers {
  /** Names of the current members (alive or suspect), this node included. */
  members(): string[];
  addressOf(name: string): Address | undefined;
  /**
   * One user message over a stream (Swim.sendUserStream); `done` once the peer has read it, or
   * with an error (after `timeoutMs` at the latest).
   */
  sendStream(to: Address, payload: Uint8Array, timeoutMs: number, done: (err: Error | null) => void): void;
}

export interface ReplicatorOptions {
  /** This node's name, as members know it. */
  node: string;
  /**
   * This replica's writer id, the first half of every dot it issues. MUST never be reused with
   * counters issued before: a node whose data was wiped needs a new one. @default node + random
   */
  writer?: string;
  clock: Clock;
  rng?: Rng;
  /** Numbers the origin ids; pass one to share its slots with other per-origin structures. @default a new one */
  keySpace?: KeySpace;
  /** For sync requests after writes; without them only push-pull starts sessions. */
  timers?: Timers;
  /** Members in the cluster, read whenever the retransmit limit is needed. @default () => 1 */
  clusterSize?: () => number;
  /**
   * Each delta is piggybacked retransmitMult * ceil(log10(n + 1)) times by every node that learns
   * it by gossip (memberlist's RetransmitMult). A node misses a delta with probability about
   * exp(-r) and then waits for anti-entropy; status changes deserve more than membership's 2-4.
   * @default 8
   */
  retransmitMult?: number;
  /**
   * Peer stamps further ahead of the local clock are not adopted by it (counted as refused), so
   * one fast clock cannot drag every node's stamps into the future. Their writes still merge:
   * order between writes comes from dots, and stamps only rank truly concurrent writes.
   * @default 60000
   */
  maxForwardDriftMs?: number;
  /**
   * Peer writes stamped further ahead than this are refused outright (counted, not merged, their
   * dots not added to the context) until the local clock is within reach: no real clock is that
   * wrong, so such a stamp is forged or corrupt. @default 24 hours
   */
  maxFutureWriteMs?: number;
  /** Tombstones older than this are collected even if not known to be stable. @default 7 days */
  tombstoneTtlMs?: number;
  /** Keys per anti-entropy chunk (each merged in one turn of the event loop). @default 300 */
  chunkKeys?: number;
  /** Called when {@link Replicator.catchingUp} may have changed: such a session began or ended. */
  sessionsChanged?: () => void;
  /**
   * Every this often the replicator sends its digest to one random member (with timers only):
   * a peer that lacks something pulls it, one that has more answers with its own digest. It costs
   * a digest (bytes in proportion to the writers, not the origins) per interval, and bounds how
   * long a node missed by gossip and sync announcements waits. 0 turns it off. @default 1000
   */
  syncIntervalMs?: number;
  log?: Logger;
}

/** The health fields an owner reports after a probe. */
export type HealthFields = Omit<HealthRecord, "id">;

/** Plain counters, readable at any time. */
export interface ReplicatorStats {
  /** Peer payloads (or parts) that were not valid heck data. */
  malformed: number;
  /** Peer stamps too far ahead of our clock: not adopted by it (their writes may still merge). */
  refusedStamps: number;
  /** Peer writes refused for a stamp beyond any plausible clock error. */
  refusedWrites: number;
  sessionsOut: number;
  sessionsIn: number;
  fullSessionsOut: number;
  /** Sessions we sent that ended early, a chunk's stream failing every try. */
  sessionsAborted: number;
  /** Chunks sent again after a failed stream. */
  chunkRetries: number;
  chunksOut: number;
  chunksIn: number;
  /** Bytes of heck payloads sent and received over streams (chunks and digests). */
  syncBytesOut: number;
  syncBytesIn: number;
  recordsOut: number;
  digestsIn: number;
  /** Tombstones collected. */
  collected: number;
  /** Gossip deltas dropped from a full queue (anti-entropy carries them instead). */
  droppedDeltas: number;
}

/** A key of an anti-entropy session, with the first dot of it the peer lacks. */
interface SessionKey {
  map: MapTag;
  id: string;
  writer: string;
  counter: number;
}

interface OutboundSession {
  peer: string;
  id: number;
}

interface InboundSession {
  peer: string;
  /** Known once the last chunk arrived. */
  total: number | undefined;
  received: Set<number>;
  /** Chunks 0 .. applied - 1 have all arrived. */
  applied: number;
  /** Each chunk's bound: the (writer, counter) up to which the sender's context may be claimed. */
  bounds: Map<number, [string, number]>;
  full: boolean;
  /** The sender's context, from the first chunk; until it arrives, later chunks wait. */
  context: CausalContext | undefined;
  /** Claims {@link context} chunk by chunk, once it has arrived. */
  prefix: PrefixJoin | undefined;
  /** Chunks that arrived before the first, merged once it has. */
  waiting: ChunkJob[];
  floor: VersionVector;
  /** Keys seen in a full session (map tag + id), for the final sweep. */
  keys: Set<string> | undefined;
  /** Writers whose records were refused: their part of the context is not joined. */
  skipped: Set<string>;
  changed: boolean;
  lastAt: number;
  /** Whether this replica had seen less than half of the sender's writes when the session began. */
  catchUp: boolean;
}

/** An arrived chunk whose records are being merged, a slice per turn. */
interface ChunkJob {
  key: string;
  session: InboundSession;
  seq: number;
  last: boolean;
  bound: [string, number] | null;
  records: unknown[];
  /** The next record to merge. */
  next: number;
  bad: number;
}

interface Digest {
  node: string;
  context: CausalContext;
  floor: VersionVector;
  /** A request: send me what my context lacks. */
  pull: boolean;
  /** With pull: send every key (my vector is below your floor). */
  full: boolean;
  /** An answer to our digest. */
  reply: boolean;
  /** The sender takes a session's context from its first chunk alone (see {@link FLAG_CLOUD_ONCE}). */
  cloudOnce: boolean;
}

const FLAG_PULL = 1;
const FLAG_FULL = 2;
/** An answer to a standalone digest: never answered in turn. */
const FLAG_REPLY = 4;
/**
 * Set in every digest of this version: "in a session to me, send your cloud in the first chunk
 * only". A puller without it (an older version, which ignores the flag) gets the cloud in every
 * chunk, as it expects, so that nodes of both versions understand each other while a cluster is
 * upgraded node by node.
 */
const FLAG_CLOUD_ONCE = 8;
/** A pull that has brought no chunk for this long no longer stops another. */
const PULL_TIMEOUT_MS = 10_000;

export class Replicator implements MembershipDelegate {
  readonly node: string;
  readonly writer: string;
  readonly clock: HlcClock;
  readonly context = new CausalContext();
  /** Per writer, the highest counter of a tombstone this replica collected. */
  readonly floor: VersionVector = new Map();
  readonly #catalogValues = new CatalogColumns();
  readonly #healthValues = new HealthColumns();
  /** Origin ids, numbered once for the catalog, health and whatever else keeps per-origin columns. */
  readonly keySpace: KeySpace;
  readonly catalog: CausalMap<CatalogValue>;
  readonly health: CausalMap<HealthValue>;
  readonly stats: ReplicatorStats = {
    malformed: 0,
    refusedStamps: 0,
    refusedWrites: 0,
    sessionsOut: 0,
    sessionsIn: 0,
    fullSessionsOut: 0,
    sessionsAborted: 0,
    chunkRetries: 0,
    chunksOut: 0,
    chunksIn: 0,
    syncBytesOut: 0,
    syncBytesIn: 0,
    recordsOut: 0,
    digestsIn: 0,
    collected: 0,
    droppedDeltas: 0,
  };
  readonly #wallClock: Clock;
  readonly #rng: Rng | undefined;
  readonly #timers: Timers | undefined;
  readonly #queue: BroadcastQueue;
  readonly #listeners = new Set<ChangeListener>();
  readonly #handlers = new Map<number, (message: unknown[]) => void>();
  readonly #log: Logger;
  readonly #maxDriftMs: number;
  readonly #maxFutureWriteMs: number;
  readonly #tombstoneTtlMs: number;
  readonly #chunkKeys: number;
  readonly #sessionsChanged: () => void;
  readonly #syncIntervalMs: number;
  #tickTimer: TimerHandle | undefined;
  #peers: StatePeers | undefined;
  #live = 0;
  #nextSession = 1;
  readonly #outbound = new Map<string, OutboundSession>();
  readonly #inbound = new Map<string, InboundSession>();
  /** Arrived chunks still being merged, oldest first (see {@link MERGE_SLICE_MS}). */
  readonly #merging = new Fifo<ChunkJob>();
  /**
   * Gossip items arrived and not joined yet, merged in the same slices as chunks. To a node that
   * has just joined every item is news, to be joined and passed on, and the packets that pile up
   * while one turn runs long all come in the next: joined on arrival, they made that turn longer.
   */
  readonly #gossipBacklog = new Fifo<unknown>();
  #mergeScheduled = false;
  readonly #peerVectors = new Map<string, VersionVector>();
  /** Each peer's last digest, to pull again when a session leaves news behind. */
  readonly #peerDigests = new Map<string, Digest>();
  #pulling: { peer: string; at: number } | undefined;
  /** This node's own probes, at the origins' key slots. */
  readonly #probes = new ProbeNotes();
  readonly #watermarks = new Map<string, Map<number, number>>();
  /** Catalog keys holding a tombstone: what collection looks at, instead of the whole catalog. */
  readonly #tombstoned = new Set<string>();
  /** Keys changed since they were last written to disk. */
  readonly #dirty: DirtyKeys;
  #dirtyContext = false;
  #syncTimer: TimerHandle | undefined;
  #stopped = false;

  constructor(options: ReplicatorOptions) {
    this.keySpace = options.keySpace ?? new KeySpace();
    this.#dirty = new DirtyKeys(this.keySpace);
    this.catalog = new CausalMap<CatalogValue>(this.#catalogValues, this.keySpace);
    this.health = new CausalMap<HealthValue>(this.#healthValues, this.keySpace);
    // A slot that goes takes this node's note of it along, before another id gets the slot.
    this.keySpace.onFree((slot) => this.#probes.clear(slot));
    this.node = options.node;
    this.#rng = options.rng;
    this.writer =
      options.writer ?? `${options.node}.${Math.floor((options.rng?.next() ?? 0.5) * 2 ** 32).toString(36)}`;
    this.#wallClock = options.clock;
    this.clock = new HlcClock(this.writer, options.clock, {
      ...(options.maxForwardDriftMs !== undefined ? { maxForwardDriftMs: options.maxForwardDriftMs } : {}),
    });
    this.#timers = options.timers;
    const clusterSize = options.clusterSize ?? (() => 1);
    const mult = options.retransmitMult ?? DEFAULT_RETRANSMIT_MULT;
    this.#queue = new BroadcastQueue(() => retransmitLimit(mult, clusterSize()));
    this.#log = options.log ?? silentLogger;
    this.#maxDriftMs = options.maxForwardDriftMs ?? 60_000;
    this.#maxFutureWriteMs = options.maxFutureWriteMs ?? 24 * 3600_000;
    this.#tombstoneTtlMs = options.tombstoneTtlMs ?? 7 * 24 * 3600_000;
    this.#chunkKeys = options.chunkKeys ?? DEFAULT_CHUNK_KEYS;
    this.#sessionsChanged = options.sessionsChanged ?? (() => {});
    this.#syncIntervalMs = options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
  }

  /** Connects the replicator to the membership layer, which exists only after it. */
  attach(peers: StatePeers): void {
    this.#peers = peers;
    this.#armTick();
  }

  #armTick(): void {
    const timers = this.#timers;
    if (!timers || this.#syncIntervalMs <= 0 || this.#stopped) return;
    // Jittered, so that nodes started together do not sync in step.
    const delay = this.#syncIntervalMs * (0.5 + (this.#rng?.next() ?? 0.5));
    this.#tickTimer = timers.setTimeout(() => {
      this.#tickTimer = undefined;
      this.#syncWith(1);
      this.#armTick();
    }, delay);
  }

  /** Cancels the pending sync request; inbound data is still merged. Safe twice. */
  stop(): void {
    this.#stopped = true;
    if (this.#syncTimer !== undefined) this.#timers?.clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    if (this.#tickTimer !== undefined) this.#timers?.clearTimeout(this.#tickTimer);
    this.#tickTimer = undefined;
    this.#outbound.clear();
    this.#merging.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  /** Live origins. */
  get originCount(): number {
    return this.#live;
  }

  /** Whether an anti-entropy session is arriving (a chunk came, not the last). */
  get receiving(): boolean {
    return this.#inbound.size > 0 || this.#merging.size > 0;
  }

  /**
   * Whether this replica is catching up: a session is arriving from a peer that had seen more than
   * twice the writes this replica had when it began (a new or wiped node taking the catalog in).
   */
  get catchingUp(): boolean {
    for (const session of this.#inbound.values()) if (session.catchUp) return true;
    return false;
  }

  /** Tombstones held (deleted origins not yet collected). */
  tombstones(): number {
    let n = 0;
    for (const id of this.#tombstoned) for (const v of this.catalog.get(id) ?? []) if (v.value === null) n++;
    return n;
  }

  /** Deltas waiting to be piggybacked. */
  get pendingBroadcasts(): number {
    return this.#queue.size();
  }

  /**
   * Anti-entropy sessions being sent and received now, and chunks of inbound sessions waiting for
   * their session's first.
   */
  get sessions(): { outbound: number; inbound: number; waiting: number } {
    let waiting = 0;
    for (const s of this.#inbound.values()) waiting += s.waiting.length;
    return { outbound: this.#outbound.size, inbound: this.#inbound.size, waiting };
  }

  origin(id: string): OriginEntry | undefined {
    return toEntry(id, this.catalog.visible(id));
  }

  /** Whether `id` is a live origin, told without building its entry. */
  isLive(id: string): boolean {
    return this.catalog.hasLive(id);
  }

  /** The spec of a live origin, as {@link origin} has it, without building the entry. */
  specOf(id: string): OriginSpec | undefined {
    return this.catalog.visible(id)?.value?.spec;
  }

  *liveOrigins(): IterableIterator<OriginEntry> {
    for (const [id, versions] of this.catalog.entries()) {
      const entry = toEntry(id, visibleVersion(versions));
      if (entry) yield entry;
    }
  }

  /**
   * The status {@link healthOf} gives a live origin (`unknown` without a report), built without
   * the record: what counting a whole catalog by status needs. undefined when the origin is gone.
   */
  statusOf(id: string): HealthStatus | undefined {
    // Read from the columns when each map holds one version for `id`, as nearly every origin does.
    if (this.#sameTargets(id)) return this.#healthValues.status(this.health.soleSlot(id));
    if (this.catalog.soleSlot(id) >= 0 && !this.health.has(id)) return "unknown";
    const target = this.catalog.visible(id)?.value?.target;
    if (!target) return undefined;
    return this.#healthVersion(id, target)?.value?.status ?? "unknown";
  }

  /**
   * The health of a live origin as this node knows it: the status of the newest report measured
   * against the origin's current target (undefined if none), with `checkedAt` raised to this
   * node's own last probe, or to the watermark of `owner` (the member that probes it now, by the
   * caller's view), when those are newer.
   */
  healthOf(id: string, owner?: string): HealthRecord | undefined {
    if (this.#sameTargets(id)) {
      // One spec and one report, against that spec's target: read from the columns.
      const value = this.#healthValues.get(this.health.soleSlot(id));
      const intervalMs = this.#catalogValues.intervalMs(this.catalog.soleSlot(id));
      return this.#record(id, value, intervalMs, owner);
    }
    // No report at all (an origin just learnt): nothing to build.
    if (!this.health.has(id)) return undefined;
    const entry = this.origin(id);
    if (!entry) return undefined;
    const value = this.#healthVersion(id, entry.target)?.value;
    if (!value) return undefined;
    return this.#record(id, value, entry.spec.intervalMs, owner);
  }

  /**
   * Whether `id` holds exactly one live catalog version and one health version, measured against
   * that version's target: nearly every origin, whose health then reads from the columns.
   */
  #sameTargets(id: string): boolean {
    const c = this.catalog.soleSlot(id);
    if (c < 0) return false;
    const h = this.health.soleSlot(id);
    if (h < 0) return false;
    const catalog = this.#catalogValues;
    return this.#healthValues.hasTarget(h, catalog.targetWriterId(c), catalog.targetCounter(c));
  }

  /** The record readers see of `value`, with this node's own probe and the owner's watermark. */
  #record(id: string, value: HealthValue, intervalMs: number, owner: string | undefined): HealthRecord {
    const slot = this.keySpace.slotOf(id);
    const note = slot === undefined ? undefined : this.#probes.get(slot);
    let checkedAt = value.checkedAt;
    let latencyMs = value.latencyMs;
    let error = value.error;
    if (note && (note.checkedAt ?? 0) >= (checkedAt ?? 0)) {
      checkedAt = note.checkedAt;
      latencyMs = note.latencyMs;
      error = note.error;
    }
    if (owner !== undefined) {
      const mark = this.#watermarks.get(owner)?.get(intervalMs);
      if (mark !== undefined && mark > (checkedAt ?? 0)) checkedAt = mark;
    }
    return {
      id,
      status: value.status,
      reporter: value.reporter,
      checkedAt,
      changedAt: value.changedAt,
      latencyMs,
      error,
      confirmedBy: value.confirmedBy ?? null,
    };
  }

  /**
   * Up to `limit` keys whose versions changed since they were last taken (catalog keys first),
   * and whether the context changed. The context is reported only with the last dirty keys, so a
   * caller that saves what it takes, slice by slice, never saves a context claiming writes whose
   * versions it has not saved yet; `more` says whether keys are left.
   */
  takeDirty(limit = Number.POSITIVE_INFINITY): {
    catalog: string[];
    health: string[];
    context: boolean;
    more: boolean;
  } {
    const { catalog, health } = this.#dirty.take(limit);
    const more = this.#dirty.size > 0;
    const context = !more && this.#dirtyContext;
    if (context) this.#dirtyContext = false;
    return { catalog, health, context, more };
  }

  /**
   * Subscribes to every change of what readers see (a live origin added, replaced or removed; a
   * health status set), local or remote, after it is applied; not to {@link load}. Listeners run
   * synchronously; one that throws is logged and skipped.
   */
  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Fills the state from durable storage at start: no broadcast, no change event. The stamps are
   * observed, so that writes made after a restart order after those made before it.
   */
  load(stored: {
    catalog: Iterable<[string, Version<CatalogValue>[]]>;
    health: Iterable<[string, Version<HealthValue>[]]>;
    context: CausalContext;
    floor: ReadonlyMap<string, number>;
  }): void {
    this.context.join(stored.context);
    for (const [w, c] of stored.floor) this.floor.set(w, Math.max(c, this.floor.get(w) ?? 0));
    let wall = 0;
    let tick = 0;
    for (const [id, held] of stored.catalog) {
      const versions = held.map(restoredCatalogVersion);
      this.catalog.restore(id, versions);
      for (const v of versions) {
        this.context.add(v);
        if (v.wall > wall || (v.wall === wall && v.tick > tick)) [wall, tick] = [v.wall, v.tick];
      }
      if (visibleVersion(versions)) this.#live++;
      if (versions.some((v) => v.value === null)) this.#tombstoned.add(id);
    }
    for (const [id, held] of stored.health) {
      const versions = held.map(restoredHealthVersion);
      this.health.restore(id, versions);
      for (const v of versions) this.context.add(v);
    }
    if (wall > 0) this.clock.observe({ wall, counter: tick, node: this.writer });
  }

  // -------------------------------------------------------------------------------------------
  // Local writes

  /**
   * Creates or replaces an origin. `spec` MUST come from parseOriginSpec and `id` MUST be valid.
   * `created` is true when no live origin had this id. A spec equal to the one held (with no
   * concurrent version beside it) is not written again, so re-applying a list causes no gossip.
   */
  putOrigin(id: string, spec: OriginSpec): { created: boolean; entry: OriginEntry } {
    return this.#putOrigin(id, spec, true);
  }

  /** {@link putOrigin} for each item, in order; large batches reach peers by sync requests. */
  putOrigins(
    items: ReadonlyArray<{ id: string; spec: OriginSpec }>,
  ): Array<{ created: boolean; entry: OriginEntry }> {
    const gossip = items.length <= BULK_GOSSIP_LIMIT;
    const out = items.map(({ id, spec }) => this.#putOrigin(id, spec, gossip));
    this.#scheduleSync();
    return out;
  }

  /** Deletes an origin (a tombstone version); false when there is no live origin `id`. */
  deleteOrigin(id: string): boolean {
    const before = this.origin(id);
    if (!before) return false;
    this.#writeLocal(MAP_CATALOG, id, null, true);
    return true;
  }

  /**
   * This node's probe outcome for `id`, as its owner. A new health version is written (and
   * gossiped) only when the status differs from the one held for the origin's current target (none
   * held reads as `unknown`);
   * otherwise only this node's note of the probe changes, which {@link healthOf} and the
   * watermark carry. Returns the record as readers now see it; undefined if the origin is gone.
   */
  recordHealth(id: string, fields: HealthFields): HealthRecord | undefined {
    const entry = this.origin(id);
    if (!entry) return undefined;
    // The catalog holds the id (it has an entry), so the id has a slot.
    this.#probes.set(this.keySpace.slotOf(id) as number, fields);
    const versions = this.health.get(id);
    const current = this.#healthVersion(id, entry.target);
    if (current?.value && current.value.status === fields.status && versions?.length === 1) {
      return this.healthOf(id);
    }
    // `unknown` is what every replica reads for an origin without health: writing it says nothing.
    if (!current && fields.status === "unknown") return this.healthOf(id);
    const value = healthValue(fields, entry.target);
    this.#writeLocal(MAP_HEALTH, id, value, true);
    return this.healthOf(id);
  }

  /**
   * Publishes this node's probe watermarks: for each probe interval, a time by which every origin
   * it owns with that interval had been probed. Gossiped, replacing the previous one.
   */
  publishWatermark(marks: ReadonlyMap<number, number>): void {
    const own = new Map(marks);
    this.#watermarks.set(this.node, own);
    this.#queueWatermark(this.node, own);
  }

  /** When this node last probed `id` (its own probes only), if it has. */
  lastProbeAt(id: string): number | undefined {
    const slot = this.keySpace.slotOf(id);
    return slot === undefined ? undefined : this.#probes.checkedAt(slot);
  }

  /** Forgets this node's note of probes for origins it no longer owns. */
  forgetProbe(id: string): void {
    const slot = this.keySpace.slotOf(id);
    if (slot !== undefined) this.#probes.clear(slot);
  }

  #putOrigin(id: string, spec: OriginSpec, gossip: boolean): { created: boolean; entry: OriginEntry } {
    const versions = this.catalog.get(id);
    const visible = visibleVersion(versions);
    if (visible?.value && versions?.length === 1 && sameSpec(visible.value.spec, spec)) {
      return { created: false, entry: toEntry(id, visible) as OriginEntry };
    }
    const dot = this.#nextDot();
    const target = visible?.value && sameTarget(visible.value.spec, spec) ? visible.value.target : dot;
    this.#writeLocal(MAP_CATALOG, id, { spec: normalSpec(spec), target }, gossip, dot);
    return { created: visible === undefined, entry: this.origin(id) as OriginEntry };
  }

  #nextDot(): Dot {
    return { writer: this.writer, counter: (this.context.vv.get(this.writer) ?? 0) + 1 };
  }

  #writeLocal(
    map: MapTag,
    id: string,
    value: CatalogValue | HealthValue | null,
    gossip: boolean,
    fresh?: Dot,
  ): void {
    const dot = fresh ?? this.#nextDot();
    const stamp = this.clock.now();
    const version: Version<unknown> = {
      writer: dot.writer,
      counter: dot.counter,
      wall: stamp.wall,
      tick: stamp.counter,
      value,
    };
    const before = this.#visibleState(map, id);
    const replaced = this.#mapOf(map).write(id, version as Version<never>);
    this.context.add(dot);
    this.#dirtyContext = true;
    this.#markDirty(map, id);
    if (gossip) {
      const item = [map, id, encodeVersions(map, [version]), encodeDots(replaced)];
      this.#enqueue(`${map}:${id}`, encodeItem(item));
    }
    this.#afterChange(map, id, before);
  }

  // -------------------------------------------------------------------------------------------
  // MembershipDelegate

  notifyUserMessage(payload: Uint8Array, _from: Address | undefined): void {
    const decoded = decodeFrame(payload);
    if (decoded.ok === "ignored") return;
    if (!decoded.ok) {
      this.#malformedPayload(decoded.reason, payload.length);
      return;
    }
    const m = decoded.message;
    switch (m[0]) {
      case KIND_GOSSIP:
        this.#onGossip(m);
        return;
      case KIND_DIGEST:
        this.stats.syncBytesIn += payload.length;
        this.#onDigest(m, true);
        return;
      case KIND_CHUNK:
        this.stats.syncBytesIn += payload.length;
        this.#onChunk(m);
        return;
      default: {
        const handler = typeof m[0] === "number" ? this.#handlers.get(m[0]) : undefined;
        if (handler) handler(m);
        else this.#malformedPayload(`message kind ${String(m[0])}`, payload.length);
      }
    }
  }

  /**
   * Takes heck messages of another kind than the state's own (kinds from 3 up, e.g. probe
   * confirmations): `handler` gets the decoded message array and MUST NOT throw.
   */
  handle(kind: number, handler: (message: unknown[]) => void): void {
    if (kind < 3) throw new RangeError(`message kind ${kind} belongs to the state`);
    this.#handlers.set(kind, handler);
  }

  /** Sends one heck message to `peer` over a stream; false when the peer has no known address. */
  send(peer: string, message: unknown[], done: (err: Error | null) => void = () => {}): boolean {
    const to = this.#peers?.addressOf(peer);
    if (!to || !this.#peers) return false;
    this.#peers.sendStream(to, frame(message), STREAM_TIMEOUT_MS, done);
    return true;
  }

  /**
   * Queued deltas, least transmitted first, batched into one payload that with its `overhead` fits
   * `limit`. A delta too large for any packet stays queued; anti-entropy carries it meanwhile.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[] {
    const room = limit - overhead - GOSSIP_OVERHEAD_BYTES;
    if (room <= 0 || this.#queue.size() === 0) return [];
    const items = this.#queue.take(0, room);
    return items.length === 0 ? [] : [gossipPayload(items)];
  }

  /** The digest: bytes in proportion to the writers, not to the origins. */
  localState(_join: boolean): Uint8Array {
    return this.#digest(0);
  }

  mergeRemoteState(state: Uint8Array, _join: boolean): void {
    const decoded = decodeFrame(state);
    if (decoded.ok === "ignored") return;
    if (!decoded.ok || decoded.message[0] !== KIND_DIGEST) {
      this.#malformedPayload(decoded.ok ? "push-pull state is not a digest" : decoded.reason, state.length);
      return;
    }
    this.#onDigest(decoded.message, false);
  }

  // -------------------------------------------------------------------------------------------
  // Digests and sessions

  #digest(flags: number): Uint8Array {
    flags |= FLAG_CLOUD_ONCE;
    return frame([
      KIND_DIGEST,
      this.node,
      encodeVector(this.context.vv),
      encodeCloud(this.context, MAX_DIGEST_CLOUD),
      encodeVector(this.floor),
      flags,
    ]);
  }

  /**
   * A peer's digest, from push-pull, a sync announcement or a pull request. Sessions are pulled:
   * a node that lacks writes asks one peer at a time for them, so a node that joins through
   * three seeds, or hears three announcements, receives each write once.
   */
  #onDigest(m: unknown[], standalone: boolean): void {
    const digest = parseDigest(m);
    if (!digest) {
      this.#malformedPayload("bad digest", 0);
      return;
    }
    this.stats.digestsIn++;
    if (digest.node === this.node) return;
    this.#peerVectors.set(digest.node, digest.context.vv);
    this.#peerDigests.set(digest.node, digest);
    if (digest.pull) {
      // A peer below our floor may hold versions whose tombstones we collected: it gets every key.
      const full = digest.full || belowFloor(digest.context.vv, this.floor);
      this.#startSession(digest.node, digest.context, full, digest.cloudOnce);
      return;
    }
    this.#maybePull(digest);
    // A sync round's digest from a peer that lacks what we have: tell it, so that it pulls.
    // (In a push-pull both sides read each other's digest already.)
    const peerLacks = belowFloor(digest.context.vv, this.floor) || !digest.context.covers(this.context);
    if (standalone && !digest.reply && peerLacks) this.#sendDigest(digest.node, FLAG_REPLY);
  }

  /** Asks `digest.node` for what we lack of what it has, unless a pull is under way. */
  #maybePull(digest: Digest): void {
    const full = belowFloor(this.context.vv, digest.floor);
    if (!full && this.context.covers(digest.context)) return;
    const now = this.#wallClock.now();
    if (this.#pulling && now - this.#pulling.at < PULL_TIMEOUT_MS) return;
    this.#pulling = { peer: digest.node, at: now };
    this.#sendDigest(digest.node, FLAG_PULL | (full ? FLAG_FULL : 0), () => {
      if (this.#pulling?.peer === digest.node) this.#pulling = undefined;
    });
  }

  /** After a pulled session ends: pull again if that peer's last digest still shows news. */
  #pullDone(peer: string, again: boolean): void {
    if (this.#pulling?.peer !== peer) return;
    this.#pulling = undefined;
    const last = this.#peerDigests.get(peer);
    if (last && again) this.#maybePull(last);
  }

  #sendDigest(peer: string, flags: number, failed?: () => void): void {
    const to = this.#peers?.addressOf(peer);
    if (!to || !this.#peers) {
      failed?.();
      return;
    }
    const payload = this.#digest(flags);
    this.stats.syncBytesOut += payload.length;
    this.#peers.sendStream(to, payload, STREAM_TIMEOUT_MS, (err) => {
      if (!err) return;
      this.#log.debug("state: sync request failed", { peer, error: err.message });
      failed?.();
    });
  }

  /**
   * Sends `peer` every key holding a version its context lacks (every key when `full`), in
   * chunks of at most `chunkKeys` keys, {@link CHUNKS_IN_FLIGHT} at a time. One session per peer
   * at a time.
   */
  #startSession(peer: string, theirs: CausalContext, full: boolean, cloudOnce: boolean): void {
    const peers = this.#peers;
    if (!peers || this.#stopped || this.#outbound.has(peer)) return;
    const to = peers.addressOf(peer);
    if (!to) return;
    // Listed lazily, chunk by chunk: listing a whole catalog at once would hold the event loop.
    const keys = this.#sessionKeys(theirs, full);
    let ahead = keys.next();
    // With no key to send, the peer may still lack dots of versions gone everywhere (overwritten,
    // or health swept with its origin): one empty chunk carries our context to it.
    const session: OutboundSession = { peer, id: this.#nextSession++ };
    this.#outbound.set(peer, session);
    this.stats.sessionsOut++;
    if (full) this.stats.fullSessionsOut++;
    // Encoded now, as it stands when the listing starts (no copy: a cloud may hold many dots).
    const vv = encodeVector(this.context.vv);
    const cloud = encodeCloud(this.context);
    const floor = encodeVector(this.floor);
    let seq = 0;
    let inFlight = 0;
    let filling = false;
    // The last chunk has gone out: the session ends once nothing is in flight.
    let sentLast = false;
    const alive = () => this.#outbound.get(peer) === session && !this.#stopped;
    const next = () => {
      if (!alive()) return;
      if (sentLast) {
        if (inFlight === 0) this.#outbound.delete(peer);
        return;
      }
      if (filling || inFlight >= CHUNKS_IN_FLIGHT) return;
      filling = true;
      // The chunk is filled over as many turns as it takes: listing skips keys already sent, and
      // a long run of them must not hold the event loop either.
      const records: unknown[] = [];
      let bytes = 0;
      let last: SessionKey | undefined;
      const fill = () => {
        if (!alive()) return;
        const clock = this.#wallClock;
        const started = clock.now();
        let work = 0;
        while (!ahead.done && records.length < this.#chunkKeys && bytes < MAX_CHUNK_BYTES) {
          const timers = this.#timers;
          if (work >= SKIPS_PER_PAUSE && timers) {
            work = 0;
            if (clock.now() - started >= FILL_SLICE_MS) {
              if (timers.soon) timers.soon(fill);
              else timers.setTimeout(fill, 0);
              return;
            }
          }
          const key = ahead.value;
          ahead = keys.next();
          if (key === undefined) {
            work += SKIPS_PER_PAUSE;
            continue;
          }
          work++;
          const versions = this.#mapOf(key.map).get(key.id);
          // A key emptied since the session began is sent empty: the receiver drops what we saw.
          records.push([key.map, key.id, versions ? encodeVersions(key.map, versions) : []]);
          bytes += estimateBytes(key.id, versions);
          last = key;
        }
        send(records, last);
      };
      fill();
    };
    const send = (records: unknown[], last: SessionKey | undefined) => {
      const done = ahead.done === true;
      // What the receiver may take as seen once it has this chunk and every one before it: the
      // keys go in the order of their first unseen dot, so every version we hold with a dot before
      // the last key's has been sent. The last chunk covers the whole context.
      const bound = done || !last ? [] : [last.writer, last.counter];
      const payload = frame([
        KIND_CHUNK,
        this.node,
        session.id,
        seq,
        done ? 1 : 0,
        full ? 1 : 0,
        vv,
        // The cloud may hold a hundred thousand dots (gossip lost on the way): once per session.
        seq === 0 || !cloudOnce ? cloud : null,
        floor,
        bound,
        records,
      ]);
      seq++;
      this.stats.chunksOut++;
      this.stats.recordsOut += records.length;
      filling = false;
      sentLast = done;
      inFlight++;
      attempt(payload, 0);
      next();
    };
    // A chunk goes again after a failed stream (the peer may have read it: merging it twice
    // changes nothing); after the last try the session ends, and the peer pulls again.
    const attempt = (payload: Uint8Array, tries: number) => {
      if (!alive()) return;
      this.stats.syncBytesOut += payload.length;
      peers.sendStream(to, payload, STREAM_TIMEOUT_MS, (err) => {
        if (!alive()) return;
        const retryIn = CHUNK_RETRY_MS[tries];
        if (err && retryIn !== undefined && this.#timers) {
          this.stats.chunkRetries++;
          this.#log.debug("state: chunk sent again", { peer, error: err.message });
          this.#timers.setTimeout(() => attempt(payload, tries + 1), retryIn);
          return;
        }
        if (err) {
          this.stats.sessionsAborted++;
          this.#log.info("state: sync session aborted", { peer, error: err.message });
          this.#outbound.delete(peer);
          return;
        }
        inFlight--;
        next();
      });
    };
    next();
  }

  /**
   * The keys a session sends, in the order of their first unseen dot (writer ids in order, then
   * counters): every key holding a version `theirs` lacks, or every key when `full`. The order lets
   * the receiver advance its version vector chunk by chunk instead of keeping every dot in its
   * cloud until the end.
   */
  *#sessionKeys(theirs: CausalContext, full: boolean): Generator<SessionKey | undefined, void, undefined> {
    const writers = [...new Set([...this.catalog.writers(), ...this.health.writers()])].sort();
    const unseen = full ? undefined : theirs;
    let skipped = 0;
    for (const writer of writers) {
      const after = full ? 0 : (theirs.vv.get(writer) ?? 0);
      const catalog = new DotPages(this.catalog, writer, after);
      const health = new DotPages(this.health, writer, after);
      for (;;) {
        const catalogAt = catalog.next();
        const healthAt = health.next();
        if (catalogAt === Number.POSITIVE_INFINITY && healthAt === Number.POSITIVE_INFINITY) break;
        // A pause now and then in a long run of keys skipped, so that the caller can yield.
        if (skipped >= SKIPS_PER_PAUSE) {
          skipped = 0;
          yield undefined;
        }
        const fromCatalog = catalogAt < healthAt;
        const counter = fromCatalog ? catalogAt : healthAt;
        const id = (fromCatalog ? catalog : health).take();
        const dot = { writer, counter };
        // A key goes once, at its first unseen dot in this order.
        const map = fromCatalog ? this.catalog : this.health;
        if (!sameFirst(map.firstUnseen(id, unseen), dot)) {
          skipped++;
          continue;
        }
        if (fromCatalog) {
          yield { map: MAP_CATALOG, id, writer, counter };
          // An origin's health goes right after its spec, so that a node learning the catalog
          // holds an origin's status before it might probe it as the new owner (and write a
          // concurrent status of its own). It keeps the spec's place in the order: bounds stay
          // correct.
          // Health whose first unseen dot comes earlier in this order went out then.
          const health = this.health.firstUnseen(id, unseen);
          if (health && !before(health, dot)) yield { map: MAP_HEALTH, id, writer, counter };
          continue;
        }
        // Health whose spec went before it went with the spec.
        const spec = this.catalog.firstUnseen(id, unseen);
        if (spec && before(spec, dot)) {
          skipped++;
          continue;
        }
        yield { map: MAP_HEALTH, id, writer, counter };
      }
    }
  }

  #onChunk(m: unknown[]): void {
    const [, node, sessionId, seq, last, full, rawVv, rawCloud, rawFloor, rawBound, records] = m;
    // The first chunk carries the sender's cloud, the others null (or, from an older version, the
    // same cloud again, not read twice): their vector is enough to find or open the session, and
    // they wait for the first to be merged with its context.
    const first = seq === 0;
    const context = decodeContext(rawVv, first ? rawCloud : []);
    const floor = decodeVector(rawFloor);
    const bound = parseBound(rawBound);
    if (
      m.length !== 11 ||
      !isName(node) ||
      !Number.isSafeInteger(sessionId) ||
      !Number.isSafeInteger(seq) ||
      (seq as number) < 0 ||
      (last !== 0 && last !== 1) ||
      (full !== 0 && full !== 1) ||
      !(first || rawCloud === null || Array.isArray(rawCloud)) ||
      !context ||
      !floor ||
      bound === undefined ||
      (last === 0 && bound === null) ||
      !Array.isArray(records)
    ) {
      this.#malformedPayload("bad chunk", 0);
      return;
    }
    this.stats.chunksIn++;
    const now = this.#wallClock.now();
    this.#expireInbound(now);
    const key = `${node}/${sessionId}`;
    let session = this.#inbound.get(key);
    if (!session) {
      // A peer sends one session at a time: one of its older sessions has ended, unfinished.
      for (const [k, s] of this.#inbound) if (s.peer === node) this.#dropInbound(k, s);
      session = {
        peer: node,
        total: undefined,
        received: new Set(),
        applied: 0,
        bounds: new Map(),
        full: full === 1,
        context: undefined,
        prefix: undefined,
        waiting: [],
        floor,
        keys: full === 1 ? new Set() : undefined,
        skipped: new Set(),
        changed: false,
        lastAt: now,
        catchUp: 2 * writesSeen(this.context.vv) < writesSeen(context.vv),
      };
      this.#inbound.set(key, session);
      if (session.catchUp) this.#sessionsChanged();
      this.stats.sessionsIn++;
    }
    session.lastAt = now;
    if (this.#pulling?.peer === node) this.#pulling.at = now;
    const job: ChunkJob = {
      key,
      session,
      seq: seq as number,
      last: last === 1,
      bound,
      records,
      next: 0,
      bad: 0,
    };
    if (session.context === undefined) {
      if (!first) {
        if (session.waiting.length >= MAX_WAITING_CHUNKS) {
          this.#log.info("state: sync session dropped, its first chunk missing", { peer: node });
          this.#dropInbound(key, session);
          return;
        }
        session.waiting.push(job);
        return;
      }
      session.context = context;
      session.prefix = new PrefixJoin(this.context, context);
    }
    this.#merging.push(job);
    for (const waiting of session.waiting) this.#merging.push(waiting);
    session.waiting = [];
    this.#scheduleMerge();
  }

  #scheduleMerge(): void {
    if (this.#mergeScheduled) return;
    // Merged once this turn's I/O callbacks are done, one slice per turn: a slice begun here as
    // well would add to the one that runs then, in the same turn of the event loop.
    if (this.#timers?.soon) {
      this.#mergeScheduled = true;
      this.#timers.soon(this.#mergeSoon);
    } else {
      this.#mergeChunks();
    }
  }

  readonly #mergeSoon = (): void => this.#mergeChunks();

  /**
   * Joins the gossip items waiting, then queued chunk records in arrival order, until both queues
   * are empty or this turn has spent {@link MERGE_SLICE_MS} on them; the rest goes on in the next
   * turn. A chunk is claimed (its part
   * of the sender's context joined) only once all its records are merged; the records of a
   * partly merged chunk are joins like any other, so gossip and API writes in between are safe.
   */
  #mergeChunks(): void {
    this.#mergeScheduled = false;
    if (this.#stopped) return;
    const clock = this.#wallClock;
    const started = clock.now();
    let merged = 0;
    // The clock is read every few items: one takes some microseconds.
    const late = (budgetMs: number) =>
      this.#timers !== undefined && (++merged & 7) === 0 && clock.now() - started >= budgetMs;
    // Gossip first, for at most half the slice: it is what waits in the socket's buffers, and a
    // steady stream of it (a large catalog's first probes) must not starve the chunks.
    const backlog = this.#gossipBacklog;
    let bad = 0;
    while (backlog.size > 0 && !late(MERGE_SLICE_MS / 2)) {
      const item = backlog.shift();
      if (!Array.isArray(item) || !this.#applyGossipItem(item)) bad++;
    }
    if (bad > 0) this.#malformedPayload("bad gossip items", bad);
    for (let job = this.#merging.peek(); job !== undefined; job = this.#merging.peek()) {
      while (job.next < job.records.length) {
        if (late(MERGE_SLICE_MS)) {
          this.#mergeLater();
          return;
        }
        this.#mergeRecord(job, job.records[job.next++], started);
      }
      this.#merging.shift();
      this.#chunkMerged(job);
    }
    if (backlog.size > 0) this.#mergeLater();
  }

  /** The rest of the merge goes on in the next turn (only with timers: see {@link #mergeChunks}). */
  #mergeLater(): void {
    const timers = this.#timers as Timers;
    this.#mergeScheduled = true;
    if (timers.soon) timers.soon(this.#mergeSoon);
    else timers.setTimeout(this.#mergeSoon, 0);
  }

  /** `now`: the wall clock at the start of this slice (some milliseconds ago at most). */
  #mergeRecord(job: ChunkJob, record: unknown, now: number): void {
    const session = job.session;
    if (!Array.isArray(record) || record.length !== 3) {
      job.bad++;
      return;
    }
    const [map, id, rawVersions] = record;
    if ((map !== MAP_CATALOG && map !== MAP_HEALTH) || !isName(id)) {
      job.bad++;
      return;
    }
    session.keys?.add(`${map}:${id}`);
    const versions =
      Array.isArray(rawVersions) && rawVersions.length === 0 ? [] : decodeVersions(map, rawVersions);
    if (!versions) {
      job.bad++;
      // Unknown contents: do not claim to have seen anything of this key's writers.
      session.skipped.add("*");
      return;
    }
    const refused = this.#refuse(versions, now);
    if (refused) {
      for (const v of versions) session.skipped.add(v.writer);
      return;
    }
    if (this.#join(map, id, versions, session.context as CausalContext)) session.changed = true;
  }

  /** Every record of `job` is merged: the session claims what its unbroken run of chunks covers. */
  #chunkMerged(job: ChunkJob): void {
    const { session, key, seq } = job;
    if (job.bad > 0) this.#malformedPayload("bad chunk records", job.bad);
    // A session that expired while its chunk was being merged claims nothing.
    if (this.#inbound.get(key) !== session) return;
    session.received.add(seq);
    if (job.last) session.total = seq + 1;
    if (job.bound) session.bounds.set(seq, job.bound);
    // Claim the sender's context chunk by chunk, only over an unbroken run of chunks from the first.
    let advanced = false;
    while (session.received.has(session.applied)) {
      session.applied++;
      advanced = true;
    }
    if (advanced && !session.skipped.has("*") && session.applied !== session.total) {
      const reached = session.bounds.get(session.applied - 1);
      if (reached && session.prefix?.advance(reached[0], reached[1], session.skipped))
        this.#dirtyContext = true;
    }
    if (session.total !== undefined && session.applied === session.total) {
      this.#inbound.delete(key);
      if (session.catchUp) this.#sessionsChanged();
      this.#finishSession(session);
    }
  }

  #finishSession(session: InboundSession): void {
    this.#finishJoin(session);
    // A session with unreadable records is not pulled again at once: that peer's next digest
    // will ask, so a peer that keeps sending what this node cannot read costs one pull a round.
    this.#pullDone(session.peer, !session.skipped.has("*"));
  }

  #finishJoin(session: InboundSession): void {
    const context = session.context;
    // (A session's chunks are all merged only after its first, which carries the context.)
    if (session.skipped.has("*") || !context) return;
    if (session.full && session.keys) {
      // The sender listed every key it holds: ours that it has seen and not listed are gone there.
      for (const map of [MAP_CATALOG, MAP_HEALTH] as const) {
        const target = this.#mapOf(map);
        for (const id of [...target.keys()]) {
          if (session.keys.has(`${map}:${id}`)) continue;
          const before = this.#visibleState(map, id);
          const gone = target.dropWhere(id, (v) => context.has(v) && !session.skipped.has(v.writer));
          if (gone > 0) {
            this.#markDirty(map, id);
            this.#afterChange(map, id, before);
            session.changed = true;
          }
        }
      }
    }
    for (const [w, c] of session.floor) if (c > (this.floor.get(w) ?? 0)) this.floor.set(w, c);
    // The rest of the sender's context: the claims so far joined what came before the last bound.
    if (session.prefix?.rest(session.skipped)) this.#dirtyContext = true;
    if (session.changed) this.#scheduleSync();
  }

  #expireInbound(now: number): void {
    for (const [key, s] of this.#inbound) if (now - s.lastAt > SESSION_EXPIRY_MS) this.#dropInbound(key, s);
  }

  #dropInbound(key: string, session: InboundSession): void {
    this.#inbound.delete(key);
    if (session.catchUp) this.#sessionsChanged();
  }

  // -------------------------------------------------------------------------------------------
  // Gossip

  #onGossip(m: unknown[]): void {
    const items = m[1];
    if (m.length !== 2 || !Array.isArray(items)) {
      this.#malformedPayload("bad gossip batch", 0);
      return;
    }
    if (this.#timers?.soon) {
      for (const item of items) this.#gossipBacklog.push(item);
      this.#scheduleMerge();
      return;
    }
    let bad = 0;
    for (const item of items) if (!Array.isArray(item) || !this.#applyGossipItem(item)) bad++;
    if (bad > 0) this.#malformedPayload("bad gossip items", bad);
  }

  /** Validates and joins one gossip item, forwarding it when it was news. False when malformed. */
  #applyGossipItem(item: unknown[]): boolean {
    const [tag] = item;
    if (tag === ITEM_WATERMARK) return this.#onWatermark(item);
    if ((tag !== MAP_CATALOG && tag !== MAP_HEALTH) || item.length !== 4 || !isName(item[1])) return false;
    const map = tag as MapTag;
    const id = item[1] as string;
    const versions = decodeVersions(map, item[2]);
    const removed = decodeDots(item[3]);
    if (!versions || !removed) return false;
    if (this.#refuse(versions, this.#wallClock.now())) return true;
    const delta = new CausalContext();
    for (const v of versions) delta.add(v);
    for (const d of removed) delta.add(d);
    const changed = this.#join(map, id, versions, delta);
    for (const d of removed) this.context.add(d);
    // Epidemic forwarding: news to this node is passed on, so a delta reaches all n nodes in
    // O(log n) gossip rounds.
    if (changed) this.#enqueue(`${map}:${id}`, encodeItem(item));
    return true;
  }

  #onWatermark(item: unknown[]): boolean {
    const [, node, raw] = item;
    if (
      item.length !== 3 ||
      !isName(node) ||
      !Array.isArray(raw) ||
      raw.length % 2 !== 0 ||
      raw.length > 512
    ) {
      return false;
    }
    let own = this.#watermarks.get(node);
    let advanced = false;
    for (let i = 0; i < raw.length; i += 2) {
      const interval = raw[i];
      const at = raw[i + 1];
      if (!Number.isSafeInteger(interval) || !Number.isSafeInteger(at)) return false;
      // A watermark from the future would claim probes that have not happened.
      if ((at as number) > this.#wallClock.now() + this.#maxDriftMs) continue;
      own ??= new Map();
      if ((own.get(interval as number) ?? 0) < (at as number)) {
        own.set(interval as number, at as number);
        advanced = true;
      }
    }
    if (own) this.#watermarks.set(node, own);
    if (advanced && node !== this.node) this.#queueWatermark(node, own as Map<number, number>);
    return true;
  }

  #enqueue(key: string, payload: Uint8Array): void {
    this.#queue.queue({ key, payload });
    // Pruned to three quarters, so that a burst prunes once in a while, not at every delta.
    if (this.#queue.size() > MAX_QUEUED_DELTAS) {
      this.stats.droppedDeltas += this.#queue.prune((MAX_QUEUED_DELTAS * 3) / 4);
    }
  }

  #queueWatermark(node: string, marks: ReadonlyMap<number, number>): void {
    const flat: number[] = [];
    for (const [interval, at] of marks) flat.push(interval, at);
    this.#queue.queue({ key: `w:${node}`, payload: encodeItem([ITEM_WATERMARK, node, flat]) });
  }

  // -------------------------------------------------------------------------------------------
  // Joins, collection and bookkeeping

  /**
   * Whether any version is stamped beyond any plausible clock error: such writes are refused
   * (counted, not merged, their dots not added to our context) and come again by anti-entropy
   * once our clock is within reach.
   */
  #refuse(versions: readonly Version<unknown>[], now: number): boolean {
    const limit = now + this.#maxFutureWriteMs;
    if (!versions.some((v) => v.wall > limit)) return false;
    this.stats.refusedWrites++;
    return true;
  }

  /** Joins a peer's versions of one key and adds their dots to our context. */
  #join(map: MapTag, id: string, versions: Version<unknown>[], theirs: DotSet): boolean {
    const before = this.#visibleState(map, id);
    const changed = this.#mapOf(map).join(id, versions as Version<never>[], theirs, this.context);
    let newest: Version<unknown> | undefined;
    for (const v of versions) {
      if (!this.context.has(v)) this.#dirtyContext = true;
      this.context.add(v);
      if (!newest || v.wall > newest.wall || (v.wall === newest.wall && v.tick > newest.tick)) newest = v;
    }
    if (newest && !this.clock.observe({ wall: newest.wall, counter: newest.tick, node: newest.writer })) {
      this.stats.refusedStamps++;
    }
    if (changed) {
      this.#markDirty(map, id);
      this.#afterChange(map, id, before);
    }
    return changed;
  }

  /**
   * Drops tombstones that every current member has seen (its last digest's vector covers them),
   * or that are older than the TTL, and raises the floor past them. Health of deleted origins
   * goes as soon as the delete is applied (see #sweepHealth). Returns how many were collected.
   */
  collect(): number {
    const members = (this.#peers?.members() ?? [this.node]).filter((m) => m !== this.node);
    for (const name of this.#peerVectors.keys()) if (!members.includes(name)) this.#peerVectors.delete(name);
    const stable = (d: Dot): boolean =>
      members.every((m) => (this.#peerVectors.get(m)?.get(d.writer) ?? 0) >= d.counter);
    const expired = this.#wallClock.now() - this.#tombstoneTtlMs;
    let collected = 0;
    for (const id of [...this.#tombstoned]) {
      const gone = this.catalog.dropWhere(id, (v) => {
        if (v.value !== null || !(stable(v) || v.wall < expired)) return false;
        if (v.counter > (this.floor.get(v.writer) ?? 0)) this.floor.set(v.writer, v.counter);
        return true;
      });
      if (gone > 0) this.#markDirty(MAP_CATALOG, id);
      collected += gone;
    }
    if (collected > 0) this.#dirtyContext = true;
    this.stats.collected += collected;
    return collected;
  }

  #mapOf(map: MapTag): CausalMap<unknown> {
    return (map === MAP_CATALOG ? this.catalog : this.health) as CausalMap<unknown>;
  }

  #markDirty(map: MapTag, id: string): void {
    this.#dirty.mark(id, map === MAP_CATALOG ? CATALOG_KEY : HEALTH_KEY);
    if (map === MAP_CATALOG) {
      if (this.catalog.hasTombstone(id)) this.#tombstoned.add(id);
      else if (this.#tombstoned.size > 0) this.#tombstoned.delete(id);
    }
  }

  /** What readers see of a key: the visible catalog entry, or the health record. */
  #visibleState(map: MapTag, id: string): OriginEntry | HealthRecord | undefined {
    return map === MAP_CATALOG ? this.origin(id) : this.healthOf(id);
  }

  /** The newest health version measured against `target`. */
  #healthVersion(id: string, target: Dot): Version<HealthValue> | undefined {
    let best: Version<HealthValue> | undefined;
    for (const v of this.health.get(id) ?? []) {
      if (!v.value || !sameDot(v.value.target, target)) continue;
      if (!best || v.wall > best.wall || (v.wall === best.wall && v.tick > best.tick)) best = v;
    }
    return best;
  }

  /**
   * Drops health versions measured against a target that this replica has seen replaced or
   * deleted: a re-created origin, or one whose URL changed, starts `unknown`. Local only: the dots
   * stay in the context, and every replica drops the same versions once it has seen the same
   * catalog writes.
   */
  #sweepHealth(id: string): void {
    if (!this.health.has(id) || this.#sameTargets(id)) return;
    // One report, against a catalog write this replica has not seen yet (a report may come before
    // its spec, as in a bootstrap): nothing to drop.
    const sole = this.health.soleSlot(id);
    if (sole >= 0 && !this.context.has(this.#healthValues.target(sole))) return;
    const versions = this.health.get(id);
    if (!versions) return;
    const targets = (this.catalog.get(id) ?? []).flatMap((v) => (v.value ? [v.value.target] : []));
    const gone = this.health.dropWhere(
      id,
      (v) =>
        v.value !== null &&
        this.context.has(v.value.target) &&
        !targets.some((t) => sameDot(t, v.value!.target)),
    );
    if (gone > 0) this.#markDirty(MAP_HEALTH, id);
  }

  #afterChange(map: MapTag, id: string, before: OriginEntry | HealthRecord | undefined): void {
    if (map === MAP_CATALOG) {
      const previous = before as OriginEntry | undefined;
      const healthBefore = previous ? this.#healthAgainst(id, previous) : undefined;
      this.#sweepHealth(id);
      const entry = this.origin(id);
      this.#live += (entry ? 1 : 0) - (previous ? 1 : 0);
      if (!entry) this.forgetProbe(id);
      if (previous?.dot.writer === entry?.dot.writer && previous?.dot.counter === entry?.dot.counter) return;
      this.#emit({ kind: "origin", id, entry, previous });
      const healthAfter = this.healthOf(id);
      if (entry && healthBefore && healthAfter?.status !== healthBefore.status) {
        this.#emit({ kind: "health", id, record: healthAfter, previous: healthBefore });
      }
      return;
    }
    this.#sweepHealth(id);
    const previous = before as HealthRecord | undefined;
    const record = this.healthOf(id);
    if (previous?.status === record?.status && previous?.reporter === record?.reporter) return;
    this.#emit({ kind: "health", id, record, previous });
  }

  #healthAgainst(id: string, entry: OriginEntry): HealthRecord | undefined {
    const v = this.#healthVersion(id, entry.target);
    return v?.value ? { id, ...withoutTarget(v.value) } : undefined;
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

  #malformedPayload(reason: string, size: number): void {
    this.stats.malformed++;
    this.#log.debug("dropped a malformed state payload", { reason, size });
  }

  /** Sends our digest to a few random peers soon, so that those lacking our news ask for it. */
  #scheduleSync(): void {
    if (!this.#timers || !this.#peers || this.#stopped || this.#syncTimer !== undefined) return;
    this.#syncTimer = this.#timers.setTimeout(() => {
      this.#syncTimer = undefined;
      this.#syncRound();
    }, SYNC_DEBOUNCE_MS);
  }

  #syncRound(): void {
    this.#syncWith(SYNC_FANOUT);
  }

  /** Sends our digest to `fanout` random members. */
  #syncWith(fanout: number): void {
    const peers = (this.#peers?.members() ?? []).filter((m) => m !== this.node);
    const rng = this.#rng;
    for (let i = 0; i < fanout && peers.length > 0; i++) {
      const j = rng ? randomInt(rng, peers.length) : i % peers.length;
      const [peer] = peers.splice(j, 1);
      if (peer) this.#sendDigest(peer, 0);
    }
  }
}

/** Dots a session lists per page of one writer's dots in one map. */
const DOT_PAGE = 1024;

/**
 * One writer's dots in one map, in counter order, read a page at a time as a session reaches
 * them: listing a writer of 100,000 origins at once held the sender's event loop for some 20 ms.
 * A page starts after the last counter of the one before, so versions that come or go between
 * pages are met or skipped as they are then.
 */
class DotPages {
  readonly #map: CausalMap<unknown>;
  readonly #writer: string;
  #after: number;
  #page: Array<number | string> = [];
  #at = 0;
  #done = false;
  #first = true;

  constructor(map: CausalMap<unknown>, writer: string, after: number) {
    this.#map = map;
    this.#writer = writer;
    this.#after = after;
  }

  /** The counter of the next dot, or infinity when none is left. */
  next(): number {
    if (this.#at >= this.#page.length && !this.#done) {
      // The index is ordered for the first page only: what comes later is not this session's.
      this.#page = this.#map.dotsAfter(this.#writer, this.#after, DOT_PAGE, this.#first);
      this.#first = false;
      this.#at = 0;
      this.#done = this.#page.length < 2 * DOT_PAGE;
      if (this.#page.length > 0) this.#after = this.#page[this.#page.length - 2] as number;
    }
    return this.#at < this.#page.length ? (this.#page[this.#at] as number) : Number.POSITIVE_INFINITY;
  }

  /** The key of the dot {@link next} told, moving past it. */
  take(): string {
    const key = this.#page[this.#at + 1] as string;
    this.#at += 2;
    return key;
  }
}

/** Whether dot `a` comes before dot `b` in a session's order: writer ids, then counters. */
const before = (a: Dot, b: Dot): boolean =>
  a.writer < b.writer || (a.writer === b.writer && a.counter < b.counter);

const sameFirst = (a: Dot | undefined, b: Dot): boolean =>
  a !== undefined && a.writer === b.writer && a.counter === b.counter;

function toEntry(id: string, version: Version<CatalogValue> | undefined): OriginEntry | undefined {
  if (!version?.value) return undefined;
  return {
    id,
    spec: version.value.spec,
    dot: { writer: version.writer, counter: version.counter },
    target: version.value.target,
    wall: version.wall,
  };
}

/**
 * A health value in the one shape every health value has (the same fields in the same order, as
 * decodeHealthValue builds them), its texts shared.
 */
function healthValue(fields: HealthFields, target: Dot): HealthValue {
  return {
    status: internText(fields.status) as HealthValue["status"],
    reporter: internText(fields.reporter),
    checkedAt: fields.checkedAt,
    changedAt: fields.changedAt,
    latencyMs: fields.latencyMs,
    error: internText(fields.error),
    target,
    confirmedBy: internText(fields.confirmedBy ?? null),
  };
}

/** A stored catalog version as the state holds it: spec in normal form, writer ids shared. */
function restoredCatalogVersion(v: Version<CatalogValue>): Version<CatalogValue> {
  const value = v.value;
  return {
    writer: internText(v.writer),
    counter: v.counter,
    wall: v.wall,
    tick: v.tick,
    value:
      value === null
        ? null
        : {
            spec: normalSpec(value.spec),
            target: { writer: internText(value.target.writer), counter: value.target.counter },
          },
  };
}

/** A stored health version as the state holds it: in the one shape of health values. */
function restoredHealthVersion(v: Version<HealthValue>): Version<HealthValue> {
  const value = v.value;
  return {
    writer: internText(v.writer),
    counter: v.counter,
    wall: v.wall,
    tick: v.tick,
    value: value ? healthValue(value, { writer: value.target.writer, counter: value.target.counter }) : null,
  };
}

function withoutTarget(value: HealthValue): Omit<HealthRecord, "id"> {
  const { target: _target, ...rest } = value;
  return rest;
}

/** A chunk's bound: [] (none: the last chunk) or [writer, counter]; undefined when malformed. */
function parseBound(raw: unknown): [string, number] | null | undefined {
  if (!Array.isArray(raw)) return undefined;
  if (raw.length === 0) return null;
  const [w, c] = raw;
  return raw.length === 2 && isName(w) && Number.isSafeInteger(c) && (c as number) >= 1
    ? [w, c as number]
    : undefined;
}

/** A rough size of a key's versions on the wire, to close a chunk before it grows too large. */
function estimateBytes(id: string, versions: readonly Version<unknown>[] | undefined): number {
  let bytes = id.length + 8;
  for (const v of versions ?? []) {
    bytes += v.writer.length + 40;
    const value = v.value as { spec?: OriginSpec; error?: string | null } | null;
    if (value?.spec) {
      const spec = value.spec;
      bytes += spec.url.length + 120 + (spec.bodyContains?.length ?? 0);
      for (const [name, text] of Object.entries(spec.headers)) bytes += name.length + text.length + 4;
    } else if (value) bytes += 80 + (value.error?.length ?? 0);
  }
  return bytes;
}

function parseDigest(m: unknown[]): Digest | undefined {
  const [, node, vv, cloud, floor, flags] = m;
  if (m.length !== 6 || !isName(node) || !Number.isSafeInteger(flags)) return undefined;
  const context = decodeContext(vv, cloud);
  const floorVector = decodeVector(floor);
  if (!context || !floorVector) return undefined;
  return {
    node,
    context,
    floor: floorVector,
    pull: ((flags as number) & FLAG_PULL) !== 0,
    full: ((flags as number) & FLAG_FULL) !== 0,
    reply: ((flags as number) & FLAG_REPLY) !== 0,
    cloudOnce: ((flags as number) & FLAG_CLOUD_ONCE) !== 0,
  };
}

/** Whether a peer's vector is below our floor for some writer: it may miss collected deletes. */
function belowFloor(theirs: ReadonlyMap<string, number>, floor: ReadonlyMap<string, number>): boolean {
  for (const [w, c] of floor) if ((theirs.get(w) ?? 0) < c) return true;
  return false;
}

/** Writes a version vector covers, over all writers. */
function writesSeen(vv: VersionVector): number {
  let n = 0;
  for (const counter of vv.values()) n += counter;
  return n;
}
