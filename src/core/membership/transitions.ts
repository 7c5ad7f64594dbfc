import { encodeMessage } from "../../wire/codec.js";
import { bytesToIp } from "../../wire/ip.js";
import type { AliveMessage, DeadMessage, SuspectMessage } from "../../wire/messages.js";
import { type Address, formatAddress } from "../address.js";
import { HealthDelta } from "./awareness.js";
import { errorText, type NodeContext } from "./context.js";
import type { Dissemination } from "./dissemination.js";
import {
  bytesEqual,
  deadApplies,
  isGone,
  judgeAlive,
  type MemberState,
  refutingIncarnation,
  suspectApplies,
  viewOf,
} from "./members.js";
import type { MemberEvent, MemberStatus } from "./ports.js";
import { FailedRoster } from "./reconnect.js";
import { expectedConfirmations, Suspicion, suspicionBounds } from "./suspicion.js";
import { acceptableVsn } from "./vsn.js";

/**
 * The address last made from each decoded Addr array. Equal Addr bytes decode to one shared array
 * (MsgpackReader.readSharedBytes), so the members that every table in the process holds for one
 * node share one address, and its text is formatted once: a simulated cluster of a thousand nodes
 * otherwise keeps a million of each. Addresses are never modified, only replaced.
 */
const addressesByAddr = new WeakMap<Uint8Array, Address>();

/** The address `addr` and `port` stand for, the one made last from the same Addr array if any. */
export function addressOf(addr: Uint8Array, port: number): Address {
  const made = addressesByAddr.get(addr);
  if (made !== undefined && made.port === port) return made;
  const address = { host: bytesToIp(addr), port };
  addressesByAddr.set(addr, address);
  return address;
}

/**
 * The member state machine (docs/wire.md §6.2): what an alive, suspect or dead message does to the
 * table, whichever way it arrived (gossip, our own probe, a push-pull merge). Accepted news is
 * queued for dissemination; an accusation about ourselves is refuted. Owns the running
 * suspicions (Lifeguard §IV-B) and the roster of failed members that reconnect draws from.
 */
export class Transitions {
  /** Members declared dead, candidates for Serf's reconnect (docs/wire.md §6.7). */
  readonly failed = new FailedRoster();
  readonly #ctx: NodeContext;
  readonly #gossip: Dissemination;
  readonly #onMemberEvent: ((e: MemberEvent) => void) | undefined;
  readonly #suspicions = new Map<string, Suspicion>();
  /**
   * Members dead or left in our view, the only ones {@link forgetDeparted} can drop: it runs on
   * every probe tick, and a scan of the whole table each time costs a thousand-member node more
   * than anything else it does in a quiet cluster.
   */
  readonly #departed = new Set<MemberState>();
  /** The Vsn and Meta of the member added last, shared with the next one when equal. */
  #lastVsn: Uint8Array = new Uint8Array(0);
  #lastMeta: Uint8Array = new Uint8Array(0);

  constructor(
    ctx: NodeContext,
    gossip: Dissemination,
    onMemberEvent: ((e: MemberEvent) => void) | undefined,
  ) {
    this.#ctx = ctx;
    this.#gossip = gossip;
    this.#onMemberEvent = onMemberEvent;
  }

