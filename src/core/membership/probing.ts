import { encodeCompound, encodeMessage } from "../../wire/codec.js";
import { bytesToIp } from "../../wire/ip.js";
import type { IndirectPingMessage, PingMessage, SuspectMessage } from "../../wire/messages.js";
import { type Address, formatAddress } from "../address.js";
import type { TimerHandle } from "../env.js";
import { HealthDelta } from "./awareness.js";
import type { NodeContext } from "./context.js";
import type { Dissemination } from "./dissemination.js";
import type { MemberState } from "./members.js";
import { addressOf, type Transitions } from "./transitions.js";
import { ProtocolFeature, protocolMax } from "./vsn.js";

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
 * Failure detection (SWIM §4, Lifeguard §IV-A): one round-robin probe per tick, indirect probes
 * through k peers with nacks and a TCP fallback ping when the direct ack is late, and the other
 * side of it all: answering pings and relaying indirect ones. A failed probe makes the target a
 * suspect through {@link Transitions}.
 */
export class Probing {
  readonly #ctx: NodeContext;
  readonly #gossip: Dissemination;
  readonly #transitions: Transitions;
  readonly #acks = new Map<number, AckHandler>();
  #probe: ProbeRound | undefined;
  #seqNo = 0;
  /** A tick arrived while a probe was in flight; it runs when that probe ends. */
  #tickPending = false;
  /** Members whose latest probe by us failed; not asked to help until one of ours succeeds. */
  readonly #unanswered = new Set<string>();
  /**
   * When a datagram last came from each address, by host: every datagram updates it, and a key
   * made of host and port would be a new string each time.
   */
  readonly #heard = new Map<string, Heard>();
  /** Addresses in {@link #heard}. */
  #heardCount = 0;

  constructor(ctx: NodeContext, gossip: Dissemination, transitions: Transitions) {
    this.#ctx = ctx;
    this.#gossip = gossip;
    this.#transitions = transitions;
  }

