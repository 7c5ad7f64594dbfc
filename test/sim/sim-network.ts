/**
 * A deterministic simulated network on a virtual clock, the main cluster test for membership
 * (style.md: memberlist's MockNetwork driven by a priority queue of virtual time). Everything
 * that happens is an event keyed by (virtual time, insertion order), so one seed always replays
 * the same run, and a minute of a 100-node cluster takes seconds of real time.
 *
 * Each host gets a MembershipTransport and Timers bound to it. Links have seeded latency and
 * jitter and packet loss; links can be cut one way, and the hosts split into partitions. A
 * killed host neither sends nor receives, and its timers never fire; a paused host is the same
 * until it is resumed (SIGSTOP / SIGCONT), when its overdue timers run at once.
 */
import type { Address } from "../../src/core/address.js";
import type { Clock, Rng, TimerHandle, Timers } from "../../src/core/env.js";
import { seededRng } from "../../src/core/env.js";
import type { MembershipConfig } from "../../src/core/membership/config.js";
import { profile } from "../../src/core/membership/config.js";
import type { MemberEvent, MemberStatus, MembershipTransport } from "../../src/core/membership/ports.js";
import { Swim, type SwimOptions } from "../../src/core/membership/swim.js";

interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
  /** Timers and callbacks of a host wait while it is paused; deliveries to it are dropped instead. */
  owner: SimHost | undefined;
  cancelled: boolean;
}

/**
 * Events in (at, seq) order: equal times run in scheduling order. Nearly every event falls due
 * within a few seconds (datagrams in a millisecond or two, timers within a probe interval), so
 * those wait unsorted in a ring of one bucket per millisecond, and a bucket is sorted only when
 * the clock reaches it: a large cluster schedules tens of events per virtual millisecond, and a
 * heap of all of them (a few hundred thousand, spread over a large heap) cost a cache miss at
 * every level. Events further ahead wait in a binary heap until their millisecond comes.
 */
class EventQueue {
  /** The bucket of millisecond `cur` (those before it are empty), sorted, run up to `#next`. */
  #current: SimEvent[] = [];
  #next = 0;
  #cur = 0;
  readonly #ring: SimEvent[][] = Array.from({ length: RING }, () => []);
  /** Events in the ring, the current bucket excluded. */
  #inRing = 0;
  readonly #far = new EventHeap();

  get size(): number {
    return this.#current.length - this.#next + this.#inRing + this.#far.size;
  }

