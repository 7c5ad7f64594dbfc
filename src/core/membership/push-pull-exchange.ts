import type { Message, PushNodeState, PushPullMessage } from "../../wire/messages.js";
import type { Address } from "../address.js";
import { randomInt } from "../env.js";
import { errorText, type NodeContext } from "./context.js";
import { mergeAsMessage, stateCodeOf } from "./push-pull.js";
import { reconnectProbability } from "./reconnect.js";
import type { SerfClock } from "./serf-intent.js";
import type { Transitions } from "./transitions.js";
import { incompatibility } from "./vsn.js";

/**
 * Anti-entropy over streams (docs/wire.md §3.5, §5, §6.7): the full state exchange with a random
 * member every push-pull interval, the join exchange with seeds, the answer to a peer's
 * exchange, and Serf's reconnect, a join exchange with a member we declared dead so that the two
 * halves of a healed partition find each other.
 */
export class PushPullExchange {
  readonly #ctx: NodeContext;
  readonly #transitions: Transitions;
  readonly #serf: SerfClock;

  constructor(ctx: NodeContext, transitions: Transitions, serf: SerfClock) {
    this.#ctx = ctx;
    this.#transitions = transitions;
    this.#serf = serf;
  }

  pushPullTick(): void {
    const ctx = this.#ctx;
    const [peer] = ctx.table.randomMembers(1, (s) => s !== ctx.self && s.status === "alive");
    if (!peer) return;
    this.pushPullWith(peer.address, false, (err) => {
      if (err) ctx.log.debug("membership: push-pull failed", { peer: peer.name, error: err.message });
    });
  }

  /** With probability failed / live, a join exchange with one random failed member (docs/wire.md §6.7). */
  reconnectTick(aliveCount: number): void {
    const ctx = this.#ctx;
    const failed = this.#transitions.failed;
    const candidates = failed.expire(ctx.clock.now(), ctx.config.reconnectTimeoutMs);
    if (candidates === 0) return;
    if (ctx.rng.next() >= reconnectProbability(candidates, aliveCount)) return;
    const pick = failed.at(randomInt(ctx.rng, candidates));
    if (!pick) return;
    this.pushPullWith(pick.address, true, (err) => {
      if (err) ctx.log.debug("membership: reconnect failed", { peer: pick.name, error: err.message });
    });
  }

  /**
   * The listener's side: answers with its state first and merges the peer's after (docs/wire.md §4.7),
   * so the reply never contains the joiner. May throw on bad peer input.
   */
  answer(msg: PushPullMessage): Uint8Array {
    const ctx = this.#ctx;
    ctx.stats.pushPulls++;
    const reply = ctx.encodeStream(this.#localPushPull(msg.join));
    const refusal = this.#mergeRemote(msg);
    if (refusal) ctx.log.warn("membership: push-pull merge refused", { reason: refusal });
    return reply;
  }

  pushPullWith(to: Address, join: boolean, done: (err: Error | null) => void): void {
    const ctx = this.#ctx;
    const request = ctx.encodeStream(this.#localPushPull(join));
    ctx.stats.streamsOut++;
    ctx.stats.pushPulls++;
    ctx.stats.bytesOut += request.length;
    ctx.transport.sendStream(
      to,
      request,
      { timeoutMs: ctx.config.tcpTimeoutMs, expectReply: true },
      (err, reply) => {
        if (ctx.stopped) {
          done(new Error("membership stopped"));
          return;
        }
        if (err || !reply) {
          done(err ?? new Error("no reply"));
          return;
        }
        ctx.stats.bytesIn += reply.length;
        let msg: Message;
        try {
          msg = ctx.decodeStream(reply);
        } catch (e) {
          ctx.dropInput(to, e);
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
          ctx.malformed(to, errorText(e));
          refusal = errorText(e);
        }
        done(refusal === undefined ? null : new Error(refusal));
      },
    );
  }

  #localPushPull(join: boolean): PushPullMessage {
    const ctx = this.#ctx;
    const nodes: PushNodeState[] = ctx.table.all().map((s) => ({
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
      userState: ctx.delegate?.localState(join) ?? new Uint8Array(0),
    };
  }

  /**
   * Merges a peer's push-pull state (docs/wire.md §5) after memberlist's protocol check over every
   * alive node, ours and theirs. Returns the refusal reason, or undefined when merged.
   */
  #mergeRemote(msg: PushPullMessage): string | undefined {
    const ctx = this.#ctx;
    const alive = [
      ...msg.nodes.filter((s) => s.state === 0),
      ...ctx.table.all().filter((s) => s.status === "alive"),
    ];
    const refusal = incompatibility(alive);
    if (refusal) return refusal;
    for (const state of msg.nodes) {
      const as = mergeAsMessage(state, ctx.name);
      if (as === undefined) continue;
      // One bad node state (an address of the wrong length) must not stop the rest of the merge.
      try {
        if (as.type === "alive") this.#transitions.onAlive(as);
        else if (as.type === "suspect") this.#transitions.onSuspect(as);
        else this.#transitions.onDead(as);
      } catch (err) {
        ctx.log.debug("membership: push-pull node state skipped", {
          node: state.name,
          error: errorText(err),
        });
      }
    }
    if (msg.userState.length > 0) {
      // A Serf peer's state carries its member clock (docs/wire.md §6.6).
      this.#serf.witness(msg.userState);
      ctx.delegate?.mergeRemoteState(msg.userState, msg.join);
    }
    return undefined;
  }
}
