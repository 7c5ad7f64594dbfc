import {
  decodePacket,
  decodeStreamMessage,
  encodeCompound,
  encodeMessage,
  encodeStreamMessage,
  MAX_COMPOUND_PARTS,
  withCrc,
} from "../../wire/codec.js";
import { bytesToIp, ipToBytes } from "../../wire/ip.js";
import type {
  AliveMessage,
  DeadMessage,
  IndirectPingMessage,
  Message,
  PingMessage,
  PushNodeState,
  PushPullMessage,
  SuspectMessage,
} from "../../wire/messages.js";
import { HECK_VSN } from "../../wire/messages.js";
import { type Address, formatAddress } from "../address.js";
import {
  type Clock,
  type Logger,
  type Rng,
  randomInt,
  silentLogger,
  type TimerHandle,
  type Timers,
} from "../env.js";
import { Awareness, HealthDelta } from "./awareness.js";
import { BroadcastQueue, retransmitLimit } from "./broadcast-queue.js";
import { type MembershipConfig, validateMembershipConfig } from "./config.js";
import {
  bytesEqual,
  deadApplies,
  isGone,
  judgeAlive,
  type MemberState,
  MemberTable,
  refutingIncarnation,
  suspectApplies,
  viewOf,
} from "./members.js";
import type {
  MemberEvent,
  MemberStatus,
  MembershipDelegate,
  MembershipTransport,
  MemberView,
} from "./ports.js";
import { mergeAsMessage, pushPullIntervalMs, stateCodeOf } from "./push-pull.js";
import { FailedRoster, reconnectProbability } from "./reconnect.js";
import { expectedConfirmations, Suspicion, suspicionBounds } from "./suspicion.js";
import { acceptableVsn, incompatibility, ProtocolFeature, protocolMax } from "./vsn.js";

/** `07` + part count in front of a compound (docs/wire.md §4.2). */
const COMPOUND_HEADER_BYTES = 2;
/** Each compound part costs a big-endian uint16 length. */
const COMPOUND_PART_BYTES = 2;
/** `0c` + CRC-32 in front of a packet for a peer with PMax >= 5 (docs/wire.md §4.5). */
const CRC_HEADER_BYTES = 5;
/** A user payload travels behind its `08` type byte (docs/wire.md §3.6). */
const USER_TYPE_BYTES = 1;

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
   * Every status change of every member, ourselves included, and the first sight of each
   * (previous "none"). A Meta change of an alive member is reported with previous "alive".
   */
  onMemberEvent?: (e: MemberEvent) => void;
}

/** Plain counters, readable at any time. */
export interface SwimStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Undecodable packets, bad compound parts, unreadable streams and replies. */
  malformed: number;
  streamsIn: number;
  streamsOut: number;
  probes: number;
  probeFailures: number;
  indirectPings: number;
  tcpPings: number;
  suspicionsRaised: number;
  refutations: number;
  pushPulls: number;
  gossipPackets: number;
}

/** One outstanding ack: our own probe, a relayed probe, or an indirect request. */
interface AckHandler {
  onAck: () => void;
  onNack: () => void;
  timer: TimerHandle;
}

/** State of the probe in flight (at most one, as memberlist's blocking probe loop). */
interface ProbeRound {
  target: MemberState;
  incarnation: number;
  seqNo: number;
  startedAt: number;
  expectedNacks: number;
  nacks: number;
  fallbackPending: boolean;
  fallbackAcked: boolean;
  deadlinePassed: boolean;
  done: boolean;
  timers: TimerHandle[];
}

/**
 * SWIM with Lifeguard, as hashicorp/memberlist runs it, speaking its wire format (docs/wire.md). Pure:
 * time, randomness, timers and the network come in through the constructor; the caller feeds
 * inbound packets and streams to {@link handlePacket} and {@link handleStream}.
 *
 * Behaviour follows memberlist 0.2.2: round-robin probing with indirect and TCP fallback probes
 * (SWIM §4), Lifeguard's awareness and dynamic suspicion (Lifeguard §IV), piggybacked gossip with
 * transmit limits, periodic push-pull, and Serf's reconnect to failed members (§6.7).
 */
