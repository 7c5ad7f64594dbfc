import { decodePacket, encodeStreamMessage } from "../../wire/codec.js";
import { ipToBytes } from "../../wire/ip.js";
import type { Message } from "../../wire/messages.js";
import { HECK_VSN } from "../../wire/messages.js";
import { type Address, formatAddress } from "../address.js";
import { type Clock, type Logger, type Rng, silentLogger, type Timers } from "../env.js";
import { type MembershipConfig, validateMembershipConfig } from "./config.js";
import { errorText, NodeContext, type SwimStats } from "./context.js";
import { Dissemination } from "./dissemination.js";
import { Departure } from "./leave.js";
import { isGone, type MemberState, MemberTable, viewOf } from "./members.js";
import type {
  MemberEvent,
  MemberStatus,
  MembershipDelegate,
  MembershipTransport,
  MemberView,
} from "./ports.js";
import { Probing } from "./probing.js";
import { pushPullIntervalMs } from "./push-pull.js";
import { PushPullExchange } from "./push-pull-exchange.js";
import { Queries, type QueryHandler, type QueryOptions } from "./queries.js";
import { SerfClock } from "./serf-intent.js";
import { Transitions } from "./transitions.js";

export type { SwimStats } from "./context.js";

export interface SwimOptions {
  /** Unique node name; the key of every membership message. */
  name: string;
  /** Where peers reach us (IPv4 or IPv6 text); sent as Addr/Port and Source* fields. */
  advertise: Address;
  /** Opaque node metadata (Serf tags: 0xFF + msgpack map, docs/wire.md §6.3). @default empty */
  meta?: Uint8Array;
  /** Starting incarnation; a restarted node may pass its last one + 1 to win at once. @default 1 */
  initialIncarnation?: number;
  config: MembershipConfig;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  log?: Logger;
  transport: MembershipTransport;
  delegate?: MembershipDelegate;
  /**
   * Whether the delegate's user broadcasts go to a member with this meta. Serf agents sharing a
   * cluster with heck have no use for heck's state deltas (and log each as an unknown message), so
   * the agent sends them to heck members only. @default every member
   */
  sharesDelegate?: (meta: Uint8Array) => boolean;
  /**
   * Every status change of every member, ourselves included, and the first sight of each
   * (previous "none"). A Meta change of an alive member is reported with previous "alive".
   */
  onMemberEvent?: (e: MemberEvent) => void;
  /**
   * Answers Serf's internal queries (`_serf_...`, docs/wire.md §6.10) sent to this node, such
   * as the key manager's; without it such queries are gossiped on but not answered.
   */
  queryHandler?: QueryHandler;
}

/**
 * SWIM with Lifeguard, as hashicorp/memberlist runs it, speaking its wire format (docs/wire.md). Pure:
 * time, randomness, timers and the network come in through the constructor; the caller feeds
 * inbound packets and streams to {@link handlePacket} and {@link handleStream}.
 *
 * Behaviour follows memberlist 0.2.2: round-robin probing with indirect and TCP fallback probes
 * (SWIM §4, probing.ts), Lifeguard's awareness and dynamic suspicion (Lifeguard §IV,
 * transitions.ts), piggybacked gossip with transmit limits (dissemination.ts), periodic
 * push-pull and Serf's reconnect to failed members (§6.7, push-pull-exchange.ts). This class is
 * the conductor: lifecycle, the loops, dispatch of inbound messages, and the public API.
 */
export class Swim {
  readonly stats: SwimStats;

  readonly #ctx: NodeContext;
  readonly #gossip: Dissemination;
  readonly #transitions: Transitions;
  readonly #probing: Probing;
  readonly #exchange: PushPullExchange;
  readonly #departure: Departure;
  readonly #queries: Queries;
  /** Serf's member clock, for a leave intent Serf accepts (serf-intent.ts). */
  readonly #serf = new SerfClock();
  #started = false;
  /** Addresses join() was given, told of a leave even before the join completes. */
  readonly #seeds: Address[] = [];

