import { encodeCompound, encodeMessage } from "../../wire/codec.js";
import { type Address, formatAddress } from "../address.js";
import type { TimerHandle } from "../env.js";
import type { NodeContext } from "./context.js";
import type { Dissemination } from "./dissemination.js";
import { isGone, type MemberState } from "./members.js";
import type { Probing } from "./probing.js";
import type { SerfClock } from "./serf-intent.js";
import type { Transitions } from "./transitions.js";

/** Whom a leave goes to: a member, or a seed address not known as one (name ""). */
interface LeaveTarget {
  address: Address;
  name: string;
  member: MemberState | undefined;
}

/** Broadcast-queue key of our Serf leave intent; no member name starts with a NUL byte. */
const LEAVE_INTENT_KEY = "\u0000serf-leave-intent";

/**
 * A graceful leave that reaches every member before we exit (issue 7, item 4). memberlist only
 * gossips the dead(From = us) with its usual retransmit limit, so under loss a member may miss it
 * until a push-pull. Here every member alive or suspect also gets it directly, in one datagram
 * with Serf's leave intent in front (so that Serf shows "left", docs/wire.md §6.8) and a ping
 * behind: the ack proves the datagram arrived, since the parts of a compound are handled in
 * order. Members that have not acked get the datagram again every probe timeout, until all have
 * acked or the caller's time is up. One datagram per member per round: a large cluster pays N
 * packets, once, when its members answer.
 */
export class Departure {
  readonly #ctx: NodeContext;
  readonly #gossip: Dissemination;
  readonly #transitions: Transitions;
  readonly #probing: Probing;
  readonly #serf: SerfClock;

  constructor(
    ctx: NodeContext,
    gossip: Dissemination,
    transitions: Transitions,
    probing: Probing,
    serf: SerfClock,
  ) {
    this.#ctx = ctx;
    this.#gossip = gossip;
    this.#transitions = transitions;
    this.#probing = probing;
    this.#serf = serf;
  }

  /**
   * Marks us left and tells every member; `done` runs once each has acked, after `timeoutMs`, or
   * at once when nobody is left to tell. `seeds` are the addresses we joined through: one that is
   * no member we know (a leave while the join is still in flight) is told too, with a ping for
   * whoever answers there. MUST be called once, with ctx.leaving just set.
   */
  leave(timeoutMs: number, seeds: readonly Address[], done: () => void): void {
    const ctx = this.#ctx;
    const members = ctx.table.all().filter((s) => s !== ctx.self && !isGone(s.status));
    const known = new Set(ctx.table.all().map((s) => formatAddress(s.address)));
    const targets: LeaveTarget[] = members.map((m) => ({ address: m.address, name: m.name, member: m }));
    for (const seed of seeds) {
      const key = formatAddress(seed);
      if (known.has(key)) continue;
      known.add(key);
      targets.push({ address: seed, name: "", member: undefined });
    }
    const intent = encodeMessage({ type: "user", payload: this.#serf.leaveIntent(ctx.name) });
    const dead = encodeMessage({
      type: "dead",
      incarnation: ctx.self.incarnation,
      node: ctx.name,
      from: ctx.name,
    });
    this.#transitions.setStatus(ctx.self, "left");
    if (targets.length === 0) {
      done();
      return;
    }
    // Gossip carries both too, for members we do not know of yet and in case we exit early.
    this.#gossip.queue(LEAVE_INTENT_KEY, intent);
    this.#gossip.queue(ctx.name, dead);

    const unacked = new Map<number, LeaveTarget>();
    const timers: TimerHandle[] = [];
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      for (const t of timers) ctx.clearLoopTimer(t);
      done();
    };
    for (const target of targets) {
      const seqNo = this.#probing.nextSeqNo();
      unacked.set(seqNo, target);
      this.#probing.expectAck(
        seqNo,
        timeoutMs,
        () => {
          unacked.delete(seqNo);
          if (unacked.size === 0) finish();
        },
        () => {},
      );
    }
    const round = () => {
      if (finished) return;
      for (const [seqNo, target] of unacked) {
        // A ping for node "" is answered by whoever listens there (docs/wire.md §3.1).
        const ping = encodeMessage(this.#probing.ping(seqNo, target.name));
        this.#gossip.sendPacket(target.address, encodeCompound([intent, dead, ping]), target.member);
      }
      timers.push(ctx.after(ctx.config.probeTimeoutMs, round));
    };
    round();
    timers.push(ctx.after(timeoutMs, finish));
  }
}