export class Swim {
  readonly stats: SwimStats = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    malformed: 0,
    streamsIn: 0,
    streamsOut: 0,
    probes: 0,
    probeFailures: 0,
    indirectPings: 0,
    tcpPings: 0,
    suspicionsRaised: 0,
    refutations: 0,
    pushPulls: 0,
    gossipPackets: 0,
  };

  readonly #name: string;
  readonly #advertise: Address;
  readonly #addrBytes: Uint8Array;
  readonly #config: MembershipConfig;
  readonly #clock: Clock;
  readonly #rng: Rng;
  readonly #timers: Timers;
  readonly #log: Logger;
  readonly #transport: MembershipTransport;
  readonly #delegate: MembershipDelegate | undefined;
  readonly #onMemberEvent: ((e: MemberEvent) => void) | undefined;

  readonly #table: MemberTable;
  readonly #self: MemberState;
  readonly #awareness: Awareness;
  readonly #broadcasts: BroadcastQueue;
  readonly #suspicions = new Map<string, Suspicion>();
  readonly #acks = new Map<number, AckHandler>();
  readonly #failed = new FailedRoster();
  /** Timers not owned by a probe, an ack handler or a suspicion: ticks and leave. */
  readonly #loopTimers = new Set<TimerHandle>();
  #probe: ProbeRound | undefined;
  #seqNo = 0;
  #started = false;
  #stopped = false;
  #leaving = false;

  constructor(options: SwimOptions) {
    validateMembershipConfig(options.config);
    this.#name = options.name;
    this.#advertise = { host: options.advertise.host, port: options.advertise.port };
    this.#addrBytes = ipToBytes(options.advertise.host);
    this.#config = options.config;
    this.#clock = options.clock;
    this.#rng = options.rng;
    this.#timers = options.timers;
    this.#log = options.log ?? silentLogger;
    this.#transport = options.transport;
    this.#delegate = options.delegate;
    this.#onMemberEvent = options.onMemberEvent;
    this.#table = new MemberTable(options.rng);
    this.#awareness = new Awareness(options.config.awarenessMaxMultiplier);
    this.#broadcasts = new BroadcastQueue(() =>
      retransmitLimit(this.#config.retransmitMult, this.#table.size),
    );
    this.#self = {
      name: options.name,
      address: this.#advertise,
      addr: this.#addrBytes,
      meta: options.meta ?? new Uint8Array(0),
      vsn: HECK_VSN,
      incarnation: options.initialIncarnation ?? 1,
      status: "alive",
      statusSince: options.clock.now(),
    };
    this.#table.add(this.#self);
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  /** Announces ourselves and arms the probe, gossip, push-pull and reconnect loops. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#self.statusSince = this.#clock.now();
    this.#emit(this.#self, "none");
    this.#broadcastAlive(this.#self);
    // Random first delays keep a cluster started at once from probing and gossiping in lockstep.
    const c = this.#config;
    this.#every(
      () => c.probeIntervalMs,
      () => this.#probeTick(),
      this.#stagger(c.probeIntervalMs),
    );
    this.#every(
      () => c.gossipIntervalMs,
      () => this.#gossipTick(),
      this.#stagger(c.gossipIntervalMs),
    );
    if (c.pushPullIntervalMs > 0) {
      const interval = () => pushPullIntervalMs(c.pushPullIntervalMs, this.#table.size);
      this.#every(interval, () => this.#pushPullTick(), this.#stagger(interval()));
    }
    if (c.reconnectIntervalMs > 0) {
      this.#every(
        () => c.reconnectIntervalMs,
        () => this.#reconnectTick(),
        this.#stagger(c.reconnectIntervalMs),
      );
    }
  }

  /** Clears every timer and drops queued broadcasts. Idempotent; inbound traffic is ignored after. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#loopTimers) this.#timers.clearTimeout(t);
    this.#loopTimers.clear();
    if (this.#probe) this.#endProbe(this.#probe);
    for (const h of this.#acks.values()) this.#timers.clearTimeout(h.timer);
    this.#acks.clear();
    for (const s of this.#suspicions.values()) s.cancel();
    this.#suspicions.clear();
    this.#broadcasts.reset();
  }

  /**
   * Push-pull join (Join = true) with every seed (docs/wire.md §6.7). `done` gets the number of seeds
   * that completed an exchange and the errors of the others; one success is enough to be in.
   */
  join(seeds: Address[], done: (joined: number, errors: Error[]) => void): void {
    if (seeds.length === 0 || this.#stopped) {
      done(0, this.#stopped ? [new Error("membership stopped")] : []);
      return;
    }
    let pending = seeds.length;
    let joined = 0;
    const errors: Error[] = [];
    for (const seed of seeds) {
      this.#pushPullWith(seed, true, (err) => {
        if (err) errors.push(new Error(`join ${formatAddress(seed)}: ${err.message}`));
        else joined++;
        if (--pending === 0) done(joined, errors);
      });
    }
  }

  /**
   * Sends one user message (type 8) over a stream to `to`, as memberlist's SendReliable: no reply
   * is read; `done` gets the connect or write error, or null once the message is written. Used by
   * the delegate for exchanges too large for a packet (heck's state sync).
   */
  sendUserStream(to: Address, payload: Uint8Array, done: (err: Error | null) => void): void {
    if (this.#stopped) {
      done(new Error("membership stopped"));
      return;
    }
    // Not compressed: the payloads are msgpack already, and LZW in JavaScript costs more CPU on
    // both sides than the loopback or LAN bytes it would save.
    const data = encodeStreamMessage({ type: "user", payload }, { compress: false });
    this.stats.streamsOut++;
    this.stats.bytesOut += data.length;
    this.#transport.sendStream(
      to,
      data,
      { timeoutMs: this.#config.tcpTimeoutMs, expectReply: false },
      (err) => done(err),
    );
  }

  /**
   * Graceful leave: gossips a dead about ourselves with From == us (docs/wire.md §3.4, §6.8), which
   * peers record as "left". `done` runs once the broadcast has been sent its retransmit limit, or
   * after `timeoutMs`, or at once when nobody is left to tell. The caller stops afterwards.
   */
  leave(timeoutMs: number, done: () => void): void {
    let finished = false;
    let timer: TimerHandle | undefined;
    const finish = () => {
      if (finished) return;
      finished = true;
      if (timer !== undefined) {
        this.#timers.clearTimeout(timer);
        this.#loopTimers.delete(timer);
      }
      done();
    };
    if (this.#leaving || this.#stopped) {
      finish();
      return;
    }
    this.#leaving = true;
    const anyoneLeft = this.#table.all().some((s) => s !== this.#self && !isGone(s.status));
    const msg: DeadMessage = {
      type: "dead",
      incarnation: this.#self.incarnation,
      node: this.#name,
      from: this.#name,
    };
    this.#setStatus(this.#self, "left");
    if (!anyoneLeft) {
      finish();
      return;
    }
    this.#broadcasts.queue({ key: this.#name, payload: encodeMessage(msg), onDone: finish });
    timer = this.#timers.setTimeout(finish, timeoutMs);
    this.#loopTimers.add(timer);
  }

  // -------------------------------------------------------------------------------------------
  // Views

  members(): MemberView[] {
    return this.#table.all().map(viewOf);
  }

  member(name: string): MemberView | undefined {
    const state = this.#table.get(name);
    return state ? viewOf(state) : undefined;
  }

  localMember(): MemberView {
    return viewOf(this.#self);
  }

  /** Members alive or suspect (a suspect still counts, as in memberlist's NumMembers), ourselves included. */
  aliveCount(): number {
    let n = 0;
    for (const s of this.#table.all()) if (!isGone(s.status)) n++;
    return n;
  }

  /** Lifeguard's local health score, 0 (healthy) .. awarenessMaxMultiplier - 1. */
  healthScore(): number {
    return this.#awareness.score;
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  /** One datagram, already decrypted. Never throws: bad input is counted and logged at debug. */
  handlePacket(from: Address, data: Uint8Array): void {
    if (this.#stopped) return;
    this.stats.packetsIn++;
    this.stats.bytesIn += data.length;
    let messages: Message[];
    try {
      const decoded = decodePacket(data);
      messages = decoded.messages;
      for (const error of decoded.errors) this.#malformed(from, error);
    } catch (err) {
      this.#malformed(from, errorText(err));
      return;
    }
    for (const msg of messages) {
      try {
        this.#onPacketMessage(from, msg);
      } catch (err) {
        this.#malformed(from, `${msg.type}: ${errorText(err)}`);
      }
    }
  }

  /**
   * One complete inbound stream message, already decrypted. Returns the reply to write back (the
   * push-pull answer, the ack of a TCP ping, or an errResp for unreadable input) or null when
   * there is none. Never throws.
   */
  handleStream(from: Address, data: Uint8Array): Uint8Array | null {
    if (this.#stopped) return null;
    this.stats.streamsIn++;
    this.stats.bytesIn += data.length;
    let msg: Message;
    let reply: Uint8Array | null;
    try {
      msg = decodeStreamMessage(data);
    } catch (err) {
      this.#malformed(from, errorText(err));
      reply = this.#encodeStream({ type: "err", error: errorText(err) });
      this.stats.bytesOut += reply.length;
      return reply;
    }
    try {
      reply = this.#answerStream(from, msg);
    } catch (err) {
      this.#malformed(from, `${msg.type}: ${errorText(err)}`);
      return null;
    }
    if (reply) this.stats.bytesOut += reply.length;
    return reply;
  }

  /** The reply to one decoded stream message, or null. May throw on bad peer input. */
  #answerStream(from: Address, msg: Message): Uint8Array | null {
    switch (msg.type) {
      case "ping":
        // A ping for someone else gets no answer, as memberlist closes the stream (docs/wire.md §4.7).
        if (msg.node !== "" && msg.node !== this.#name) {
          this.#log.warn("membership: stream ping for another node", {
            node: msg.node,
            from: formatAddress(from),
          });
          return null;
        }
        return this.#encodeStream({ type: "ack", seqNo: msg.seqNo, payload: null });
      case "pushPull": {
        // The listener answers with its state first and merges the peer's after (docs/wire.md §4.7),
        // so the reply never contains the joiner.
        this.stats.pushPulls++;
        const reply = this.#encodeStream(this.#localPushPull(msg.join));
        const refusal = this.#mergeRemote(msg);
        if (refusal) this.#log.warn("membership: push-pull merge refused", { reason: refusal });
        return reply;
      }
      case "user":
        if (msg.payload.length > 0) this.#delegate?.notifyUserMessage(msg.payload, from);
        return null;
      default:
        this.#log.debug("membership: unexpected stream message", {
          type: msg.type,
          from: formatAddress(from),
        });
        return null;
    }
  }

  #onPacketMessage(from: Address, msg: Message): void {
    switch (msg.type) {
      case "ping":
        this.#onPing(from, msg);
        return;
      case "indirectPing":
        this.#onIndirectPing(from, msg);
        return;
      case "ack":
        this.#onAck(msg.seqNo);
        return;
      case "nack":
        this.#acks.get(msg.seqNo)?.onNack();
        return;
      case "alive":
        this.#onAlive(msg);
        return;
      case "suspect":
        this.#onSuspect(msg);
        return;
      case "dead":
        this.#onDead(msg);
        return;
      case "user":
        // Serf ignores an empty user message silently (docs/wire.md §6.4).
        if (msg.payload.length > 0) this.#delegate?.notifyUserMessage(msg.payload, from);
        return;
      default:
        this.#log.debug("membership: unexpected packet message", {
          type: msg.type,
          from: formatAddress(from),
        });
    }
  }

  #onPing(from: Address, msg: PingMessage): void {
    if (msg.node !== "" && msg.node !== this.#name) {
      this.#log.warn("membership: ping for another node", { node: msg.node, from: formatAddress(from) });
      return;
    }
    const replyTo = replyAddress(from, msg.sourceAddr, msg.sourcePort);
    const dest = msg.sourceNode === undefined ? undefined : this.#table.get(msg.sourceNode);
    this.#sendPiggybacked(replyTo, encodeMessage({ type: "ack", seqNo: msg.seqNo, payload: null }), dest);
  }

  /**
   * We are the intermediary of someone's indirect probe (docs/wire.md §3.2): ping the target with our
   * own sequence number, relay its ack, and send a nack if asked and the target stays silent.
   */
  #onIndirectPing(from: Address, msg: IndirectPingMessage): void {
    const target: Address = { host: bytesToIp(msg.target), port: msg.port || this.#advertise.port };
    const replyTo = replyAddress(from, msg.sourceAddr, msg.sourcePort);
    const seqNo = this.#nextSeqNo();
    let nackTimer: TimerHandle | undefined;
    this.#expectAck(
      seqNo,
      this.#config.probeTimeoutMs,
      () => {
        if (nackTimer !== undefined) this.#clearLoopTimer(nackTimer);
        this.#sendPacket(replyTo, encodeMessage({ type: "ack", seqNo: msg.seqNo, payload: null }));
      },
      () => {},
    );
    if (msg.nack) {
      nackTimer = this.#after(this.#config.probeTimeoutMs, () => {
        this.#sendPacket(replyTo, encodeMessage({ type: "nack", seqNo: msg.seqNo }));
      });
    }
    this.#sendPiggybacked(target, encodeMessage(this.#ping(seqNo, msg.node)), this.#table.get(msg.node));
  }

  #onAck(seqNo: number): void {
    const handler = this.#acks.get(seqNo);
    if (!handler) return;
    this.#acks.delete(seqNo);
    this.#timers.clearTimeout(handler.timer);
    handler.onAck();
  }

  // -------------------------------------------------------------------------------------------
  // State transitions (docs/wire.md §6.2)

  #onAlive(msg: AliveMessage): void {
    const isSelf = msg.node === this.#name;
    // Having left, we neither refute nor re-announce ourselves.
    if (isSelf && this.#leaving) return;
    if (!acceptableVsn(msg.vsn)) {
      this.#log.debug("membership: alive with an unusable Vsn ignored", { node: msg.node });
      return;
    }
    const known = this.#table.get(msg.node);
    const address = this.#addressOf(known, msg.addr, msg.port);
    const verdict = judgeAlive(
      known,
      { incarnation: msg.incarnation, address, meta: msg.meta, vsn: msg.vsn },
      isSelf,
      this.#clock.now(),
      this.#config.deadNodeReclaimTimeMs,
    );
    switch (verdict) {
      case "ignore":
        return;
      case "conflict":
        this.#log.warn("membership: conflicting address for node", {
          node: msg.node,
          known: known ? formatAddress(known.address) : undefined,
          claimed: formatAddress(address),
        });
        return;
      case "refute":
        this.#refute(msg.incarnation);
        return;
      case "apply":
        break;
    }
    this.#cancelSuspicion(msg.node);
    this.#queue(msg.node, encodeMessage(msg));
    if (known === undefined) {
      const state: MemberState = {
        name: msg.node,
        address,
        addr: msg.addr,
        meta: msg.meta,
        vsn: msg.vsn,
        incarnation: msg.incarnation,
        status: "alive",
        statusSince: this.#clock.now(),
      };
      this.#table.add(state);
      this.#failed.clear(state.name);
      this.#emit(state, "none");
      return;
    }
    const metaChanged = !bytesEqual(known.meta, msg.meta);
    known.address = address;
    known.addr = msg.addr;
    known.meta = msg.meta;
    known.vsn = msg.vsn;
    known.incarnation = msg.incarnation;
    if (known.status !== "alive") this.#setStatus(known, "alive");
    else if (metaChanged) this.#emit(known, "alive");
  }

  /**
   * The address an alive claims, reusing the known one when the bytes match (the common case,
   * and cheaper than re-formatting). Port 0 stands for our own port (docs/wire.md §7).
   */
  #addressOf(known: MemberState | undefined, addr: Uint8Array, port: number): Address {
    const p = port || this.#advertise.port;
    if (known !== undefined && bytesEqual(known.addr, addr)) {
      return known.address.port === p ? known.address : { host: known.address.host, port: p };
    }
    return { host: bytesToIp(addr), port: p };
  }

  #onSuspect(msg: SuspectMessage): void {
    const known = this.#table.get(msg.node);
    if (known === undefined || msg.incarnation < known.incarnation) return;
    // A running suspicion only collects confirmations; a new confirmer is worth re-gossiping so
    // that others shorten their timers too (Lifeguard §IV-B).
    const running = this.#suspicions.get(msg.node);
    if (running) {
      if (running.confirm(msg.from)) this.#queue(msg.node, encodeMessage(msg));
      return;
    }
    if (!suspectApplies(known, msg.incarnation)) return;
    if (known === this.#self) {
      if (!this.#leaving) this.#refute(msg.incarnation);
      return;
    }
    this.#queue(msg.node, encodeMessage(msg));
    known.incarnation = msg.incarnation;
    this.#setStatus(known, "suspect");
    this.stats.suspicionsRaised++;
    this.#startSuspicion(known, msg);
  }

  #startSuspicion(state: MemberState, msg: SuspectMessage): void {
    const n = this.#table.size;
    const since = state.statusSince;
    const suspicion = new Suspicion({
      from: msg.from,
      k: expectedConfirmations(this.#config.suspicionMult, n),
      bounds: suspicionBounds(this.#config, n),
      clock: this.#clock,
      timers: this.#timers,
      onTimeout: () => {
        this.#suspicions.delete(state.name);
        // Only the suspicion that is still current may kill: a refutation or a newer verdict
        // changed status or statusSince in between.
        if (this.#stopped || state.status !== "suspect" || state.statusSince !== since) return;
        this.#onDead({ type: "dead", incarnation: msg.incarnation, node: state.name, from: this.#name });
      },
    });
    this.#suspicions.set(state.name, suspicion);
  }

  #onDead(msg: DeadMessage): void {
    const known = this.#table.get(msg.node);
    if (!deadApplies(known, msg.incarnation) || known === undefined) return;
    if (known === this.#self) {
      // Our own graceful leave is applied in leave(); any other verdict about us is refuted.
      if (!this.#leaving) this.#refute(msg.incarnation);
      return;
    }
    this.#cancelSuspicion(msg.node);
    this.#queue(msg.node, encodeMessage(msg));
    known.incarnation = msg.incarnation;
    this.#setStatus(known, msg.from === msg.node ? "left" : "dead");
  }

  /**
   * Out-bids an accusation about ourselves with a fresh alive. Having to refute is a sign we may
   * be the slow one, so it also worsens our health score (Lifeguard §IV-A).
   */
  #refute(accused: number): void {
    this.#self.incarnation = refutingIncarnation(this.#self.incarnation, accused);
    this.#awareness.apply(HealthDelta.refuted);
    this.stats.refutations++;
    this.#broadcastAlive(this.#self);
  }

  #broadcastAlive(state: MemberState): void {
    const msg: AliveMessage = {
      type: "alive",
      incarnation: state.incarnation,
      node: state.name,
      addr: state.addr,
      port: state.address.port,
      meta: state.meta,
      vsn: state.vsn,
    };
    this.#queue(state.name, encodeMessage(msg));
  }

  #setStatus(state: MemberState, status: MemberStatus): void {
    const previous = state.status;
    if (previous === status) return;
    state.status = status;
    state.statusSince = this.#clock.now();
    if (status === "dead") this.#failed.failed(state.name, state.address, state.statusSince);
    else this.#failed.clear(state.name);
    this.#emit(state, previous);
  }

  /** A listener's failure is its own: it must not break the protocol step that emitted. */
  #emit(state: MemberState, previous: MemberStatus | "none"): void {
    if (!this.#onMemberEvent) return;
    try {
      this.#onMemberEvent({ member: viewOf(state), previous });
    } catch (err) {
      this.#log.error("membership: member event listener threw", {
        member: state.name,
        error: errorText(err),
      });
    }
  }

  #cancelSuspicion(name: string): void {
    const s = this.#suspicions.get(name);
    if (!s) return;
    s.cancel();
    this.#suspicions.delete(name);
  }

  /** Newer news about a node replaces older queued news about it (docs/wire.md §6.9). */
  #queue(node: string, payload: Uint8Array): void {
    this.#broadcasts.queue({ key: node, payload });
  }

  // -------------------------------------------------------------------------------------------
  // Probing (SWIM §4, Lifeguard §IV-A)

  #probeTick(): void {
    // A probe stretched by poor local health may outlast the tick; skip until it finishes, as a
    // ticker driving a blocking probe loop would.
    if (this.#probe) return;
    this.#forgetDeparted();
    const target = this.#table.nextProbeTarget(this.#name);
    if (target) this.#probeNode(target);
  }

  #probeNode(target: MemberState): void {
    const interval = this.#awareness.scale(this.#config.probeIntervalMs);
    const timeout = this.#awareness.scale(this.#config.probeTimeoutMs);
    const round: ProbeRound = {
      target,
      incarnation: target.incarnation,
      seqNo: this.#nextSeqNo(),
      startedAt: this.#clock.now(),
      expectedNacks: 0,
      nacks: 0,
      fallbackPending: false,
      fallbackAcked: false,
      deadlinePassed: false,
      done: false,
      timers: [],
    };
    this.#probe = round;
    this.stats.probes++;
    this.#expectAck(
      round.seqNo,
      interval,
      () => this.#finishProbe(round, true),
      () => {
        if (!round.done) round.nacks++;
      },
    );
    const ping = encodeMessage(this.#ping(round.seqNo, target.name));
    if (target.status === "suspect") {
      // Tell a suspect directly that it is suspected so that it can refute at once (docs/wire.md §6.9).
      const suspect: SuspectMessage = {
        type: "suspect",
        incarnation: target.incarnation,
        node: target.name,
        from: this.#name,
      };
      this.#sendPacket(target.address, encodeCompound([ping, encodeMessage(suspect)]), target);
    } else {
      this.#sendPiggybacked(target.address, ping, target);
    }
    round.timers.push(
      this.#timers.setTimeout(() => this.#probeIndirectly(round, interval), timeout),
      this.#timers.setTimeout(() => {
        round.deadlinePassed = true;
        if (!round.fallbackPending) this.#finishProbe(round, false);
      }, interval),
    );
  }

  /**
   * No direct ack within the probe timeout: ask k random alive peers to probe for us, with nacks
   * from those that support them, and try the target over TCP in parallel (docs/wire.md §6.9).
   */
  #probeIndirectly(round: ProbeRound, interval: number): void {
    if (round.done) return;
    const target = round.target;
    const peers = this.#table.randomMembers(
      this.#config.indirectChecks,
      (s) => s !== this.#self && s !== target && s.status === "alive",
    );
    for (const peer of peers) {
      const nack = protocolMax(peer.vsn) >= ProtocolFeature.nack;
      if (nack) round.expectedNacks++;
      const req: IndirectPingMessage = {
        type: "indirectPing",
        seqNo: round.seqNo,
        target: target.addr,
        port: target.address.port,
        node: target.name,
        nack,
        sourceAddr: this.#addrBytes,
        sourcePort: this.#advertise.port,
        sourceNode: this.#name,
      };
      this.stats.indirectPings++;
      this.#sendPiggybacked(peer.address, encodeMessage(req), peer);
    }
    if (this.#config.tcpFallbackPing && protocolMax(target.vsn) >= ProtocolFeature.tcpPing) {
      const remaining = round.startedAt + interval - this.#clock.now();
      if (remaining <= 0) return;
      round.fallbackPending = true;
      this.stats.tcpPings++;
      this.stats.streamsOut++;
      const ping = this.#encodeStream(this.#ping(round.seqNo, target.name));
      this.stats.bytesOut += ping.length;
      this.#transport.sendStream(
        target.address,
        ping,
        { timeoutMs: remaining, expectReply: true },
        (err, reply) => {
          if (round.done || this.#stopped) return;
          round.fallbackPending = false;
          if (!err && reply) round.fallbackAcked = this.#isAckFor(reply, round.seqNo, target.address);
          if (round.deadlinePassed) this.#finishProbe(round, false);
        },
      );
    }
  }

  #isAckFor(reply: Uint8Array, seqNo: number, from: Address): boolean {
    try {
      const msg = decodeStreamMessage(reply);
      return msg.type === "ack" && msg.seqNo === seqNo;
    } catch (err) {
      this.#malformed(from, errorText(err));
      return false;
    }
  }

  /**
   * Ends a probe round. Health: -1 for any ack (direct, relayed or TCP). On failure +1 per
   * expected nack that never came, or +1 flat when no helper could nack: missing nacks mean our
   * own network is the likely culprit (Lifeguard §IV-A). Then the target becomes a suspect.
   */
  #finishProbe(round: ProbeRound, acked: boolean): void {
    if (round.done) return;
    this.#endProbe(round);
    if (acked || round.fallbackAcked) {
      if (round.fallbackAcked && !acked) {
        this.#log.warn("membership: target answered over TCP only; UDP may be blocked", {
          node: round.target.name,
        });
      }
      this.#awareness.apply(HealthDelta.probeSucceeded);
      return;
    }
    this.stats.probeFailures++;
    if (round.expectedNacks > 0) {
      const missing = Math.max(0, round.expectedNacks - round.nacks);
      this.#awareness.apply(missing * HealthDelta.missedNack);
    } else {
      this.#awareness.apply(HealthDelta.probeFailed);
    }
    this.#onSuspect({
      type: "suspect",
      incarnation: round.incarnation,
      node: round.target.name,
      from: this.#name,
    });
  }

  #endProbe(round: ProbeRound): void {
    round.done = true;
    for (const t of round.timers) this.#timers.clearTimeout(t);
    round.timers = [];
    const handler = this.#acks.get(round.seqNo);
    if (handler) {
      this.#timers.clearTimeout(handler.timer);
      this.#acks.delete(round.seqNo);
    }
    if (this.#probe === round) this.#probe = undefined;
  }

  #expectAck(seqNo: number, timeoutMs: number, onAck: () => void, onNack: () => void): void {
    const timer = this.#timers.setTimeout(() => this.#acks.delete(seqNo), timeoutMs);
    this.#acks.set(seqNo, { onAck, onNack, timer });
  }

  #ping(seqNo: number, node: string): PingMessage {
    return {
      type: "ping",
      seqNo,
      node,
      sourceAddr: this.#addrBytes,
      sourcePort: this.#advertise.port,
      sourceNode: this.#name,
    };
  }

  /** One counter shared by probes and relayed probes, wrapping within uint32 (docs/wire.md §3.1). */
  #nextSeqNo(): number {
    this.#seqNo = (this.#seqNo + 1) >>> 0;
    return this.#seqNo;
  }

  /** Departed members are forgotten after deadNodeReclaimTime; failed ones stay reconnect candidates. */
  #forgetDeparted(): void {
    const now = this.#clock.now();
    const cutoff = this.#config.deadNodeReclaimTimeMs;
    const dropped = this.#table.forget(
      (s) => s !== this.#self && isGone(s.status) && now - s.statusSince > cutoff,
    );
    for (const s of dropped) this.#cancelSuspicion(s.name);
  }

  // -------------------------------------------------------------------------------------------
  // Gossip

  /**
   * Sends queued broadcasts to gossipNodes random members. Dead and left members stay targets
   * for gossipToTheDeadTime so that one that was wrongly declared dead hears it and refutes
   * (docs/wire.md §6.2). Each target gets its own packet, drawn afresh from the queue.
   */
  #gossipTick(): void {
    const now = this.#clock.now();
    const targets = this.#table.randomMembers(
      this.#config.gossipNodes,
      (s) =>
        s !== this.#self && (!isGone(s.status) || now - s.statusSince <= this.#config.gossipToTheDeadTimeMs),
    );
    for (const target of targets) {
      const room = this.#config.udpBufferSize - COMPOUND_HEADER_BYTES - this.#crcBytes(target);
      const parts = this.#takeBroadcasts(room, MAX_COMPOUND_PARTS);
      if (parts.length === 0) return;
      const packet = parts.length === 1 ? (parts[0] as Uint8Array) : encodeCompound(parts);
      this.stats.gossipPackets++;
      this.#sendPacket(target.address, packet, target);
    }
  }

  /**
   * Membership broadcasts first, then the delegate's user payloads (as type-8 messages) in the
   * room left, at most `maxParts` in all.
   */
  #takeBroadcasts(room: number, maxParts: number): Uint8Array[] {
    const parts = this.#broadcasts.take(COMPOUND_PART_BYTES, room, maxParts);
    if (!this.#delegate || parts.length >= maxParts) return parts;
    let used = 0;
    for (const p of parts) used += p.length + COMPOUND_PART_BYTES;
    const left = room - used;
    if (left <= COMPOUND_PART_BYTES + USER_TYPE_BYTES) return parts;
    const user = this.#delegate.getBroadcasts(COMPOUND_PART_BYTES + USER_TYPE_BYTES, left);
    // An empty part would crash Serf (docs/wire.md §4.2) and an empty user message means nothing; a
    // payload beyond the room or the part limit would break the packet, so it is dropped.
    let roomLeft = left;
    let dropped = 0;
    for (const payload of user) {
      const cost = payload.length + COMPOUND_PART_BYTES + USER_TYPE_BYTES;
      if (payload.length === 0) continue;
      if (cost > roomLeft || parts.length >= maxParts) {
        dropped++;
        continue;
      }
      roomLeft -= cost;
      parts.push(encodeMessage({ type: "user", payload }));
    }
    if (dropped > 0)
      this.#log.debug("membership: user broadcasts that did not fit were dropped", { dropped });
    return parts;
  }

  /** Sends `message` with as many queued broadcasts as fit beside it (docs/wire.md §4.1 step 1). */
  #sendPiggybacked(to: Address, message: Uint8Array, dest: MemberState | undefined): void {
    const room = this.#config.udpBufferSize - message.length - COMPOUND_HEADER_BYTES - this.#crcBytes(dest);
    const extra = room > 0 ? this.#takeBroadcasts(room, MAX_COMPOUND_PARTS - 1) : [];
    const packet = extra.length === 0 ? message : encodeCompound([message, ...extra]);
    this.#sendPacket(to, packet, dest);
  }

  /** Room the CRC header will take in front of a packet to `dest` (docs/wire.md §4.5). */
  #crcBytes(dest: MemberState | undefined): number {
    return dest !== undefined && protocolMax(dest.vsn) >= ProtocolFeature.crc ? CRC_HEADER_BYTES : 0;
  }

  /** Adds the CRC header for a known destination that checks it (PMax >= 5, docs/wire.md §4.5). */
  #sendPacket(to: Address, packet: Uint8Array, dest?: MemberState): void {
    const framed = this.#crcBytes(dest) > 0 ? withCrc(packet) : packet;
    this.stats.packetsOut++;
    this.stats.bytesOut += framed.length;
    this.#transport.sendPacket(to, framed);
  }

  // -------------------------------------------------------------------------------------------
  // Push-pull and reconnect (docs/wire.md §3.5, §5, §6.7)

  #pushPullTick(): void {
    const [peer] = this.#table.randomMembers(1, (s) => s !== this.#self && s.status === "alive");
    if (!peer) return;
    this.#pushPullWith(peer.address, false, (err) => {
      if (err) this.#log.debug("membership: push-pull failed", { peer: peer.name, error: err.message });
    });
  }

  #reconnectTick(): void {
    const candidates = this.#failed.expire(this.#clock.now(), this.#config.reconnectTimeoutMs);
    if (candidates === 0) return;
    if (this.#rng.next() >= reconnectProbability(candidates, this.aliveCount())) return;
    const pick = this.#failed.at(randomInt(this.#rng, candidates));
    if (!pick) return;
    this.#pushPullWith(pick.address, true, (err) => {
      if (err) this.#log.debug("membership: reconnect failed", { peer: pick.name, error: err.message });
    });
  }

  #pushPullWith(to: Address, join: boolean, done: (err: Error | null) => void): void {
    const request = this.#encodeStream(this.#localPushPull(join));
    this.stats.streamsOut++;
    this.stats.pushPulls++;
    this.stats.bytesOut += request.length;
    this.#transport.sendStream(
      to,
      request,
      { timeoutMs: this.#config.tcpTimeoutMs, expectReply: true },
      (err, reply) => {
        if (this.#stopped) {
          done(new Error("membership stopped"));
          return;
        }
        if (err || !reply) {
          done(err ?? new Error("no reply"));
          return;
        }
        this.stats.bytesIn += reply.length;
        let msg: Message;
        try {
          msg = decodeStreamMessage(reply);
        } catch (e) {
          this.#malformed(to, errorText(e));
          done(e instanceof Error ? e : new Error(errorText(e)));
          return;
        }
        if (msg.type === "err") {
          done(new Error(`remote error: ${msg.error}`));
          return;
        }
        if (msg.type !== "pushPull") {
          done(new Error(`unexpected reply: ${msg.type}`));
          return;
        }
        let refusal: string | undefined;
        try {
          refusal = this.#mergeRemote(msg);
        } catch (e) {
          this.#malformed(to, errorText(e));
          refusal = errorText(e);
        }
        done(refusal === undefined ? null : new Error(refusal));
      },
    );
  }

  #localPushPull(join: boolean): PushPullMessage {
    const nodes: PushNodeState[] = this.#table.all().map((s) => ({
      name: s.name,
      addr: s.addr,
      port: s.address.port,
      meta: s.meta,
      incarnation: s.incarnation,
      state: stateCodeOf[s.status],
      vsn: s.vsn,
    }));
    return {
      type: "pushPull",
      join,
      nodes,
      userState: this.#delegate?.localState(join) ?? new Uint8Array(0),
    };
  }

  /**
   * Merges a peer's push-pull state (docs/wire.md §5) after memberlist's protocol check over every
   * alive node, ours and theirs. Returns the refusal reason, or undefined when merged.
   */
  #mergeRemote(msg: PushPullMessage): string | undefined {
    const alive = [
      ...msg.nodes.filter((s) => s.state === 0),
      ...this.#table.all().filter((s) => s.status === "alive"),
    ];
    const refusal = incompatibility(alive);
    if (refusal) return refusal;
    for (const state of msg.nodes) {
      const as = mergeAsMessage(state, this.#name);
      if (as === undefined) continue;
      // One bad node state (an address of the wrong length) must not stop the rest of the merge.
      try {
        if (as.type === "alive") this.#onAlive(as);
        else if (as.type === "suspect") this.#onSuspect(as);
        else this.#onDead(as);
      } catch (err) {
        this.#log.debug("membership: push-pull node state skipped", {
          node: state.name,
          error: errorText(err),
        });
      }
    }
    if (this.#delegate && msg.userState.length > 0) this.#delegate.mergeRemoteState(msg.userState, msg.join);
    return undefined;
  }

  #encodeStream(msg: Message): Uint8Array {
    return encodeStreamMessage(msg, { compress: this.#config.compressStreams });
  }

  // -------------------------------------------------------------------------------------------
  // Timers and helpers

  #stagger(intervalMs: number): number {
    return Math.floor(this.#rng.next() * intervalMs);
  }

  /** Runs `fn` after `firstDelayMs` and then every `intervalMs()` (read afresh each time). */
  #every(intervalMs: () => number, fn: () => void, firstDelayMs: number): void {
    const run = () => {
      if (this.#stopped) return;
      this.#after(intervalMs(), run);
      // A throwing delegate must not escape into the host's timer machinery; the loop goes on.
      try {
        fn();
      } catch (err) {
        this.#log.error("membership: periodic task failed", { error: errorText(err) });
      }
    };
    this.#after(firstDelayMs, run);
  }

  #after(delayMs: number, fn: () => void): TimerHandle {
    const handle: TimerHandle = this.#timers.setTimeout(() => {
      this.#loopTimers.delete(handle);
      if (!this.#stopped) fn();
    }, delayMs);
    this.#loopTimers.add(handle);
    return handle;
  }

  #clearLoopTimer(handle: TimerHandle): void {
    this.#timers.clearTimeout(handle);
    this.#loopTimers.delete(handle);
  }

  #malformed(from: Address, error: string): void {
    this.stats.malformed++;
    this.#log.debug("membership: malformed input dropped", { from: formatAddress(from), error });
  }
}

/**
 * Where to answer a ping: its Source fields when both are set, else the datagram's origin
 * (docs/wire.md §3.1).
 */
function replyAddress(
  from: Address,
  sourceAddr: Uint8Array | undefined,
  sourcePort: number | undefined,
): Address {
  if (sourceAddr !== undefined && sourceAddr.length > 0 && sourcePort !== undefined && sourcePort !== 0) {
    return { host: bytesToIp(sourceAddr), port: sourcePort };
  }
  return from;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
