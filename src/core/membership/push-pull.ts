import type {
  AliveMessage,
  DeadMessage,
  NodeStateCode,
  PushNodeState,
  SuspectMessage,
} from "../../wire/messages.js";
import type { MemberStatus } from "./ports.js";

/**
 * Push-pull anti-entropy (docs/wire.md §3.5, §5, §6.7): a periodic full state exchange over TCP that
 * repairs whatever gossip lost, and the join handshake.
 */

/** Above this many members the push-pull interval grows, so cluster-wide TCP load stays flat. */
export const PUSH_PULL_SCALE_THRESHOLD = 32;

/** interval * (ceil(log2(n) - log2(32)) + 1) above 32 members, the interval itself up to 32. */
export function pushPullIntervalMs(intervalMs: number, clusterSize: number): number {
  if (clusterSize <= PUSH_PULL_SCALE_THRESHOLD) return intervalMs;
  const multiplier = Math.ceil(Math.log2(clusterSize) - Math.log2(PUSH_PULL_SCALE_THRESHOLD)) + 1;
  return multiplier * intervalMs;
}

export const stateCodeOf: Readonly<Record<MemberStatus, NodeStateCode>> = {
  alive: 0,
  suspect: 1,
  dead: 2,
  left: 3,
};

/**
 * How a remote node state is merged (docs/wire.md §5): alive as an alive message, left as a dead with
 * From = Name, and dead or suspect only as a suspicion raised by us. A peer's "dead" never kills a
 * node directly: the accused gets the chance to refute through the ordinary suspicion path.
 * Undefined for an unknown state code.
 */
export function mergeAsMessage(
  state: PushNodeState,
  localName: string,
): AliveMessage | SuspectMessage | DeadMessage | undefined {
  switch (state.state) {
    case 0:
      return {
        type: "alive",
        incarnation: state.incarnation,
        node: state.name,
        addr: state.addr,
        port: state.port,
        meta: state.meta,
        vsn: state.vsn,
      };
    case 3:
      return { type: "dead", incarnation: state.incarnation, node: state.name, from: state.name };
    case 1:
    case 2:
      return { type: "suspect", incarnation: state.incarnation, node: state.name, from: localName };
    default:
      return undefined;
  }
}
