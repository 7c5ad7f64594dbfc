import { ConfigError } from "../../errors.js";
import { MAX_STREAM_BYTES } from "../../wire/codec.js";

/**
 * Membership timing, one place, with memberlist's three presets (DefaultLANConfig, DefaultWANConfig,
 * DefaultLocalConfig). Units are in the names. See docs/wire.md §6.9.
 */
export interface MembershipConfig {
  /** Time between failure-detection probes of one random member. @default 1000 (lan) */
  probeIntervalMs: number;
  /** How long to wait for a direct ack before asking others to probe indirectly. Should sit near the network's 99th percentile RTT. @default 500 (lan) */
  probeTimeoutMs: number;
  /** Peers asked to ping a silent target on our behalf (ping-req fan-out k). @default 3 (lan) */
  indirectChecks: number;
  /** Suspect a node for suspicionMult * max(1, log10(n)) * probeInterval before declaring it dead. @default 4 (lan) */
  suspicionMult: number;
  /** Upper bound of the suspicion timeout, as a multiple of the lower bound; shrinks with independent confirmations (Lifeguard). @default 6 */
  suspicionMaxTimeoutMult: number;
  /** Time between gossip rounds of piggybacked broadcasts. @default 200 (lan) */
  gossipIntervalMs: number;
  /** Random members each gossip round is sent to. @default 3 (lan) */
  gossipNodes: number;
  /** Each broadcast is retransmitted retransmitMult * ceil(log10(n+1)) times. @default 4 (lan) */
  retransmitMult: number;
  /** Full state exchange with one random member over TCP; 0 disables. Scaled up above 32 nodes. @default 30000 (lan) */
  pushPullIntervalMs: number;
  /** Keep gossiping to a dead node this long so that it can learn it was declared dead and refute. @default 30000 (lan) */
  gossipToTheDeadTimeMs: number;
  /** Dead and left members are forgotten after this long. @default 30000 */
  deadNodeReclaimTimeMs: number;
  /** Connect-and-exchange deadline for TCP streams (push-pull, fallback ping). @default 10000 (lan) */
  tcpTimeoutMs: number;
  /** Lifeguard local health: probe interval and timeout scale by (score + 1), score < this; 1 turns it off. @default 8 */
  awarenessMaxMultiplier: number;
  /**
   * Lifeguard's buddy system: a probe of a suspect carries the suspicion, so that the suspect
   * learns of it at once and can refute. @default true
   */
  buddySystem: boolean;
  /** Largest datagram heck assembles; memberlist's UDPBufferSize. @default 1400 */
  udpBufferSize: number;
  /** Send a TCP ping alongside indirect pings when a UDP probe times out (protocol >= 3). @default true */
  tcpFallbackPing: boolean;
  /**
   * Serf's reconnect (docs/wire.md §6.7): this often, with probability failed / live members, push-pull
   * join a random failed member, so that halves of a healed partition find each other again after
   * both have forgotten the other's dead entries. 0 disables. Half the push-pull interval in
   * every profile (Serf's is 30 s), so that the halves of a healed partition find each other
   * within one push-pull interval. @default 15000 (lan)
   */
  reconnectIntervalMs: number;
  /** Failed members stay reconnect candidates this long after they were declared dead. @default 86400000 (24 h, Serf's reconnect_timeout) */
  reconnectTimeoutMs: number;
  /** LZW-compress stream messages, unconditionally as Serf does (docs/wire.md §4.3). @default true */
  compressStreams: boolean;
  /**
   * Largest stream message read, on the wire and after decompression; a larger one is refused
   * and counted. It must hold a push-pull of every member plus the state digest, and one chunk of
   * the state exchange (at most 1 MiB, which LZW may grow by half). A small cap bounds the memory
   * a hostile peer can pin per stream; memberlist's own bound is 20 MiB (docs/wire.md §4.4).
   * @default 4194304 (4 MiB)
   */
  maxStreamBytes: number;
}

export type ProfileName = "lan" | "wan" | "local";

const lan: MembershipConfig = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  retransmitMult: 4,
  pushPullIntervalMs: 30_000,
  gossipToTheDeadTimeMs: 30_000,
  deadNodeReclaimTimeMs: 30_000,
  tcpTimeoutMs: 10_000,
  awarenessMaxMultiplier: 8,
  buddySystem: true,
  udpBufferSize: 1400,
  tcpFallbackPing: true,
  reconnectIntervalMs: 15_000,
  reconnectTimeoutMs: 86_400_000,
  compressStreams: true,
  maxStreamBytes: 4 * 1024 * 1024,
};