  /** Ends the probe in flight and forgets every outstanding ack. */
  stop(): void {
    if (this.#probe) this.#endProbe(this.#probe);
    for (const h of this.#acks.values()) this.#ctx.timers.clearTimeout(h.timer);
    this.#acks.clear();
  }

  probeTick(): void {
    // A probe may last until the next tick (a failed one ends at its deadline, one interval after
    // it started) or beyond (stretched by poor local health). One tick is kept and run as soon as
    // the probe ends, as a ticker with a one-slot channel driving a blocking probe loop would
    // (memberlist); dropping it would make every failed probe cost two ticks, and so delay the
    // probes of the other members when many fail at once (a partition).
    if (this.#probe) {
      this.#tickPending = true;
      return;
    }
    this.#transitions.forgetDeparted();
    this.#forgetHeard();
    const target = this.#ctx.table.nextProbeTarget(this.#ctx.name);
    if (target) this.#probeNode(target);
  }

  onPing(from: Address, msg: PingMessage): void {
    const ctx = this.#ctx;
    if (msg.node !== "" && msg.node !== ctx.name) {
      ctx.log.warn("membership: ping for another node", { node: msg.node, from: formatAddress(from) });
      return;
    }
    const replyTo = replyAddress(from, msg.sourceAddr, msg.sourcePort);
    const dest = msg.sourceNode === undefined ? undefined : ctx.table.get(msg.sourceNode);
    this.#gossip.sendPiggybacked(
      replyTo,
      encodeMessage({ type: "ack", seqNo: msg.seqNo, payload: null }),
      dest,
    );
  }

  /**
   * We are the intermediary of someone's indirect probe (docs/wire.md §3.2): ping the target with our
   * own sequence number, relay its ack, and send a nack if asked and the target stays silent.
   */
  onIndirectPing(from: Address, msg: IndirectPingMessage): void {
    const ctx = this.#ctx;
    const target: Address = { host: bytesToIp(msg.target), port: msg.port || ctx.advertise.port };
    const replyTo = replyAddress(from, msg.sourceAddr, msg.sourcePort);
    const seqNo = this.nextSeqNo();
    let nackTimer: TimerHandle | undefined;
    this.expectAck(
      seqNo,
      ctx.config.probeTimeoutMs,
      () => {
        if (nackTimer !== undefined) ctx.clearLoopTimer(nackTimer);
        this.#gossip.sendPacket(replyTo, encodeMessage({ type: "ack", seqNo: msg.seqNo, payload: null }));
      },
      () => {},
    );
    if (msg.nack) {
      nackTimer = ctx.after(ctx.config.probeTimeoutMs, () => {
        this.#gossip.sendPacket(replyTo, encodeMessage({ type: "nack", seqNo: msg.seqNo }));
      });
    }
    this.#gossip.sendPiggybacked(target, encodeMessage(this.ping(seqNo, msg.node)), ctx.table.get(msg.node));
  }

  onAck(seqNo: number): void {
    const handler = this.#acks.get(seqNo);
    if (!handler) return;
    this.#acks.delete(seqNo);
    this.#ctx.timers.clearTimeout(handler.timer);
    handler.onAck();
  }

  onNack(seqNo: number): void {
    this.#acks.get(seqNo)?.onNack();
  }

  /** A ping from us, with our Source fields so that the answer finds us (docs/wire.md §3.1). */
  ping(seqNo: number, node: string): PingMessage {
    return {
      type: "ping",
      seqNo,
      node,
      sourceAddr: this.#ctx.addrBytes,
      sourcePort: this.#ctx.advertise.port,
      sourceNode: this.#ctx.name,
    };
  }

  #probeNode(target: MemberState): void {
    const ctx = this.#ctx;
    const interval = ctx.awareness.scale(ctx.config.probeIntervalMs);
    const timeout = ctx.awareness.scale(ctx.config.probeTimeoutMs);
    const round: ProbeRound = {
      target,
      incarnation: target.incarnation,
      seqNo: this.nextSeqNo(),
      startedAt: ctx.clock.now(),
      expectedNacks: 0,
      nacks: 0,
      fallbackPending: false,
      fallbackAcked: false,
      deadlinePassed: false,
      done: false,
      timers: [],
    };
    this.#probe = round;
    ctx.stats.probes++;
    this.expectAck(
      round.seqNo,
      interval,
      () => this.#finishProbe(round, true),
      () => {
        if (!round.done) round.nacks++;
      },
    );
    const ping = encodeMessage(this.ping(round.seqNo, target.name));
    if (target.status === "suspect" && ctx.config.buddySystem) {
      // Tell a suspect directly that it is suspected so that it can refute at once (docs/wire.md §6.9).
      const suspect: SuspectMessage = {
        type: "suspect",
        incarnation: target.incarnation,
        node: target.name,
        from: ctx.name,
      };
      this.#gossip.sendPacket(target.address, encodeCompound([ping, encodeMessage(suspect)]), target);
    } else {
      this.#gossip.sendPiggybacked(target.address, ping, target);
    }
    round.timers.push(
      ctx.timers.setTimeout(() => {
        ctx.noteDelay(ctx.clock.now() - (round.startedAt + timeout));
        this.#probeIndirectly(round, interval);
      }, timeout),
      ctx.timers.setTimeout(() => {
        ctx.noteDelay(ctx.clock.now() - (round.startedAt + interval));
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
    const ctx = this.#ctx;
    const target = round.target;
    const peers = this.#helpers(target);
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
        sourceAddr: ctx.addrBytes,
        sourcePort: ctx.advertise.port,
        sourceNode: ctx.name,
      };
      ctx.stats.indirectPings++;
      this.#gossip.sendPiggybacked(peer.address, encodeMessage(req), peer);
    }
    if (ctx.config.tcpFallbackPing && protocolMax(target.vsn) >= ProtocolFeature.tcpPing) {
      const remaining = round.startedAt + interval - ctx.clock.now();
      if (remaining <= 0) return;
      round.fallbackPending = true;
      ctx.stats.tcpPings++;
      ctx.stats.streamsOut++;
      const ping = ctx.encodeStream(this.ping(round.seqNo, target.name));
      ctx.stats.bytesOut += ping.length;
      ctx.transport.sendStream(
        target.address,
        ping,
        { timeoutMs: remaining, expectReply: true },
        (err, reply) => {
          if (round.done || ctx.stopped) return;
          round.fallbackPending = false;
          if (!err && reply) round.fallbackAcked = this.#isAckFor(reply, round.seqNo, target.address);
          if (round.deadlinePassed) this.#finishProbe(round, false);
        },
      );
    }
  }

  /**
   * Up to indirectChecks helpers for an indirect probe of `target`, among the members alive in our
   * view. A member that failed our own latest probe is left out, and those we heard from within
   * the last two probe intervals come first: a helper we cannot reach (across a partition) loses
   * the request, and its nack, which cannot come, would count against our own health (Lifeguard
   * §IV-A assumes the helpers work). Members heard from less recently fill the remaining places.
   */
  #helpers(target: MemberState): MemberState[] {
    const ctx = this.#ctx;
    const k = ctx.config.indirectChecks;
    const usable = (s: MemberState) =>
      s !== ctx.self && s !== target && s.status === "alive" && !this.#unanswered.has(s.name);
    const since = ctx.clock.now() - 2 * ctx.config.probeIntervalMs;
    const recent = ctx.table.randomMembers(k, (s) => usable(s) && this.#heardSince(s, since));
    if (recent.length >= k) return recent;
    const rest = ctx.table.randomMembers(k - recent.length, (s) => usable(s) && !recent.includes(s));
    return recent.concat(rest);
  }

  #heardSince(member: MemberState, since: number): boolean {
    const at = heardAt(this.#heard.get(member.address.host), member.address.port);
    return at !== undefined && at >= since;
  }

  /** Drops the senders not heard from within the helpers' window, once they outnumber the members. */
  #forgetHeard(): void {
    if (this.#heardCount <= this.#ctx.table.size) return;
    const since = this.#ctx.clock.now() - 2 * this.#ctx.config.probeIntervalMs;
    for (const [host, first] of this.#heard) {
      let kept: Heard | undefined;
      for (let h: Heard | undefined = first; h !== undefined; h = h.next) {
        if (h.at >= since) kept = { port: h.port, at: h.at, next: kept };
        else this.#heardCount--;
      }
      if (kept === undefined) this.#heard.delete(host);
      else this.#heard.set(host, kept);
    }
  }

  /** Any datagram from `from` shows that the member there can reach us. */
  heardFrom(from: Address): void {
    const now = this.#ctx.clock.now();
    const first = this.#heard.get(from.host);
    for (let h = first; h !== undefined; h = h.next) {
      if (h.port === from.port) {
        h.at = now;
        return;
      }
    }
    this.#heard.set(from.host, { port: from.port, at: now, next: first });
    this.#heardCount++;
  }

  #isAckFor(reply: Uint8Array, seqNo: number, from: Address): boolean {
    try {
      const msg = this.#ctx.decodeStream(reply);
      return msg.type === "ack" && msg.seqNo === seqNo;
    } catch (err) {
      this.#ctx.dropInput(from, err);
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
    const ctx = this.#ctx;
    this.#endProbe(round);
    if (acked || round.fallbackAcked) this.#unanswered.delete(round.target.name);
    else this.#unanswered.add(round.target.name);
    if (acked || round.fallbackAcked) {
      if (round.fallbackAcked && !acked) {
        ctx.log.warn("membership: target answered over TCP only; UDP may be blocked", {
          node: round.target.name,
        });
      }
      ctx.awareness.apply(HealthDelta.probeSucceeded);
      return;
    }
    ctx.stats.probeFailures++;
    if (ctx.lastStallAt >= round.startedAt) {
      // We were stalled while waiting (paused, or an event loop busy elsewhere): the ack may be
      // lost in our own delay. Our health score already paid for the stall; the target is not
      // accused on such evidence, and will be probed again in its turn.
      ctx.stats.probesInconclusive++;
      ctx.log.debug("membership: failed probe during a stall of our own; no accusation", {
        node: round.target.name,
      });
      return;
    }
    if (round.expectedNacks > 0) {
      const missing = Math.max(0, round.expectedNacks - round.nacks);
      ctx.awareness.apply(missing * HealthDelta.missedNack);
    } else {
      ctx.awareness.apply(HealthDelta.probeFailed);
    }
    this.#transitions.onSuspect({
      type: "suspect",
      incarnation: round.incarnation,
      node: round.target.name,
      from: ctx.name,
    });
  }

  #endProbe(round: ProbeRound): void {
    round.done = true;
    for (const t of round.timers) this.#ctx.timers.clearTimeout(t);
    round.timers = [];
    const handler = this.#acks.get(round.seqNo);
    if (handler) {
      this.#ctx.timers.clearTimeout(handler.timer);
      this.#acks.delete(round.seqNo);
    }
    if (this.#probe !== round) return;
    this.#probe = undefined;
    if (this.#tickPending && !this.#ctx.stopped) {
      this.#tickPending = false;
      this.#ctx.after(0, () => this.probeTick());
    }
  }

  /** Runs `onAck` (or `onNack`) when an ack (or nack) with `seqNo` arrives within `timeoutMs`. */
  expectAck(seqNo: number, timeoutMs: number, onAck: () => void, onNack: () => void): void {
    const timer = this.#ctx.timers.setTimeout(() => this.#acks.delete(seqNo), timeoutMs);
    this.#acks.set(seqNo, { onAck, onNack, timer });
  }

  /** One counter shared by probes and relayed probes, wrapping within uint32 (docs/wire.md §3.1). */
  nextSeqNo(): number {
    this.#seqNo = (this.#seqNo + 1) >>> 0;
    return this.#seqNo;
  }
}

/** When a datagram last came from one port of a host; the host's other ports follow. */
interface Heard {
  port: number;
  at: number;
  next: Heard | undefined;
}

function heardAt(first: Heard | undefined, port: number): number | undefined {
  for (let h = first; h !== undefined; h = h.next) if (h.port === port) return h.at;
  return undefined;
}

/** Where to answer a ping: its Source fields when both are set, else the datagram's origin (docs/wire.md §3.1). */
function replyAddress(
  from: Address,
  sourceAddr: Uint8Array | undefined,
  sourcePort: number | undefined,
): Address {
  if (sourceAddr !== undefined && sourceAddr.length > 0 && sourcePort !== undefined && sourcePort !== 0) {
    return addressOf(sourceAddr, sourcePort);
  }
  return from;
}