  /** Cancels every running suspicion. */
  stop(): void {
    for (const s of this.#suspicions.values()) s.cancel();
    this.#suspicions.clear();
  }

  onAlive(msg: AliveMessage): void {
    const ctx = this.#ctx;
    const isSelf = msg.node === ctx.name;
    // Having left, we neither refute nor re-announce ourselves.
    if (isSelf && ctx.leaving) return;
    if (!acceptableVsn(msg.vsn)) {
      ctx.log.debug("membership: alive with an unusable Vsn ignored", { node: msg.node });
      return;
    }
    const known = ctx.table.get(msg.node);
    const address = this.#addressOf(known, msg.addr, msg.port);
    const verdict = judgeAlive(
      known,
      { incarnation: msg.incarnation, address, meta: msg.meta, vsn: msg.vsn },
      isSelf,
      ctx.clock.now(),
      ctx.config.deadNodeReclaimTimeMs,
    );
    switch (verdict) {
      case "ignore":
        return;
      case "conflict":
        ctx.log.warn("membership: conflicting address for node", {
          node: msg.node,
          known: known ? formatAddress(known.address) : undefined,
          claimed: formatAddress(address),
        });
        return;
      case "refute":
        this.refute(msg.incarnation);
        return;
      case "apply":
        break;
    }
    this.#cancelSuspicion(msg.node);
    this.#gossip.queue(msg.node, encodeMessage(msg));
    if (known === undefined) {
      // Members nearly all share one Vsn, and often one Meta: keep one copy of each.
      const vsn = bytesEqual(this.#lastVsn, msg.vsn) ? this.#lastVsn : msg.vsn;
      const meta = bytesEqual(this.#lastMeta, msg.meta) ? this.#lastMeta : msg.meta;
      this.#lastVsn = vsn;
      this.#lastMeta = meta;
      const state: MemberState = {
        name: msg.node,
        address,
        addr: msg.addr,
        meta,
        vsn,
        incarnation: msg.incarnation,
        status: "alive",
        statusSince: ctx.clock.now(),
      };
      ctx.table.add(state);
      this.failed.clear(state.name);
      this.emit(state, "none");
      return;
    }
    const metaChanged = !bytesEqual(known.meta, msg.meta);
    known.address = address;
    known.addr = msg.addr;
    known.meta = msg.meta;
    known.vsn = msg.vsn;
    known.incarnation = msg.incarnation;
    if (known.status !== "alive") this.setStatus(known, "alive");
    else if (metaChanged) this.emit(known, "alive");
  }

  /**
   * The address an alive claims, reusing the known one when the bytes match (the common case,
   * and cheaper than re-formatting). Port 0 stands for our own port (docs/wire.md §7).
   */
  #addressOf(known: MemberState | undefined, addr: Uint8Array, port: number): Address {
    const p = port || this.#ctx.advertise.port;
    if (known !== undefined && bytesEqual(known.addr, addr)) {
      return known.address.port === p ? known.address : { host: known.address.host, port: p };
    }
    return addressOf(addr, p);
  }

  onSuspect(msg: SuspectMessage): void {
    const ctx = this.#ctx;
    const known = ctx.table.get(msg.node);
    if (known === undefined) return;
    if (msg.incarnation < known.incarnation) {
      if (known === ctx.self) this.#answerStaleAccusation(msg.from);
      return;
    }
    // A running suspicion only collects confirmations; a new confirmer is worth re-gossiping so
    // that others shorten their timers too (Lifeguard §IV-B).
    const running = this.#suspicions.get(msg.node);
    if (running) {
      if (running.confirm(msg.from)) this.#spread(msg);
      return;
    }
    if (!suspectApplies(known, msg.incarnation)) return;
    if (known === ctx.self) {
      if (!ctx.leaving) this.refute(msg.incarnation);
      return;
    }
    this.#spread(msg);
    known.incarnation = msg.incarnation;
    this.setStatus(known, "suspect");
    ctx.stats.suspicionsRaised++;
    this.#startSuspicion(known, msg);
  }

  /**
   * Queues a suspect message for gossip; our own (From = us) also goes straight to the members
   * in our view, the accused among them, so that those able to confirm it hear it even when the
   * gossip's few retransmissions land across a partition, and the accused can refute at once.
   */
  #spread(msg: SuspectMessage): void {
    const encoded = encodeMessage(msg);
    this.#gossip.queue(msg.node, encoded);
    if (msg.from === this.#ctx.name) this.#gossip.sendDirect(encoded);
  }

  #startSuspicion(state: MemberState, msg: SuspectMessage): void {
    const ctx = this.#ctx;
    const n = ctx.table.size;
    const since = state.statusSince;
    const suspicion = new Suspicion({
      from: msg.from,
      k: expectedConfirmations(ctx.config.suspicionMult, n),
      bounds: suspicionBounds(ctx.config, n),
      clock: ctx.clock,
      timers: ctx.timers,
      onTimeout: () => {
        this.#suspicions.delete(state.name);
        // Only the suspicion that is still current may kill: a refutation or a newer verdict
        // changed status or statusSince in between.
        if (ctx.stopped || state.status !== "suspect" || state.statusSince !== since) return;
        this.onDead({ type: "dead", incarnation: msg.incarnation, node: state.name, from: ctx.name });
      },
    });
    this.#suspicions.set(state.name, suspicion);
  }

  onDead(msg: DeadMessage): void {
    const ctx = this.#ctx;
    const known = ctx.table.get(msg.node);
    if (!deadApplies(known, msg.incarnation) || known === undefined) return;
    if (known === ctx.self) {
      // Our own graceful leave is applied by the leave itself; any other verdict about us is refuted.
      if (!ctx.leaving) this.refute(msg.incarnation);
      return;
    }
    this.#cancelSuspicion(msg.node);
    this.#gossip.queue(msg.node, encodeMessage(msg));
    known.incarnation = msg.incarnation;
    this.setStatus(known, msg.from === msg.node ? "left" : "dead");
  }

  /**
   * Out-bids an accusation about ourselves with a fresh alive. Having to refute is a sign we may
   * be the slow one, so it also worsens our health score (Lifeguard §IV-A).
   */
  refute(accused: number): void {
    const ctx = this.#ctx;
    ctx.self.incarnation = refutingIncarnation(ctx.self.incarnation, accused);
    ctx.awareness.apply(HealthDelta.refuted);
    ctx.stats.refutations++;
    // The refutation goes as far as the accusation did: directly to the members in our view.
    this.#gossip.sendDirect(this.broadcastAlive(ctx.self));
  }

  /**
   * An accusation older than our incarnation means its sender missed our refutation (lost, or
   * spent by the gossip elsewhere) and its suspicion may still run. Our current alive goes back to
   * the accuser directly: one datagram per accusation received, no incarnation bump.
   */
  #answerStaleAccusation(accuser: string): void {
    const ctx = this.#ctx;
    if (ctx.leaving) return;
    const to = ctx.table.get(accuser);
    if (to === undefined || to === ctx.self || isGone(to.status)) return;
    this.#gossip.sendPacket(to.address, encodeMessage(aliveOf(ctx.self)), to);
  }