const wan: MembershipConfig = {
  ...lan,
  probeIntervalMs: 5000,
  probeTimeoutMs: 3000,
  suspicionMult: 6,
  gossipIntervalMs: 500,
  gossipNodes: 4,
  pushPullIntervalMs: 60_000,
  gossipToTheDeadTimeMs: 60_000,
  deadNodeReclaimTimeMs: 60_000,
  tcpTimeoutMs: 30_000,
  reconnectIntervalMs: 30_000,
};

const local: MembershipConfig = {
  ...lan,
  probeIntervalMs: 1000,
  probeTimeoutMs: 200,
  indirectChecks: 1,
  suspicionMult: 3,
  gossipIntervalMs: 100,
  retransmitMult: 2,
  pushPullIntervalMs: 15_000,
  gossipToTheDeadTimeMs: 15_000,
  deadNodeReclaimTimeMs: 15_000,
  tcpTimeoutMs: 1000,
  reconnectIntervalMs: 7_500,
};

export const PROFILES: Readonly<Record<ProfileName, Readonly<MembershipConfig>>> = { lan, wan, local };

export function profile(name: ProfileName, overrides: Partial<MembershipConfig> = {}): MembershipConfig {
  return { ...PROFILES[name], ...overrides };
}

/**
 * `config` with Lifeguard's three parts turned off (SWIM as published, for comparison; Dadgar et
 * al., "Lifeguard", §IV): no local health multiplier (awarenessMaxMultiplier 1, so the probe
 * interval and timeout never stretch), no dynamic suspicion timeout (suspicionMaxTimeoutMult 1:
 * every suspicion lasts the SWIM timeout, confirmations or not), and no buddy system.
 */
export function withoutLifeguard(config: MembershipConfig): MembershipConfig {
  return { ...config, awarenessMaxMultiplier: 1, suspicionMaxTimeoutMult: 1, buddySystem: false };
}

/**
 * Checks a config once at start; throws ConfigError naming the first bad field. Every duration
 * must be positive except the intervals where 0 means "disabled".
 */
export function validateMembershipConfig(config: MembershipConfig): void {
  const positive: Array<keyof MembershipConfig> = [
    "probeIntervalMs",
    "probeTimeoutMs",
    "suspicionMult",
    "suspicionMaxTimeoutMult",
    "gossipIntervalMs",
    "retransmitMult",
    "tcpTimeoutMs",
    "awarenessMaxMultiplier",
  ];
  const nonNegative: Array<keyof MembershipConfig> = [
    "indirectChecks",
    "gossipNodes",
    "pushPullIntervalMs",
    "gossipToTheDeadTimeMs",
    "deadNodeReclaimTimeMs",
    "reconnectIntervalMs",
    "reconnectTimeoutMs",
  ];
  for (const field of positive) {
    const v = config[field];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      throw new ConfigError(`membership.${field} must be a positive number, got ${String(v)}`);
    }
  }
  for (const field of nonNegative) {
    const v = config[field];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new ConfigError(`membership.${field} must be a non-negative number, got ${String(v)}`);
    }
  }
  if (config.probeTimeoutMs > config.probeIntervalMs) {
    throw new ConfigError("membership.probeTimeoutMs must not exceed membership.probeIntervalMs");
  }
  if (
    !Number.isInteger(config.maxStreamBytes) ||
    config.maxStreamBytes < 65_536 ||
    config.maxStreamBytes > MAX_STREAM_BYTES
  ) {
    throw new ConfigError(
      `membership.maxStreamBytes must be an integer in 65536..${MAX_STREAM_BYTES}, got ${config.maxStreamBytes}`,
    );
  }
  // Room for the compound header, one part length and a useful message (docs/wire.md §4.2).
  if (!Number.isInteger(config.udpBufferSize) || config.udpBufferSize < 64 || config.udpBufferSize > 65_507) {
    throw new ConfigError(
      `membership.udpBufferSize must be an integer in 64..65507, got ${config.udpBufferSize}`,
    );
  }
}
