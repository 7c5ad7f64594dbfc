import { encodeMessage } from "../../wire/codec.js";
import { bytesToIp } from "../../wire/ip.js";
import type { Address } from "../address.js";
import type { TimerHandle } from "../env.js";
import { errorText, type NodeContext } from "./context.js";
import type { Dissemination } from "./dissemination.js";
import { isGone } from "./members.js";
import type { SerfClock } from "./serf-intent.js";
import {
  decodeSerfQuery,
  decodeSerfQueryResponse,
  encodeSerfQuery,
  encodeSerfQueryResponse,
  filtersSelect,
  INTERNAL_QUERY_PREFIX,
  MAX_QUERY_RESPONSE_BYTES,
  QueryFlag,
  type SerfQuery,
  SerfQueryType,
} from "./serf-query.js";
import { decodeTags } from "./tags.js";

/** Queries remembered for de-duplication, by query time: Serf's QueryBuffer. */
export const QUERY_BUFFER = 512;

/**
 * Answers one internal query (its name starts with `_serf_`) addressed to this node: returns the
 * response payload, or undefined for none. Called synchronously; MUST NOT throw.
 */
export type QueryHandler = (name: string, payload: Uint8Array) => Uint8Array | undefined;

export interface QueryOptions {
  name: string;
  payload: Uint8Array;
  timeoutMs: number;
  /** Each member's response, at most once per member, ours included (from = our name). */
  onResponse: (from: string, payload: Uint8Array) => void;
  /** Once every member counted at the start has answered, or at the timeout. */
  done: (expected: number) => void;
}

interface Pending {
  id: number;
  from: Set<string>;
  expected: number;
  options: QueryOptions;
  timer: TimerHandle | undefined;
}

const NS_PER_MS = 1_000_000n;

/**
 * Serf's queries (docs/wire.md §6.10): a query is gossiped to every member and each member
 * answers the asker directly by UDP. Receiving one, we gossip it on (unless it says not to), and
 * pass `_serf_` queries on directly to members too; we answer those through the
 * {@link QueryHandler} (key rotation), ack when asked, and leave the rest alone: heck runs no
 * handlers for a Serf user's own queries. Asking one, we handle it ourselves first, send it
 * directly to members beside the gossip (a lost copy would otherwise cost a member's answer),
 * and collect one response per member until all members counted at the start have answered or
 * the time is up.
 */
export class Queries {
  readonly #ctx: NodeContext;
  readonly #gossip: Dissemination;
  readonly #clock: SerfClock;
  readonly #handler: QueryHandler | undefined;
  /** Query ids seen, by query time modulo {@link QUERY_BUFFER}. */
  readonly #seen = new Map<number, { ltime: bigint; ids: number[] }>();
  /** Our own queries still collecting, by query time. */
  readonly #pending = new Map<bigint, Pending>();

  constructor(ctx: NodeContext, gossip: Dissemination, clock: SerfClock, handler: QueryHandler | undefined) {
    this.#ctx = ctx;
    this.#gossip = gossip;
    this.#clock = clock;
    this.#handler = handler;
  }

  /** Takes a query or query response; false for any other user message. Never throws. */
  onUserMessage(payload: Uint8Array, from: Address): boolean {
    const type = payload[0];
    if (type !== SerfQueryType.query && type !== SerfQueryType.queryResponse) return false;
    try {
      if (type === SerfQueryType.query) this.#onQuery(payload);
      else this.#onResponse(payload);
    } catch (err) {
      this.#ctx.malformed(from, `serf query: ${errorText(err)}`);
    }
    return true;
  }

