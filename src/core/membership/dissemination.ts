import {
  encodeCompound,
  encodeCompoundWithCrc,
  encodeMessage,
  MAX_COMPOUND_PARTS,
  withCrc,
} from "../../wire/codec.js";
import type { Address } from "../address.js";
import { BroadcastQueue, retransmitLimit } from "./broadcast-queue.js";
import type { NodeContext } from "./context.js";
import { isGone, type MemberState } from "./members.js";
import { ProtocolFeature, protocolMax } from "./vsn.js";

/** `07` + part count in front of a compound (docs/wire.md §4.2). */
const COMPOUND_HEADER_BYTES = 2;
/** Each compound part costs a big-endian uint16 length. */
const COMPOUND_PART_BYTES = 2;
/** `0c` + CRC-32 in front of a packet for a peer with PMax >= 5 (docs/wire.md §4.5). */
const CRC_HEADER_BYTES = 5;
/** A user payload travels behind its `08` type byte (docs/wire.md §3.6). */
const USER_TYPE_BYTES = 1;
/**
 * Members a node's own accusation or confirmation goes to directly, beside the gossip: all of
 * them in a small cluster, a bounded random sample in a large one.
 */
export const DIRECT_FANOUT = 16;

/**
 * Epidemic dissemination (SWIM §4.1): news about members waits in the broadcast queue and leaves
 * piggybacked on probes and acks, or in the gossip rounds to a few random members, each message
 * until its retransmit limit. Also the one way out for datagrams, which adds the CRC header a
 * peer expects.
 */
export class Dissemination {
  readonly #ctx: NodeContext;
  readonly #broadcasts: BroadcastQueue;

  constructor(ctx: NodeContext) {
    this.#ctx = ctx;
    this.#broadcasts = new BroadcastQueue(() => retransmitLimit(ctx.config.retransmitMult, ctx.table.size));
  }

  /** Newer news about a node replaces older queued news about it (docs/wire.md §6.9). */
  queue(node: string, payload: Uint8Array, onDone?: () => void): void {
    this.#broadcasts.queue(onDone === undefined ? { key: node, payload } : { key: node, payload, onDone });
  }

  /**
   * Sends `message` at once, one datagram each, to up to {@link DIRECT_FANOUT} random members
   * alive or suspect in our view other than ourselves. Used for our own accusations,
   * confirmations and refutations: the gossip alone spends its few retransmissions on random
   * members, and when part of the cluster is unreachable (a partition) the members that could
   * confirm, or the accused, may never hear them (docs/membership.md, partition recognition).
   */
  sendDirect(message: Uint8Array): void {
    const ctx = this.#ctx;
    const targets = ctx.table.randomMembers(DIRECT_FANOUT, (s) => s !== ctx.self && !isGone(s.status));
    for (const target of targets) this.sendPacket(target.address, message, target);
  }

  /** Membership broadcasts waiting for their retransmissions. */
  pending(): number {
    return this.#broadcasts.size();
  }

  /** Drops every queued broadcast. */
  reset(): void {
    this.#broadcasts.reset();
  }

  /**
   * Sends queued broadcasts to gossipNodes random members. Dead and left members stay targets
   * for gossipToTheDeadTime so that one that was wrongly declared dead hears it and refutes
   * (docs/wire.md §6.2). Each target gets its own packet, drawn afresh from the queue.
   */
  gossipTick(): void {
    const ctx = this.#ctx;
    const now = ctx.clock.now();
    const targets = ctx.table.randomMembers(
      ctx.config.gossipNodes,
      (s) => s !== ctx.self && (!isGone(s.status) || now - s.statusSince <= ctx.config.gossipToTheDeadTimeMs),
    );
    for (const target of targets) {
      const room = ctx.config.udpBufferSize - COMPOUND_HEADER_BYTES - this.#crcBytes(target);
      const parts = this.#takeBroadcasts(room, MAX_COMPOUND_PARTS, target);
      if (parts.length === 0) return;
      ctx.stats.gossipPackets++;
      this.#sendParts(target.address, parts, target);
    }
  }

  /**
   * Membership broadcasts first, then the delegate's user payloads (as type-8 messages) in the
   * room left, at most `maxParts` in all.
   */
  #takeBroadcasts(room: number, maxParts: number, dest: MemberState | undefined): Uint8Array[] {
    const parts = this.#broadcasts.take(COMPOUND_PART_BYTES, room, maxParts);
    const delegate = this.#ctx.delegate;
    if (!delegate || parts.length >= maxParts) return parts;
    const shares = this.#ctx.sharesDelegate;
    if (dest && shares && !shares(dest.meta)) return parts;
    let used = 0;
    for (const p of parts) used += p.length + COMPOUND_PART_BYTES;
    const left = room - used;
    if (left <= COMPOUND_PART_BYTES + USER_TYPE_BYTES) return parts;
    const user = delegate.getBroadcasts(COMPOUND_PART_BYTES + USER_TYPE_BYTES, left);
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
      this.#ctx.log.debug("membership: user broadcasts that did not fit were dropped", { dropped });
    return parts;
  }

  /** Sends `message` with as many queued broadcasts as fit beside it (docs/wire.md §4.1 step 1). */
  sendPiggybacked(to: Address, message: Uint8Array, dest: MemberState | undefined): void {
    const room =
      this.#ctx.config.udpBufferSize - message.length - COMPOUND_HEADER_BYTES - this.#crcBytes(dest);
    const extra = room > 0 ? this.#takeBroadcasts(room, MAX_COMPOUND_PARTS - 1, dest) : [];
    if (extra.length === 0) {
      this.sendPacket(to, message, dest);
      return;
    }
    extra.unshift(message);
    this.#sendParts(to, extra, dest);
  }

  /** One message as it is, several as a compound; framed as {@link sendPacket} frames. */
  #sendParts(to: Address, parts: Uint8Array[], dest: MemberState | undefined): void {
    if (parts.length === 1) {
      this.sendPacket(to, parts[0] as Uint8Array, dest);
      return;
    }
    const framed = this.#crcBytes(dest) > 0 ? encodeCompoundWithCrc(parts) : encodeCompound(parts);
    this.#ctx.stats.packetsOut++;
    this.#ctx.stats.bytesOut += framed.length;
    this.#ctx.transport.sendPacket(to, framed);
  }

  /** Adds the CRC header for a known destination that checks it (PMax >= 5, docs/wire.md §4.5). */
  sendPacket(to: Address, packet: Uint8Array, dest?: MemberState): void {
    const framed = this.#crcBytes(dest) > 0 ? withCrc(packet) : packet;
    this.#ctx.stats.packetsOut++;
    this.#ctx.stats.bytesOut += framed.length;
    this.#ctx.transport.sendPacket(to, framed);
  }

  /** Room the CRC header will take in front of a packet to `dest` (docs/wire.md §4.5). */
  #crcBytes(dest: MemberState | undefined): number {
    return dest !== undefined && protocolMax(dest.vsn) >= ProtocolFeature.crc ? CRC_HEADER_BYTES : 0;
  }
}
