import { WireError } from "../../errors.js";
import { MsgpackReader, MsgpackWriter } from "../../wire/msgpack.js";

/**
 * Serf's member intents, the part of Serf's protocol a heck node needs so that Serf shows its
 * graceful leave as "left" rather than "failed" (docs/wire.md §6.4, §6.8). Serf sets "left" only
 * for a member whose leave intent it saw; the intent counts only if its Lamport time is above the
 * last status time Serf holds for that member, which Serf's clock always is, so a leaver takes
 * the highest member clock it has heard from Serf, plus one.
 */

/** First byte of a Serf user message or push-pull user state (docs/wire.md §6.4). */
export const SerfMessageType = {
  leaveIntent: 0,
  joinIntent: 1,
  pushPull: 2,
} as const;

/**
 * The member Lamport time (`LTime`) a Serf leave or join intent, or Serf's push-pull user state,
 * carries; undefined for anything else, malformed input included. Never throws.
 */
export function serfMemberTime(payload: Uint8Array): bigint | undefined {
  const type = payload[0];
  if (
    type !== SerfMessageType.leaveIntent &&
    type !== SerfMessageType.joinIntent &&
    type !== SerfMessageType.pushPull
  )
    return undefined;
  return readTime(payload, "LTime");
}

/** A Serf leave intent for `node` at Lamport time `ltime`: `00` + `{LTime, Node, Prune}` (§6.4). */
export function encodeSerfLeaveIntent(ltime: bigint, node: string): Uint8Array {
  return new MsgpackWriter()
    .raw(Uint8Array.of(SerfMessageType.leaveIntent))
    .mapHeader(3)
    .str("LTime")
    .int(ltime)
    .str("Node")
    .str(node)
    .str("Prune")
    .bool(false)
    .finish();
}

/**
 * The query Lamport time (`QueryLTime`) of Serf's push-pull user state (docs/wire.md §6.6);
 * undefined for anything else, malformed input included. Never throws.
 */
export function serfQueryTime(payload: Uint8Array): bigint | undefined {
  if (payload[0] !== SerfMessageType.pushPull) return undefined;
  return readTime(payload, "QueryLTime");
}

/**
 * The non-negative integer field `key` of the msgpack map after the type byte; undefined when
 * absent, negative or malformed. Never throws.
 */
function readTime(payload: Uint8Array, key: string): bigint | undefined {
  try {
    const r = new MsgpackReader(payload, 1);
    const fields = r.readMapHeader();
    for (let i = 0; i < fields; i++) {
      if (r.readString() !== key) {
        r.skip();
        continue;
      }
      const value = r.readInteger();
      return value >= 0n ? value : undefined;
    }
    return undefined;
  } catch (err) {
    if (err instanceof WireError) return undefined;
    throw err;
  }
}

const MAX_U64 = 2n ** 64n - 1n;

/**
 * The highest Serf member clock heard so far, from intents and push-pull states, and our query
 * clock: a Lamport clock over Serf's queries (docs/wire.md §6.10), which Serf's push-pull state
 * carries too.
 */
export class SerfClock {
  #time = 0n;
  #queryTime = 1n;

  get time(): bigint {
    return this.#time;
  }

  /** The query time our next query takes. */
  get queryTime(): bigint {
    return this.#queryTime;
  }

  /** Looks at a user message or push-pull user state; anything that is not Serf's is ignored. */
  witness(payload: Uint8Array): void {
    const t = serfMemberTime(payload);
    if (t !== undefined && t > this.#time) this.#time = t;
    // Serf takes a peer's query clock minus one from a push-pull, so that its own next query
    // cannot collide with one the peer is still spreading.
    const q = serfQueryTime(payload);
    if (q !== undefined && q > 0n) this.witnessQuery(q - 1n);
  }

  /** A query time seen (a query heard, or our own sent): later queries are later than it. */
  witnessQuery(ltime: bigint): void {
    if (ltime >= this.#queryTime && ltime < MAX_U64) this.#queryTime = ltime + 1n;
  }

  /** Our own leave intent, later than every member status time Serf may hold for us. */
  leaveIntent(node: string): Uint8Array {
    return encodeSerfLeaveIntent(this.#time < MAX_U64 ? this.#time + 1n : MAX_U64, node);
  }
}