  /**
   * Tells the members in our view that we are here, one datagram each (at most DIRECT_FANOUT), as
   * a join completes: the members that joined before us then know us at once instead of after a
   * few rounds of gossip.
   */
  announceSelf(): void {
    const ctx = this.#ctx;
    if (ctx.leaving || ctx.stopped) return;
    this.#gossip.sendDirect(encodeMessage(aliveOf(ctx.self)));
  }

  /**
   * After a stall of ours as long as a probe timeout: a peer's probe may have failed and made us a
   * suspect, and its accusation may never reach us. A fresh incarnation, sent directly and
   * gossiped, out-bids any such accusation before its suspicion runs out; without one it only
   * costs a few datagrams.
   */
  announceAfterStall(): void {
    const ctx = this.#ctx;
    if (ctx.leaving || ctx.stopped) return;
    ctx.self.incarnation = refutingIncarnation(ctx.self.incarnation, ctx.self.incarnation);
    this.#gossip.sendDirect(this.broadcastAlive(ctx.self));
  }

  /** Queues an alive message for `state` and returns it encoded. */
  broadcastAlive(state: MemberState): Uint8Array {
    const encoded = encodeMessage(aliveOf(state));
    this.#gossip.queue(state.name, encoded);
    return encoded;
  }

  setStatus(state: MemberState, status: MemberStatus): void {
    const previous = state.status;
    if (previous === status) return;
    state.status = status;
    state.statusSince = this.#ctx.clock.now();
    if (isGone(status)) this.#departed.add(state);
    else this.#departed.delete(state);
    if (status === "dead") this.failed.failed(state.name, state.address, state.statusSince);
    else this.failed.clear(state.name);
    this.emit(state, previous);
  }

  /** A listener's failure is its own: it must not break the protocol step that emitted. */
  emit(state: MemberState, previous: MemberStatus | "none"): void {
    if (!this.#onMemberEvent) return;
    try {
      this.#onMemberEvent({ member: viewOf(state), previous });
    } catch (err) {
      this.#ctx.log.error("membership: member event listener threw", {
        member: state.name,
        error: errorText(err),
      });
    }
  }

  /** Departed members are forgotten after deadNodeReclaimTime; failed ones stay reconnect candidates. */
  forgetDeparted(): void {
    const ctx = this.#ctx;
    const now = ctx.clock.now();
    const cutoff = ctx.config.deadNodeReclaimTimeMs;
    const due = (s: MemberState) => s !== ctx.self && isGone(s.status) && now - s.statusSince > cutoff;
    let any = false;
    for (const s of this.#departed) {
      if (due(s)) {
        any = true;
        break;
      }
    }
    if (!any) return;
    const dropped = ctx.table.forget(due);
    for (const s of dropped) {
      this.#departed.delete(s);
      this.#cancelSuspicion(s.name);
    }
  }

  #cancelSuspicion(name: string): void {
    const s = this.#suspicions.get(name);
    if (!s) return;
    s.cancel();
    this.#suspicions.delete(name);
  }
}

/** The alive message announcing `state` as it is now. */
function aliveOf(state: MemberState): AliveMessage {
  return {
    type: "alive",
    incarnation: state.incarnation,
    node: state.name,
    addr: state.addr,
    port: state.address.port,
    meta: state.meta,
    vsn: state.vsn,
  };
}