  count(predicate: (e: SimEvent) => boolean): number {
    let n = 0;
    for (let i = this.#next; i < this.#current.length; i++) if (predicate(this.#current[i] as SimEvent)) n++;
    for (const bucket of this.#ring) for (const e of bucket) if (predicate(e)) n++;
    return n + this.#far.count(predicate);
  }

  push(e: SimEvent): void {
    const ms = Math.floor(e.at);
    if (ms <= this.#cur) {
      // Due within the current millisecond: into its place among the events not yet run.
      const c = this.#current;
      let lo = this.#next;
      let hi = c.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (before(c[mid] as SimEvent, e)) lo = mid + 1;
        else hi = mid;
      }
      if (lo === c.length) c.push(e);
      else c.splice(lo, 0, e);
    } else if (ms - this.#cur < RING) {
      (this.#ring[ms & RING_MASK] as SimEvent[]).push(e);
      this.#inRing++;
    } else {
      this.#far.push(e);
    }
  }

  /** The next event due at or before `t`, removed; undefined when there is none. */
  popUntil(t: number): SimEvent | undefined {
    for (;;) {
      const c = this.#current;
      if (this.#next < c.length) {
        const e = c[this.#next] as SimEvent;
        if (e.at > t) return undefined;
        c[this.#next++] = undefined as unknown as SimEvent;
        return e;
      }
      // The current millisecond is done: on to the next, or, with the ring empty, straight to
      // the first far event's (the milliseconds between hold nothing).
      let ms = this.#cur + 1;
      if (this.#inRing === 0) {
        const far = this.#far.peek();
        if (far === undefined) return undefined;
        ms = Math.max(ms, Math.floor(far.at));
      }
      if (ms > t) return undefined;
      this.#advance(ms);
    }
  }

  /** Makes millisecond `ms` (> cur) current: its bucket and the far events now due, sorted. */
  #advance(ms: number): void {
    const bucket = this.#ring[ms & RING_MASK] as SimEvent[];
    let events: SimEvent[];
    if (ms - this.#cur < RING && bucket.length > 0) {
      events = bucket;
      this.#ring[ms & RING_MASK] = [];
      this.#inRing -= events.length;
    } else {
      events = [];
    }
    // Events that were beyond the ring's reach when scheduled join their millisecond here.
    for (let f = this.#far.peek(); f !== undefined && Math.floor(f.at) <= ms; f = this.#far.peek()) {
      events.push(this.#far.pop() as SimEvent);
    }
    if (events.length > 1) events.sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.#current = events;
    this.#next = 0;
    this.#cur = ms;
  }
}

/** Milliseconds the ring of buckets covers ahead of the current one. */
const RING = 8192;
const RING_MASK = RING - 1;

/** Binary min-heap on (at, seq), for the events beyond the ring. */
class EventHeap {
  readonly #heap: SimEvent[] = [];

  get size(): number {
    return this.#heap.length;
  }

  count(predicate: (e: SimEvent) => boolean): number {
    let n = 0;
    for (const e of this.#heap) if (predicate(e)) n++;
    return n;
  }

  peek(): SimEvent | undefined {
    return this.#heap[0];
  }

  push(e: SimEvent): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(e, h[parent] as SimEvent)) break;
      h[i] = h[parent] as SimEvent;
      i = parent;
    }
    h[i] = e;
  }

  pop(): SimEvent | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      if (l < h.length && before(h[l] as SimEvent, best)) {
        m = l;
        best = h[l] as SimEvent;
      }
      if (r < h.length && before(h[r] as SimEvent, best)) m = r;
      if (m === i) break;
      h[i] = h[m] as SimEvent;
      i = m;
    }
    h[i] = last;
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** What a host does with inbound traffic; Swim fits it. */
export interface SimEndpoint {
  handlePacket(from: Address, data: Uint8Array): void;
  handleStream(from: Address, data: Uint8Array): Uint8Array | null;
}

export interface LinkProfile {
  /** Fixed one-way delay. @default 1 */
  latencyMs: number;
  /** Extra uniformly random one-way delay in [0, jitterMs). @default 1 */
  jitterMs: number;
  /** Probability that a datagram is lost. Streams are reliable. @default 0 */
  lossRate: number;
}

export interface SimNetworkOptions extends Partial<LinkProfile> {
  seed: number;
}

export interface SimNetworkStats {
  packetsSent: number;
  packetsDelivered: number;
  packetsLost: number;
  packetsBlocked: number;
  streamsOpened: number;
  streamsFailed: number;
}

export class SimHost {
  readonly name: string;
  readonly address: Address;
  readonly transport: MembershipTransport;
  readonly timers: Timers;
  endpoint: SimEndpoint | undefined;
  killed = false;
  paused = false;
  /** Events that came due while paused, in order. */
  frozen: SimEvent[] = [];

  constructor(net: SimNetwork, name: string, address: Address) {
    this.name = name;
    this.address = address;
    this.transport = {
      sendPacket: (to, data) => net.sendPacket(this, to, data),
      sendStream: (to, data, options, done) => net.sendStream(this, to, data, options, done),
    };
    this.timers = {
      setTimeout: (fn, delayMs) => net.schedule(delayMs, fn, this),
      clearTimeout: (handle) => net.cancel(handle),
    };
  }

  /** Neither runs code nor takes traffic. */
  get down(): boolean {
    return this.killed || this.paused;
  }
}

export class SimNetwork {
  readonly clock: Clock;
  /** Network randomness (latency, loss) only; each node gets its own generator. */
  readonly rng: Rng;
  readonly stats: SimNetworkStats = {
    packetsSent: 0,
    packetsDelivered: 0,
    packetsLost: 0,
    packetsBlocked: 0,
    streamsOpened: 0,
    streamsFailed: 0,
  };
  readonly #defaults: LinkProfile;
  readonly #queue = new EventQueue();
  /** Hosts by address, host text then port: looked up for every datagram, without a key string. */
  readonly #byAddress = new Map<string, Map<number, SimHost>>();
  /**
   * The host found for each address object sent to before: nodes send to the few address
   * objects they hold (one per member, shared by the whole process), and a lookup by host text and
   * port in two maps, the second one per host, missed the cache for nearly every datagram.
   */
  #byAddressObject = new WeakMap<Address, SimHost>();
  readonly #byName = new Map<string, SimHost>();
  readonly #links = new Map<string, Partial<LinkProfile>>();
  readonly #cuts = new Set<string>();
  /** Host name → partition index; hosts in different partitions cannot reach each other. */
  #partition: Map<string, number> | undefined;
  #now = 0;
  #seq = 0;

  constructor(options: SimNetworkOptions) {
    this.rng = seededRng(options.seed);
    this.#defaults = {
      latencyMs: options.latencyMs ?? 1,
      jitterMs: options.jitterMs ?? 1,
      lossRate: options.lossRate ?? 0,
    };
    this.clock = { now: () => this.#now };
  }

  get now(): number {
    return this.#now;
  }

  addHost(name: string, address: Address): SimHost {
    const host = new SimHost(this, name, address);
    let ports = this.#byAddress.get(address.host);
    if (ports === undefined) {
      ports = new Map();
      this.#byAddress.set(address.host, ports);
    }
    // A host taking the address of another one makes what was found before wrong.
    if (ports.has(address.port)) this.#byAddressObject = new WeakMap();
    ports.set(address.port, host);
    this.#byName.set(name, host);
    return host;
  }

  /** The host at `to`, if any; hosts never go away, so a host once found stays right. */
  #hostAt(to: Address): SimHost | undefined {
    let host = this.#byAddressObject.get(to);
    if (host === undefined) {
      host = this.#byAddress.get(to.host)?.get(to.port);
      if (host !== undefined) this.#byAddressObject.set(to, host);
    }
    return host;
  }

  host(name: string): SimHost {
    const h = this.#byName.get(name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  // ---------------------------------------------------------------------------------------------
  // Time

  /** Schedules `run` after `delayMs`; with an owner it is a timer of that host. */
  schedule(delayMs: number, run: () => void, owner?: SimHost): TimerHandle {
    const e: SimEvent = {
      at: this.#now + Math.max(0, delayMs),
      seq: this.#seq++,
      run,
      owner,
      cancelled: false,
    };
    this.#queue.push(e);
    return e;
  }

  cancel(handle: TimerHandle): void {
    (handle as SimEvent).cancelled = true;
  }

  /** Timers and callbacks still due for `host` (cancelled ones excluded), frozen ones included. */
  pendingFor(host: SimHost): number {
    return (
      this.#queue.count((e) => e.owner === host && !e.cancelled) +
      host.frozen.filter((e) => !e.cancelled).length
    );
  }

  /** Runs every event due up to and including virtual time `t`, then sets the clock to `t`. */
  runUntil(t: number): void {
    for (;;) {
      const next = this.#queue.popUntil(t);
      if (next === undefined) break;
      if (next.cancelled) continue;
      this.#now = next.at;
      const owner = next.owner;
      if (owner?.killed) continue;
      if (owner?.paused) {
        owner.frozen.push(next);
        continue;
      }
      next.run();
    }
    this.#now = Math.max(this.#now, t);
  }

  runFor(ms: number): void {
    this.runUntil(this.#now + ms);
  }

  /** Runs until `predicate` holds, checking every `stepMs`; returns the time or undefined at `limit`. */
  runUntilTrue(predicate: () => boolean, limitMs: number, stepMs = 100): number | undefined {
    const end = this.#now + limitMs;
    while (this.#now < end) {
      if (predicate()) return this.#now;
      this.runUntil(Math.min(end, this.#now + stepMs));
    }
    return predicate() ? this.#now : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Faults

  /** The process dies: no traffic, no timers, for good. Streams to it are refused. */
  kill(name: string): void {
    const h = this.host(name);
    h.killed = true;
    h.frozen = [];
  }

  /** The process stops (SIGSTOP): traffic to it is lost, its timers wait. */
  pause(name: string): void {
    this.host(name).paused = true;
  }

  /** SIGCONT: overdue timers and callbacks run now, in their original order. */
  resume(name: string): void {
    const h = this.host(name);
    if (!h.paused) return;
    h.paused = false;
    const frozen = h.frozen;
    h.frozen = [];
    for (const e of frozen) {
      e.at = this.#now;
      e.seq = this.#seq++;
      this.#queue.push(e);
    }
  }

  /** Drops everything from `from` to `to` (one way). */
  cut(from: string, to: string): void {
    this.#cuts.add(`${from}>${to}`);
  }

  restore(from: string, to: string): void {
    this.#cuts.delete(`${from}>${to}`);
  }

  /** Splits hosts into groups that cannot reach each other; hosts in no group reach nobody. */
  partition(groups: string[][]): void {
    this.#partition = new Map();
    groups.forEach((g, i) => {
      for (const name of g) this.#partition?.set(name, i);
    });
  }

  heal(): void {
    this.#partition = undefined;
    this.#cuts.clear();
  }

  /** Changes the loss rate of every link without an override of its own. */
  setLossRate(lossRate: number): void {
    this.#defaults.lossRate = lossRate;
  }

  /** Overrides latency, jitter or loss between two hosts, both ways. */
  setLink(a: string, b: string, link: Partial<LinkProfile>): void {
    this.#links.set(`${a}>${b}`, link);
    this.#links.set(`${b}>${a}`, link);
  }

  blocked(from: SimHost, to: SimHost): boolean {
    if (this.#cuts.size > 0 && this.#cuts.has(`${from.name}>${to.name}`)) return true;
    if (this.#partition) {
      const a = this.#partition.get(from.name);
      const b = this.#partition.get(to.name);
      if (a === undefined || b === undefined || a !== b) return true;
    }
    return false;
  }

  #link(from: SimHost, to: SimHost): LinkProfile {
    if (this.#links.size === 0) return this.#defaults;
    const o = this.#links.get(`${from.name}>${to.name}`);
    return o ? { ...this.#defaults, ...o } : this.#defaults;
  }

  #delay(from: SimHost, to: SimHost): number {
    const l = this.#link(from, to);
    return l.latencyMs + this.rng.next() * l.jitterMs;
  }

  // ---------------------------------------------------------------------------------------------
  // Traffic

  sendPacket(from: SimHost, to: Address, data: Uint8Array): void {
    if (from.down) return;
    this.stats.packetsSent++;
    const dest = this.#hostAt(to);
    if (!dest || this.blocked(from, dest)) {
      this.stats.packetsBlocked++;
      return;
    }
    const link = this.#link(from, dest);
    if (link.lossRate > 0 && this.rng.next() < link.lossRate) {
      this.stats.packetsLost++;
      return;
    }
    this.schedule(this.#delay(from, dest), () => {
      if (dest.down || !dest.endpoint) return;
      this.stats.packetsDelivered++;
      dest.endpoint.handlePacket(from.address, data);
    });
  }

  /**
   * A TCP exchange: connect (one-way latency), the peer handles the message and its reply comes
   * back one latency later. A cut link or a stopped peer shows as a timeout, a dead or missing
   * peer as a refused connection one round trip later.
   */
  sendStream(
    from: SimHost,
    to: Address,
    data: Uint8Array,
    options: { timeoutMs: number; expectReply: boolean },
    done: (err: Error | null, reply?: Uint8Array) => void,
  ): void {
    if (from.down) return;
    this.stats.streamsOpened++;
    let settled = false;
    const settle = (err: Error | null, reply?: Uint8Array) => {
      if (settled) return;
      settled = true;
      this.cancel(timeout);
      if (err) this.stats.streamsFailed++;
      if (reply === undefined) done(err);
      else done(err, reply);
    };
    const timeout = this.schedule(options.timeoutMs, () => settle(new Error("stream timeout")), from);
    const dest = this.#hostAt(to);
    if (!dest || dest.killed) {
      this.schedule(2 * this.#defaults.latencyMs, () => settle(new Error("connection refused")), from);
      return;
    }
    if (this.blocked(from, dest)) return;
    this.schedule(this.#delay(from, dest), () => {
      if (dest.killed) {
        this.schedule(this.#delay(dest, from), () => settle(new Error("connection reset")), from);
        return;
      }
      if (dest.paused || !dest.endpoint || settled) return;
      const reply = dest.endpoint.handleStream(from.address, data);
      if (this.blocked(dest, from)) return;
      if (!options.expectReply) {
        // The peer's close, once it has read the message, travels back like a reply.
        this.schedule(this.#delay(dest, from), () => settle(null), from);
        return;
      }
      this.schedule(
        this.#delay(dest, from),
        () => (reply === null ? settle(new Error("stream closed without reply")) : settle(null, reply)),
        from,
      );
    });
  }
}

// -----------------------------------------------------------------------------------------------
// Clusters of Swim nodes

export interface RecordedEvent {
  at: number;
  observer: string;
  member: string;
  status: MemberStatus;
  previous: MemberStatus | "none";
  incarnation: number;
}

export interface SimClusterOptions extends SimNetworkOptions {
  size: number;
  config?: MembershipConfig;
  /** Node names are `${prefix}${i}`. @default "n" */
  prefix?: string;
  /** Gossip port of every host. @default 7946 */
  port?: number;
  /**
   * Which membership events to keep in {@link SimCluster.events}; a large cluster's join
   * produces N^2 first sightings, which a run may not need. @default every event
   */
  record?: (e: RecordedEvent) => boolean;
}

/** N Swim nodes on one SimNetwork, with every membership event recorded. */
export class SimCluster {
  readonly net: SimNetwork;
  readonly config: MembershipConfig;
  readonly nodes = new Map<string, Swim>();
  readonly events: RecordedEvent[] = [];
  readonly #seed: number;
  readonly #port: number;
  readonly #record: ((e: RecordedEvent) => boolean) | undefined;
  #hostCount = 0;

  constructor(options: SimClusterOptions) {
    this.net = new SimNetwork(options);
    this.#record = options.record;
    this.config = options.config ?? profile("lan");
    this.#seed = options.seed;
    this.#port = options.port ?? 7946;
    const prefix = options.prefix ?? "n";
    for (let i = 0; i < options.size; i++) this.add(`${prefix}${i}`);
  }

  /** Names of all nodes in creation order. */
  get names(): string[] {
    return [...this.nodes.keys()];
  }

  node(name: string): Swim {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /**
   * Adds and starts a node. Reusing the name of a dead node restarts it at the same address
   * with a fresh process (new Swim, incarnation from `overrides` or 1).
   */
  add(name: string, overrides: Partial<SwimOptions> = {}): Swim {
    const existing = this.nodes.get(name);
    let host: SimHost;
    if (existing) {
      existing.stop();
      host = this.net.host(name);
      host.killed = false;
      host.paused = false;
      host.frozen = [];
    } else {
      const i = ++this.#hostCount;
      host = this.net.addHost(name, { host: `10.0.${(i >> 8) & 255}.${i & 255}`, port: this.#port });
    }
    const swim = new Swim({
      name,
      advertise: host.address,
      config: this.config,
      clock: this.net.clock,
      rng: seededRng(hashSeed(this.#seed, name)),
      timers: host.timers,
      transport: host.transport,
      onMemberEvent: (e: MemberEvent) => {
        const recorded: RecordedEvent = {
          at: this.net.now,
          observer: name,
          member: e.member.name,
          status: e.member.status,
          previous: e.previous,
          incarnation: e.member.incarnation,
        };
        if (this.#record === undefined || this.#record(recorded)) this.events.push(recorded);
      },
      ...overrides,
    });
    host.endpoint = swim;
    this.nodes.set(name, swim);
    swim.start();
    return swim;
  }

  address(name: string): Address {
    return this.net.host(name).address;
  }

  /** Every node joins through `seed` (default the first node). */
  joinAll(seed = this.names[0] as string): void {
    const to = this.address(seed);
    for (const [name, swim] of this.nodes) {
      if (name === seed) continue;
      swim.join([to], (joined, errors) => {
        if (joined === 0)
          throw new Error(`${name} could not join: ${errors.map((e) => e.message).join("; ")}`);
      });
    }
  }

  /**
   * Brings `count` nodes up as a deployment does: `seeds` nodes at once (each joining those
   * before it), then the others one by one, `perSecond` a second from `startMs` of virtual time
   * on, each joining through every seed (a push-pull with each, as memberlist's Join with the
   * seed addresses). Throws from the run if a node cannot join.
   */
  rollOut(count: number, options: { seeds?: number; perSecond?: number; startMs?: number } = {}): void {
    const seedCount = options.seeds ?? 3;
    const perSecond = options.perSecond ?? 50;
    const startMs = options.startMs ?? 1000;
    const seeds: Address[] = [];
    for (let i = 0; i < count; i++) {
      const name = `n${i}`;
      const at = i < seedCount ? 0 : startMs + Math.floor(((i - seedCount) * 1000) / perSecond);
      this.net.schedule(at - this.net.now, () => {
        const swim = this.add(name);
        if (seeds.length > 0) {
          swim.join([...seeds], (joined, errors) => {
            if (joined === 0)
              throw new Error(`${name} could not join: ${errors.map((e) => e.message).join("; ")}`);
          });
        }
        if (seeds.length < seedCount) seeds.push(this.address(name));
      });
    }
  }

  kill(name: string): void {
    this.net.kill(name);
  }

  /** Nodes still running (not killed). */
  live(): string[] {
    return this.names.filter((n) => !this.net.host(n).killed);
  }

  /** The status `observer` holds for `member`, or "unknown". */
  statusOf(observer: string, member: string): MemberStatus | "unknown" {
    return this.node(observer).memberStatus(member) ?? "unknown";
  }

  /** True when every observer sees every member with `status`. */
  allSee(observers: string[], members: string[], status: MemberStatus): boolean {
    return observers.every((o) => members.every((m) => this.statusOf(o, m) === status));
  }

  /** When `observer` first recorded `member` as `status` at or after `since`. */
  firstEvent(observer: string, member: string, status: MemberStatus, since = 0): number | undefined {
    return this.events.find(
      (e) => e.observer === observer && e.member === member && e.status === status && e.at >= since,
    )?.at;
  }

  stopAll(): void {
    for (const swim of this.nodes.values()) swim.stop();
  }
}

/** A per-node seed derived from the cluster seed and the name (FNV-1a), stable across runs. */
function hashSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
