import { WireLimitError } from "../../errors.js";
import { decodeStreamMessage, encodeStreamMessage } from "../../wire/codec.js";
import type { Message } from "../../wire/messages.js";
import { type Address, formatAddress } from "../address.js";
import type { Clock, Logger, Rng, TimerHandle, Timers } from "../env.js";
import { Awareness, HealthDelta, isStall } from "./awareness.js";
import type { MembershipConfig } from "./config.js";
import type { MemberState, MemberTable } from "./members.js";
import type { MembershipDelegate, MembershipTransport } from "./ports.js";

/** Plain counters, readable at any time. */
export interface SwimStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Undecodable packets, bad compound parts, unreadable streams and replies. */
  malformed: number;
  /**
   * Packets and stream messages refused whole for exceeding a bound: decompressing beyond a
   * packet's worth (wire/codec.ts MAX_PACKET_DECOMPRESSED_BYTES) or beyond maxStreamBytes.
   */
  oversized: number;
  streamsIn: number;
  streamsOut: number;
  probes: number;
  probeFailures: number;
  /** Failed probes that accused nobody because we were stalled ourselves meanwhile. */
  probesInconclusive: number;
  indirectPings: number;
  tcpPings: number;
  suspicionsRaised: number;
  refutations: number;
  /** Fresh alives sent after a stall of ours as long as a probe timeout ({@link NodeContext.noteDelay}). */
  stallAnnouncements: number;
  pushPulls: number;
  gossipPackets: number;
}

export function emptySwimStats(): SwimStats {
  return {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    malformed: 0,
    oversized: 0,
    streamsIn: 0,
    streamsOut: 0,
    probes: 0,
    probeFailures: 0,
    probesInconclusive: 0,
    indirectPings: 0,
    tcpPings: 0,
    suspicionsRaised: 0,
    refutations: 0,
    stallAnnouncements: 0,
    pushPulls: 0,
    gossipPackets: 0,
  };
}

export interface NodeContextOptions {
  name: string;
  advertise: Address;
  addrBytes: Uint8Array;
  config: MembershipConfig;
  clock: Clock;
  rng: Rng;
  timers: Timers;
  log: Logger;
  transport: MembershipTransport;
  delegate: MembershipDelegate | undefined;
  sharesDelegate: ((meta: Uint8Array) => boolean) | undefined;
  table: MemberTable;
  self: MemberState;
}

/**
 * What the parts of one membership node share: who we are, the environment ports, the member
 * table, Lifeguard's health score, the counters, the lifecycle flags and the timers owned by no
 * single protocol step. Each part (probing, transitions, dissemination, push-pull) holds one.
 */
export class NodeContext {
  readonly stats: SwimStats = emptySwimStats();
  readonly name: string;
  readonly advertise: Address;
  /** Our advertised address as Addr/SourceAddr bytes. */
  readonly addrBytes: Uint8Array;
  readonly config: MembershipConfig;
  readonly clock: Clock;
  readonly rng: Rng;
  readonly timers: Timers;
  readonly log: Logger;
  readonly transport: MembershipTransport;
  readonly delegate: MembershipDelegate | undefined;
  /** Whether the delegate's broadcasts go to a member with this meta (SwimOptions.sharesDelegate). */
  readonly sharesDelegate: ((meta: Uint8Array) => boolean) | undefined;
  readonly table: MemberTable;
  readonly self: MemberState;
  readonly awareness: Awareness;
  /** Set once by stop(); every callback that arrives later does nothing. */
  stopped = false;
  /** Set once by leave(): we neither refute nor re-announce ourselves after. */
  leaving = false;
  /** When we last found ourselves stalled ({@link noteDelay}); -Infinity if never. */
  lastStallAt = Number.NEGATIVE_INFINITY;
  /** When we last announced ourselves after a long stall; -Infinity if never. */
  #lastAnnouncedAt = Number.NEGATIVE_INFINITY;
  /** Called after a stall as long as a probe timeout (at most once per probe interval); set by Swim. */
  onLongStall: (() => void) | undefined;
  /** Timers not owned by a probe, an ack handler or a suspicion: ticks, nacks and leave. */
  readonly #loopTimers = new Set<TimerHandle>();

  constructor(options: NodeContextOptions) {
    this.name = options.name;
    this.advertise = options.advertise;
    this.addrBytes = options.addrBytes;
    this.config = options.config;
    this.clock = options.clock;
    this.rng = options.rng;
    this.timers = options.timers;
    this.log = options.log;
    this.transport = options.transport;
    this.delegate = options.delegate;
    this.sharesDelegate = options.sharesDelegate;
    this.table = options.table;
    this.self = options.self;
    this.awareness = new Awareness(options.config.awarenessMaxMultiplier);
  }

  /**
   * A delay of our own: the event loop's, reported by the shell, or a timer of ours that fired
   * this late. A stall (half a probe timeout or more) worsens our health score (once per probe
   * interval at most), which stretches our own probe timeouts (Lifeguard §IV-A), and marks the
   * time: a probe that failed around it says more about us than about the target, so it accuses
   * nobody. A stall as long as a probe timeout may have failed peers' probes of us, and the
   * accusation sent to us meanwhile may be lost (a full socket buffer), so we announce ourselves
   * afresh at once ({@link onLongStall}) instead of waiting to hear of it.
   */
  noteDelay(delayMs: number): void {
    if (!isStall(delayMs, this.config.probeTimeoutMs)) return;
    const now = this.clock.now();
    // One step of the score per probe interval at most: a stall is reported by several timers
    // and samples at once, and a process busy for a while should back off, not jump to the cap.
    if (now - this.lastStallAt >= this.config.probeIntervalMs) this.awareness.apply(HealthDelta.stalled);
    this.lastStallAt = now;
    if (delayMs >= this.config.probeTimeoutMs && now - this.#lastAnnouncedAt >= this.config.probeIntervalMs) {
      this.#lastAnnouncedAt = now;
      this.stats.stallAnnouncements++;
      this.onLongStall?.();
    }
  }

  /** A one-shot timer that stop() clears and that does nothing once stopped. */
  after(delayMs: number, fn: () => void): TimerHandle {
    const handle: TimerHandle = this.timers.setTimeout(() => {
      this.#loopTimers.delete(handle);
      if (!this.stopped) fn();
    }, delayMs);
    this.#loopTimers.add(handle);
    return handle;
  }

  clearLoopTimer(handle: TimerHandle): void {
    this.timers.clearTimeout(handle);
    this.#loopTimers.delete(handle);
  }

  /** Clears every timer armed with {@link after}. */
  clearLoopTimers(): void {
    for (const t of this.#loopTimers) this.timers.clearTimeout(t);
    this.#loopTimers.clear();
  }

  encodeStream(msg: Message): Uint8Array {
    return encodeStreamMessage(msg, { compress: this.config.compressStreams });
  }

  malformed(from: Address, error: string): void {
    this.stats.malformed++;
    this.log.debug("membership: malformed input dropped", { from: formatAddress(from), error });
  }

  /** Bad peer input caught on its way in: a refusal for a bound exceeded, else malformed. */
  dropInput(from: Address, err: unknown): void {
    if (err instanceof WireLimitError) {
      this.stats.oversized++;
      this.log.debug("membership: oversized input refused", {
        from: formatAddress(from),
        error: err.message,
      });
      return;
    }
    this.malformed(from, errorText(err));
  }

  /** Decodes a stream message within maxStreamBytes. Throws WireError. */
  decodeStream(data: Uint8Array): Message {
    return decodeStreamMessage(data, { maxDecompressedBytes: this.config.maxStreamBytes });
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
