import type { Address } from "../address.js";

/**
 * What the membership core needs from a network. Payloads are whole memberlist messages (after
 * compound/CRC/compress framing, before encryption): the adapter adds and strips encryption and
 * the TCP encrypt frame, nothing else.
 */
export interface MembershipTransport {
  /** Fire-and-forget datagram. */
  sendPacket(to: Address, data: Uint8Array): void;
  /**
   * Opens a stream to `to`, writes one message and, when `expectReply`, reads exactly one
   * message back (delimited with the codec's `streamMessageLength`). Without a reply, the stream
   * is done once the peer has read the message and closed its side. `done` is called once, with
   * an error on connect failure, timeout or a malformed reply.
   */
  sendStream(
    to: Address,
    data: Uint8Array,
    options: { timeoutMs: number; expectReply: boolean },
    done: (err: Error | null, reply?: Uint8Array) => void,
  ): void;
}

/**
 * The hooks a user of the membership layer (heck's state replication, or Serf for a Serf node)
 * plugs in, as memberlist's Delegate. All calls are synchronous and MUST NOT throw; bad remote
 * bytes are the delegate's to count and drop.
 */
export interface MembershipDelegate {
  /** A user message (type 8) arrived by packet or stream. */
  notifyUserMessage(payload: Uint8Array, from: Address | undefined): void;
  /**
   * Piggyback user broadcasts for a packet with `limit` bytes of room left; each returned payload
   * costs `overhead` bytes of framing on top of its length. Returns payloads without the type byte.
   */
  getBroadcasts(overhead: number, limit: number): Uint8Array[];
  /** This node's user state for a push-pull (`join` on join exchanges). */
  localState(join: boolean): Uint8Array;
  /** A peer's user state from a push-pull. */
  mergeRemoteState(state: Uint8Array, join: boolean): void;
}

export type MemberStatus = "alive" | "suspect" | "dead" | "left";

/** Read-only view of one member, as the agent and API see it. */
export interface MemberView {
  name: string;
  address: Address;
  status: MemberStatus;
  incarnation: number;
  meta: Uint8Array;
  /** Clock time of the last status change. */
  statusSince: number;
}

export interface MemberEvent {
  member: MemberView;
  previous: MemberStatus | "none";
}