  /** Asks every member; see {@link QueryOptions}. */
  query(options: QueryOptions): void {
    const ctx = this.#ctx;
    let expected = 0;
    for (const s of ctx.table.all()) if (!isGone(s.status)) expected++;
    const ltime = this.#clock.queryTime;
    this.#clock.witnessQuery(ltime);
    const id = Math.floor(ctx.rng.next() * 0x7fffffff);
    const query: SerfQuery = {
      ltime,
      id,
      addr: ctx.addrBytes,
      port: ctx.advertise.port,
      sourceNode: ctx.name,
      filters: [],
      flags: 0,
      relayFactor: 0,
      timeoutNs: BigInt(Math.max(1, Math.round(options.timeoutMs))) * NS_PER_MS,
      name: options.name,
      payload: options.payload,
    };
    const pending: Pending = { id, from: new Set(), expected, options, timer: undefined };
    this.#pending.set(ltime, pending);
    pending.timer = ctx.after(options.timeoutMs, () => this.#finish(ltime));
    this.#remember(ltime, id);

    const raw = encodeSerfQuery(query);
    const message = encodeMessage({ type: "user", payload: raw });
    this.#gossip.queue(queryKey(ltime, id), message);
    this.#gossip.sendDirect(message);
    // We are a member too: our own answer counts like anyone's.
    const own = this.#answer(query);
    if (own) this.#collect(ltime, id, ctx.name, own);
  }

  /** Ends every query still collecting. */
  stop(): void {
    for (const ltime of [...this.#pending.keys()]) this.#finish(ltime);
  }

  #onQuery(raw: Uint8Array): void {
    const ctx = this.#ctx;
    const q = decodeSerfQuery(raw);
    this.#clock.witnessQuery(q.ltime);
    const now = this.#clock.queryTime;
    // Too old to tell from a query we have forgotten: dropped, as Serf drops it.
    if (now > BigInt(QUERY_BUFFER) && q.ltime < now - BigInt(QUERY_BUFFER)) return;
    if (!this.#remember(q.ltime, q.id)) return;
    if ((q.flags & QueryFlag.noBroadcast) === 0) {
      const message = encodeMessage({ type: "user", payload: raw });
      this.#gossip.queue(queryKey(q.ltime, q.id), message);
      // Serf gossips a query only retransmitMult * ceil(log10(n + 1)) times in all (twice in a
      // small cluster under the local profile), so a member can miss it until the asker's timeout;
      // key rotation then fails on that member. Internal queries are rare: we pass them on
      // directly too.
      if (q.name.startsWith(INTERNAL_QUERY_PREFIX)) this.#gossip.sendDirect(message);
    }
    if (!filtersSelect(q.filters, ctx.name, decodeTags(ctx.self.meta) ?? {})) return;
    const to = replyAddress(q);
    if (!to) return;
    if ((q.flags & QueryFlag.ack) !== 0) {
      this.#send(to, {
        ltime: q.ltime,
        id: q.id,
        from: ctx.name,
        flags: QueryFlag.ack,
        payload: new Uint8Array(0),
      });
    }
    const answer = this.#answer(q);
    if (answer) this.#send(to, { ltime: q.ltime, id: q.id, from: ctx.name, flags: 0, payload: answer });
  }

  /** Our answer to an internal query, or undefined. */
  #answer(q: SerfQuery): Uint8Array | undefined {
    if (!q.name.startsWith(INTERNAL_QUERY_PREFIX) || !this.#handler) return undefined;
    return this.#handler(q.name, q.payload);
  }

  #send(to: Address, resp: Parameters<typeof encodeSerfQueryResponse>[0]): void {
    const raw = encodeSerfQueryResponse(resp);
    if (raw.length > MAX_QUERY_RESPONSE_BYTES) {
      this.#ctx.log.warn("membership: query response too large, not sent", { bytes: raw.length });
      return;
    }
    // Serf sends responses straight to the asker, without CRC (docs/wire.md §8.11).
    this.#gossip.sendPacket(to, encodeMessage({ type: "user", payload: raw }));
  }

  #onResponse(raw: Uint8Array): void {
    const resp = decodeSerfQueryResponse(raw);
    if ((resp.flags & QueryFlag.ack) !== 0) return;
    this.#collect(resp.ltime, resp.id, resp.from, resp.payload);
  }

  #collect(ltime: bigint, id: number, from: string, payload: Uint8Array): void {
    const pending = this.#pending.get(ltime);
    if (!pending || pending.id !== id || from === "" || pending.from.has(from)) return;
    pending.from.add(from);
    try {
      pending.options.onResponse(from, payload);
    } catch (err) {
      this.#ctx.log.error("membership: query response handler failed", { error: errorText(err) });
    }
    if (pending.from.size >= pending.expected) this.#finish(ltime);
  }

  #finish(ltime: bigint): void {
    const pending = this.#pending.get(ltime);
    if (!pending) return;
    this.#pending.delete(ltime);
    if (pending.timer !== undefined) this.#ctx.clearLoopTimer(pending.timer);
    try {
      pending.options.done(pending.expected);
    } catch (err) {
      this.#ctx.log.error("membership: query completion handler failed", { error: errorText(err) });
    }
  }

  /** Records a query; false if it was seen before. */
  #remember(ltime: bigint, id: number): boolean {
    const slot = Number(ltime % BigInt(QUERY_BUFFER));
    const seen = this.#seen.get(slot);
    if (seen && seen.ltime === ltime) {
      if (seen.ids.includes(id)) return false;
      seen.ids.push(id);
      return true;
    }
    this.#seen.set(slot, { ltime, ids: [id] });
    return true;
  }
}

/** Broadcast-queue key of a query; no member name starts with a NUL byte. */
function queryKey(ltime: bigint, id: number): string {
  return `\u0000serf-query:${ltime}:${id}`;
}

/** Where a query's responses go; undefined when it names no usable address. */
function replyAddress(q: SerfQuery): Address | undefined {
  if (q.port === 0) return undefined;
  // Go may write an IPv4 address in its 16-byte IPv4-mapped form.
  const mapped =
    q.addr.length === 16 &&
    q.addr.subarray(0, 10).every((b) => b === 0) &&
    q.addr[10] === 0xff &&
    q.addr[11] === 0xff;
  try {
    return { host: bytesToIp(mapped ? q.addr.subarray(12) : q.addr), port: q.port };
  } catch {
    return undefined;
  }
}