  constructor(options: SwimOptions) {
    validateMembershipConfig(options.config);
    const advertise = { host: options.advertise.host, port: options.advertise.port };
    const addrBytes = ipToBytes(options.advertise.host);
    const table = new MemberTable(options.rng);
    const self: MemberState = {
      name: options.name,
      address: advertise,
      addr: addrBytes,
      meta: options.meta ?? new Uint8Array(0),
      vsn: HECK_VSN,
      incarnation: options.initialIncarnation ?? 1,
      status: "alive",
      statusSince: options.clock.now(),
    };
    table.add(self);
    this.#ctx = new NodeContext({
      name: options.name,
      advertise,
      addrBytes,
      config: options.config,
      clock: options.clock,
      rng: options.rng,
      timers: options.timers,
      log: options.log ?? silentLogger,
      transport: options.transport,
      delegate: options.delegate,
      sharesDelegate: options.sharesDelegate,
      table,
      self,
    });
    this.stats = this.#ctx.stats;
    this.#gossip = new Dissemination(this.#ctx);
    this.#transitions = new Transitions(this.#ctx, this.#gossip, options.onMemberEvent);
    this.#ctx.onLongStall = () => this.#transitions.announceAfterStall();
    this.#probing = new Probing(this.#ctx, this.#gossip, this.#transitions);
    this.#exchange = new PushPullExchange(this.#ctx, this.#transitions, this.#serf);
    this.#departure = new Departure(this.#ctx, this.#gossip, this.#transitions, this.#probing, this.#serf);
    this.#queries = new Queries(this.#ctx, this.#gossip, this.#serf, options.queryHandler);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** Announces ourselves and arms the probe, gossip, push-pull and reconnect loops. */
  start(): void {
    const ctx = this.#ctx;
    if (this.#started || ctx.stopped) return;
    this.#started = true;
    ctx.self.statusSince = ctx.clock.now();
    this.#transitions.emit(ctx.self, "none");
    this.#transitions.broadcastAlive(ctx.self);
    // Random first delays keep a cluster started at once from probing and gossiping in lockstep.
    const c = ctx.config;
    this.#every(
      () => c.probeIntervalMs,
      () => this.#probing.probeTick(),
      this.#stagger(c.probeIntervalMs),
    );
    this.#every(
      () => c.gossipIntervalMs,
      () => this.#gossip.gossipTick(),
      this.#stagger(c.gossipIntervalMs),
    );
    if (c.pushPullIntervalMs > 0) {
      const interval = () => pushPullIntervalMs(c.pushPullIntervalMs, ctx.table.size);
      this.#every(interval, () => this.#exchange.pushPullTick(), this.#stagger(interval()));
    }
    if (c.reconnectIntervalMs > 0) {
      this.#every(
        () => c.reconnectIntervalMs,
        () => this.#exchange.reconnectTick(this.aliveCount()),
        this.#stagger(c.reconnectIntervalMs),
      );
    }
  }

  /** Clears every timer and drops queued broadcasts. Idempotent; inbound traffic is ignored after. */
  stop(): void {
    const ctx = this.#ctx;
    if (ctx.stopped) return;
    ctx.stopped = true;
    ctx.clearLoopTimers();
    this.#probing.stop();
    this.#transitions.stop();
    this.#queries.stop();
    this.#gossip.reset();
  }

  /**
   * Push-pull join (Join = true) with every seed (docs/wire.md §6.7). `done` gets the number of seeds
   * that completed an exchange and the errors of the others; one success is enough to be in. After
   * the first, our alive goes directly to the members that exchange taught us.
   */
  join(seeds: Address[], done: (joined: number, errors: Error[]) => void): void {
    const stopped = this.#ctx.stopped;
    if (seeds.length === 0 || stopped) {
      done(0, stopped ? [new Error("membership stopped")] : []);
      return;
    }
    for (const seed of seeds) this.#seeds.push({ host: seed.host, port: seed.port });
    let pending = seeds.length;
    let joined = 0;
    const errors: Error[] = [];
    for (const seed of seeds) {
      this.#exchange.pushPullWith(seed, true, (err) => {
        if (err) errors.push(new Error(`join ${formatAddress(seed)}: ${err.message}`));
        // The first exchange told us the members: announce ourselves to them directly.
        else if (++joined === 1) this.#transitions.announceSelf();
        if (--pending === 0) done(joined, errors);
      });
    }
  }

  /**
   * Sends one user message (type 8) over a stream to `to`, as memberlist's SendReliable: no reply
   * is read; `done` gets the connect or write error or the timeout (`timeoutMs`, by default
   * TCPTimeout), or null once the peer has read the message and closed the stream. Used by the
   * delegate for exchanges too large for a packet (heck's state sync).
   */
  sendUserStream(
    to: Address,
    payload: Uint8Array,
    done: (err: Error | null) => void,
    timeoutMs = this.#ctx.config.tcpTimeoutMs,
  ): void {
    const ctx = this.#ctx;
    if (ctx.stopped) {
      done(new Error("membership stopped"));
      return;
    }
    // Not compressed: the payloads are msgpack already, and LZW in JavaScript costs more CPU on
    // both sides than the loopback or LAN bytes it would save.
    const data = encodeStreamMessage({ type: "user", payload }, { compress: false });
    ctx.stats.streamsOut++;
    ctx.stats.bytesOut += data.length;
    ctx.transport.sendStream(to, data, { timeoutMs, expectReply: false }, (err) => done(err));
  }

  /**
   * Graceful leave (departure in leave.ts): Serf's leave intent and a dead about ourselves with
   * From == us (docs/wire.md §3.4, §6.8), which peers record as "left", sent directly to every
   * member until each acks, and gossiped. `done` runs once every member has acked, or after
   * `timeoutMs`, or at once when nobody is left to tell. The caller stops afterwards.
   */
  leave(timeoutMs: number, done: () => void): void {
    const ctx = this.#ctx;
    if (ctx.leaving || ctx.stopped) {
      done();
      return;
    }
    ctx.leaving = true;
    this.#departure.leave(timeoutMs, this.#seeds, done);
  }

  /**
   * Sends a Serf query to every member (queries.ts): each member's response goes to
   * `onResponse`, ours included, and `done` gets the number of members expected to answer.
   */
  query(options: QueryOptions): void {
    if (this.#ctx.stopped) {
      options.done(0);
      return;
    }
    this.#queries.query(options);
  }

  // -------------------------------------------------------------------------------------------
  // Views

  members(): MemberView[] {
    return this.#ctx.table.all().map(viewOf);
  }

  member(name: string): MemberView | undefined {
    const state = this.#ctx.table.get(name);
    return state ? viewOf(state) : undefined;
  }

  /** The status we hold for `name`, or undefined when unknown; {@link member} without the copy. */
  memberStatus(name: string): MemberStatus | undefined {
    return this.#ctx.table.get(name)?.status;
  }

  localMember(): MemberView {
    return viewOf(this.#ctx.self);
  }

  /** Members alive or suspect (a suspect still counts, as in memberlist's NumMembers), ourselves included. */
  aliveCount(): number {
    let n = 0;
    for (const s of this.#ctx.table.all()) if (!isGone(s.status)) n++;
    return n;
  }

  /**
   * The shell's measure of its own slowness: the largest event-loop delay (ms beyond the
   * monitor's resolution) seen since the last report. A stall of half a probe timeout or more
   * worsens the health score, so that a slow node stretches its own timeouts, and a probe that
   * failed meanwhile accuses nobody (Lifeguard §IV-A; docs/membership.md, slow nodes).
   */
  reportEventLoopDelay(delayMs: number): void {
    if (this.#ctx.stopped || !Number.isFinite(delayMs)) return;
    this.#ctx.noteDelay(delayMs);
  }

  /** Membership broadcasts (alive, suspect, dead, leave news) still queued for gossip. */
  pendingBroadcasts(): number {
    return this.#gossip.pending();
  }

  /** Lifeguard's local health score, 0 (healthy) .. awarenessMaxMultiplier - 1. */
  healthScore(): number {
    return this.#ctx.awareness.score;
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  /** One datagram, already decrypted. Never throws: bad input is counted and logged at debug. */
  handlePacket(from: Address, data: Uint8Array): void {
    const ctx = this.#ctx;
    if (ctx.stopped) return;
    ctx.stats.packetsIn++;
    ctx.stats.bytesIn += data.length;
    let messages: Message[];
    try {
      const decoded = decodePacket(data);
      messages = decoded.messages;
      for (const error of decoded.errors) ctx.malformed(from, error);
    } catch (err) {
      ctx.dropInput(from, err);
      return;
    }
    if (messages.length > 0) this.#probing.heardFrom(from);
    for (const msg of messages) {
      try {
        this.#onPacketMessage(from, msg);
      } catch (err) {
        ctx.malformed(from, `${msg.type}: ${errorText(err)}`);
      }
    }
  }

  /**
   * One complete inbound stream message, already decrypted. Returns the reply to write back (the
   * push-pull answer, the ack of a TCP ping, or an errResp for unreadable input) or null when
   * there is none. Never throws.
   */
  handleStream(from: Address, data: Uint8Array): Uint8Array | null {
    const ctx = this.#ctx;
    if (ctx.stopped) return null;
    ctx.stats.streamsIn++;
    ctx.stats.bytesIn += data.length;
    let msg: Message;
    let reply: Uint8Array | null;
    try {
      msg = ctx.decodeStream(data);
    } catch (err) {
      ctx.dropInput(from, err);
      reply = ctx.encodeStream({ type: "err", error: errorText(err) });
      ctx.stats.bytesOut += reply.length;
      return reply;
    }
    try {
      reply = this.#answerStream(from, msg);
    } catch (err) {
      ctx.malformed(from, `${msg.type}: ${errorText(err)}`);
      return null;
    }
    if (reply) ctx.stats.bytesOut += reply.length;
    return reply;
  }

  /** The reply to one decoded stream message, or null. May throw on bad peer input. */
  #answerStream(from: Address, msg: Message): Uint8Array | null {
    const ctx = this.#ctx;
    switch (msg.type) {
      case "ping":
        // A ping for someone else gets no answer, as memberlist closes the stream (docs/wire.md §4.7).
        if (msg.node !== "" && msg.node !== ctx.name) {
          ctx.log.warn("membership: stream ping for another node", {
            node: msg.node,
            from: formatAddress(from),
          });
          return null;
        }
        return ctx.encodeStream({ type: "ack", seqNo: msg.seqNo, payload: null });
      case "pushPull":
        return this.#exchange.answer(msg);
      case "user":
        this.#onUserMessage(msg.payload, from);
        return null;
      default:
        ctx.log.debug("membership: unexpected stream message", {
          type: msg.type,
          from: formatAddress(from),
        });
        return null;
    }
  }

  #onPacketMessage(from: Address, msg: Message): void {
    switch (msg.type) {
      case "ping":
        this.#probing.onPing(from, msg);
        return;
      case "indirectPing":
        this.#probing.onIndirectPing(from, msg);
        return;
      case "ack":
        this.#probing.onAck(msg.seqNo);
        return;
      case "nack":
        this.#probing.onNack(msg.seqNo);
        return;
      case "alive":
        this.#transitions.onAlive(msg);
        return;
      case "suspect":
        this.#transitions.onSuspect(msg);
        return;
      case "dead":
        this.#transitions.onDead(msg);
        return;
      case "user":
        this.#onUserMessage(msg.payload, from);
        return;
      default:
        this.#ctx.log.debug("membership: unexpected packet message", {
          type: msg.type,
          from: formatAddress(from),
        });
    }
  }

  /** Serf's intents move its clock, its queries are ours to handle; the rest goes to the delegate. */
  #onUserMessage(payload: Uint8Array, from: Address): void {
    // Serf ignores an empty user message silently (docs/wire.md §6.4).
    if (payload.length === 0) return;
    this.#serf.witness(payload);
    if (this.#queries.onUserMessage(payload, from)) return;
    this.#ctx.delegate?.notifyUserMessage(payload, from);
  }

  // -------------------------------------------------------------------------------------------
  // Loops

  #stagger(intervalMs: number): number {
    return Math.floor(this.#ctx.rng.next() * intervalMs);
  }

  /** Runs `fn` after `firstDelayMs` and then every `intervalMs()` (read afresh each time). */
  #every(intervalMs: () => number, fn: () => void, firstDelayMs: number): void {
    const ctx = this.#ctx;
    const run = () => {
      if (ctx.stopped) return;
      ctx.after(intervalMs(), run);
      // A throwing delegate must not escape into the host's timer machinery; the loop goes on.
      try {
        fn();
      } catch (err) {
        ctx.log.error("membership: periodic task failed", { error: errorText(err) });
      }
    };
    ctx.after(firstDelayMs, run);
  }
}
