import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { PROBE_ERROR_KINDS } from "../core/checks/probe-error.js";
import type { MemberStatus } from "../core/membership/ports.js";
import type { HealthStatus } from "../core/state/types.js";

export type ProbeResult = "success" | "failure";
/** `in` counts what this node received, `out` what it sent. */
export type GossipDirection = "in" | "out";
/**
 * Why gossip input or output was refused at a bound: too many inbound or outbound streams open,
 * a stream beyond its byte cap, a stream past its deadline, a packet or stream message that
 * decompresses beyond its bound.
 */
export type RefusalReason =
  | "inbound_streams"
  | "outbound_streams"
  | "stream_too_large"
  | "stream_deadline"
  | "decompressed_too_large";
export const REFUSAL_REASONS: readonly RefusalReason[] = [
  "inbound_streams",
  "outbound_streams",
  "stream_too_large",
  "stream_deadline",
  "decompressed_too_large",
];

/** The metrics a node exports on `GET /metrics`; the agent updates them, the API only reads. */
export interface HeckMetrics {
  /** Own registry: several agents may share one process (tests, `heck demo` in process). */
  readonly registry: Registry;
  /** Members by status in this node's view, self included. */
  readonly members: Gauge<"status">;
  readonly probes: Counter<"result">;
  readonly probeDuration: Histogram;
  /** How late probes started after they were due (waits for a free probe slot included). */
  readonly probeLateness: Histogram;
  /** Live origins this node owns and probes. */
  readonly ownedOrigins: Gauge;
  /** Live origins in the catalog (cluster-wide, this node's view). */
  readonly origins: Gauge;
  readonly gossipMessages: Counter<"direction">;
  readonly gossipBytes: Counter<"direction">;
  readonly malformedPackets: Counter;
  readonly refused: Counter<"reason">;
  readonly stateSyncBytes: Counter<"direction">;
  readonly stateSessions: Counter<"direction">;
  readonly stateChunkFailures: Counter<"outcome">;
  readonly stateRefusedStamps: Counter;
  readonly stateTombstones: Gauge;
  readonly stateCollected: Counter;
  readonly stateGossipQueue: Gauge;
  readonly confirmations: Counter<"outcome">;
  readonly stateDroppedDeltas: Counter;
  /** Origins by health status in this node's view; counted when scraped (see MetricSources). */
  readonly originsByStatus: Gauge<"status">;
  /** Status changes that this node's own probes made. */
  readonly transitions: Counter<"from" | "to">;
  readonly probeErrors: Counter<"kind">;
  readonly stateRefusedWrites: Counter;
  readonly membershipQueue: Gauge;
  readonly membershipPushPulls: Counter;
  readonly membershipSuspicions: Counter;
  readonly membershipRefutations: Counter;
  readonly healthScore: Gauge;
}

/** Figures the registry reads from the node when it is scraped, not on a timer. */
export interface MetricSources {
  /** Origins by health status in this node's view; may be a few seconds old. */
  originsByStatus?(): Record<HealthStatus, number> | undefined;
}

/**
 * prom-client's default metrics that `promtool check metrics` objects to: gauges named `_total`
 * (a suffix reserved for counters). Each is the sum over the `type` label of the gauge of the same
 * name without `_total` (`nodejs_active_handles{type}`), which stays.
 */
const LEFT_OUT_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

const MEMBER_STATUSES: readonly MemberStatus[] = ["alive", "suspect", "dead", "left"];
const PROBE_RESULTS: readonly ProbeResult[] = ["success", "failure"];
const DIRECTIONS: readonly GossipDirection[] = ["in", "out"];
const HEALTH_STATUSES: readonly HealthStatus[] = ["healthy", "unhealthy", "unknown"];
/** The transitions a probe can make: the first verdict, and a flip either way. */
const TRANSITIONS: ReadonlyArray<{ from: HealthStatus; to: HealthStatus }> = [
  { from: "unknown", to: "healthy" },
  { from: "unknown", to: "unhealthy" },
  { from: "healthy", to: "unhealthy" },
  { from: "unhealthy", to: "healthy" },
];

/**
 * Probe latencies run from a loopback millisecond to a full `timeoutMs` (60 s at most), so the
 * buckets span 5 ms to 60 s roughly evenly on a log scale.
 */
const PROBE_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Lateness is healthy in milliseconds; seconds of it mean the node cannot keep up. */
const PROBE_LATENESS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];

/**
 * Starts prom-client's event-loop delay figures (`nodejs_eventloop_lag_*`) afresh. They come from
 * one histogram kept from the registry's creation on and emptied at each scrape; the agent calls
 * this once it has started, so that its start (the HTTP API's validators compiled, the store
 * opened: some 100 ms before any peer knows the node) is not read as a stall of a running node.
 */
export async function restartLoopDelay(registry: Registry): Promise<void> {
  // That metric's collect reads the histogram into every lag gauge, then empties it.
  await registry.getSingleMetric("nodejs_eventloop_lag_seconds")?.get();
  // An emptied histogram measures from its next tick on (10 ms apart): a stall before that tick
  // would go unseen, so the caller goes on only once it has come.
  await new Promise((resolve) => setTimeout(resolve, 2 * LOOP_DELAY_RESOLUTION_MS));
}

/** prom-client's default resolution of its event-loop delay histogram. */
const LOOP_DELAY_RESOLUTION_MS = 10;

export function createMetrics(sources: MetricSources = {}): HeckMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of LEFT_OUT_DEFAULTS) registry.removeSingleMetric(name);
  const registers = [registry];

  const members = new Gauge({
    name: "heck_members",
    help: "Cluster members by status, as this node sees them (self included).",
    labelNames: ["status"] as const,
    registers,
  });
  const probes = new Counter({
    name: "heck_probes_total",
    help: "Probes this node completed, by result.",
    labelNames: ["result"] as const,
    registers,
  });
  const probeDuration = new Histogram({
    name: "heck_probe_duration_seconds",
    help: "Duration of the probes this node completed, successful or not.",
    buckets: PROBE_DURATION_BUCKETS,
    registers,
  });
  const probeLateness = new Histogram({
    name: "heck_probe_lateness_seconds",
    help: "How late this node started its probes after they were due, waits for a free slot included.",
    buckets: PROBE_LATENESS_BUCKETS,
    registers,
  });
  const ownedOrigins = new Gauge({
    name: "heck_owned_origins",
    help: "Origins this node owns and probes.",
    registers,
  });
  const origins = new Gauge({
    name: "heck_origins",
    help: "Origins in the cluster catalog, as this node sees it.",
    registers,
  });
  const gossipMessages = new Counter({
    name: "heck_gossip_messages_total",
    help: "Gossip messages received (in) and sent (out), compound parts counted one by one.",
    labelNames: ["direction"] as const,
    registers,
  });
  const gossipBytes = new Counter({
    name: "heck_gossip_bytes_total",
    help: "Gossip bytes received (in) and sent (out) on the wire, UDP and TCP.",
    labelNames: ["direction"] as const,
    registers,
  });
  const malformedPackets = new Counter({
    name: "heck_malformed_packets_total",
    help: "Gossip packets and streams dropped because they could not be decoded or decrypted.",
    registers,
  });

  const refused = new Counter({
    name: "heck_gossip_refused_total",
    help: "Gossip streams and packets refused at a bound (open streams, bytes, deadline, decompressed size), by reason.",
    labelNames: ["reason"] as const,
    registers,
  });
  const stateSyncBytes = new Counter({
    name: "heck_state_sync_bytes_total",
    help: "Anti-entropy bytes (digests and chunks over streams) received (in) and sent (out).",
    labelNames: ["direction"] as const,
    registers,
  });
  const stateSessions = new Counter({
    name: "heck_state_sessions_total",
    help: "Anti-entropy sessions received (in) and sent (out).",
    labelNames: ["direction"] as const,
    registers,
  });
  const stateChunkFailures = new Counter({
    name: "heck_state_chunk_failures_total",
    help: "Anti-entropy chunks whose stream failed (not read by the peer in time, or refused): sent again (retried), or the last try of a session that then ended (aborted).",
    labelNames: ["outcome"] as const,
    registers,
  });
  const stateRefusedStamps = new Counter({
    name: "heck_state_refused_stamps_total",
    help: "Peer writes refused because their clock stamp was too far ahead of this node's clock.",
    registers,
  });
  const stateTombstones = new Gauge({
    name: "heck_state_tombstones",
    help: "Deleted origins whose tombstones are not collected yet.",
    registers,
  });
  const stateCollected = new Counter({
    name: "heck_state_collected_total",
    help: "Tombstones collected once every member had seen them (or past their TTL).",
    registers,
  });

  const stateGossipQueue = new Gauge({
    name: "heck_state_gossip_queue",
    help: "State deltas waiting to be piggybacked on gossip.",
    registers,
  });
  const stateDroppedDeltas = new Counter({
    name: "heck_state_dropped_deltas_total",
    help: "State deltas dropped from a full gossip queue; anti-entropy delivers them instead.",
    registers,
  });

  const confirmations = new Counter({
    name: "heck_confirmations_total",
    help: "Failures checked from a second member before turning an origin unhealthy: confirmed (it failed there too), refuted (it answered there; no verdict) or unanswered (no member could ask; the verdict stands alone).",
    labelNames: ["outcome"] as const,
    registers,
  });

  const originsByStatus = new Gauge({
    name: "heck_origins_by_status",
    help: "Origins in the cluster catalog by health status, as this node sees them (counted in the background; may lag a few seconds).",
    labelNames: ["status"] as const,
    registers,
    collect() {
      const counts = sources.originsByStatus?.();
      if (counts) for (const status of HEALTH_STATUSES) this.set({ status }, counts[status]);
    },
  });
  const transitions = new Counter({
    name: "heck_health_transitions_total",
    help: "Origin status changes that this node's own probes made, by previous and new status.",
    labelNames: ["from", "to"] as const,
    registers,
  });
  const probeErrors = new Counter({
    name: "heck_probe_errors_total",
    help: "Failed probes of this node by kind: timeout, dns, connect, tls, closed, status, body, protocol, denied, other.",
    labelNames: ["kind"] as const,
    registers,
  });
  const stateRefusedWrites = new Counter({
    name: "heck_state_refused_writes_total",
    help: "Peer writes refused because their stamp was beyond any plausible clock error.",
    registers,
  });
  const membershipQueue = new Gauge({
    name: "heck_membership_broadcast_queue",
    help: "Membership news (alive, suspect, dead, leave) waiting in the gossip queue for its retransmissions.",
    registers,
  });
  const membershipPushPulls = new Counter({
    name: "heck_membership_push_pulls_total",
    help: "Membership push-pull exchanges (full membership anti-entropy over TCP), sent and answered.",
    registers,
  });
  const membershipSuspicions = new Counter({
    name: "heck_membership_suspicions_total",
    help: "Members that turned suspect in this node's view.",
    registers,
  });
  const membershipRefutations = new Counter({
    name: "heck_membership_refutations_total",
    help: "Suspicions about this node that it refuted with a higher incarnation.",
    registers,
  });
  const healthScore = new Gauge({
    name: "heck_membership_health_score",
    help: "Lifeguard's local health score: 0 when healthy; each step above stretches this node's probe and suspicion timeouts.",
    registers,
  });

  // Every label value is present from the start: a series that appears only after its first
  // event breaks rate() and alerts on absent series.
  for (const status of MEMBER_STATUSES) members.set({ status }, 0);
  for (const result of PROBE_RESULTS) probes.inc({ result }, 0);
  for (const outcome of ["confirmed", "refuted", "unanswered"] as const) confirmations.inc({ outcome }, 0);
  for (const reason of REFUSAL_REASONS) refused.inc({ reason }, 0);
  for (const status of HEALTH_STATUSES) originsByStatus.set({ status }, 0);
  for (const t of TRANSITIONS) transitions.inc(t, 0);
  for (const kind of PROBE_ERROR_KINDS) probeErrors.inc({ kind }, 0);
  for (const direction of DIRECTIONS) {
    gossipMessages.inc({ direction }, 0);
    gossipBytes.inc({ direction }, 0);
    stateSyncBytes.inc({ direction }, 0);
    stateSessions.inc({ direction }, 0);
  }
  for (const outcome of ["retried", "aborted"] as const) stateChunkFailures.inc({ outcome }, 0);

  return {
    registry,
    members,
    probes,
    probeDuration,
    probeLateness,
    ownedOrigins,
    origins,
    gossipMessages,
    gossipBytes,
    malformedPackets,
    refused,
    stateSyncBytes,
    stateSessions,
    stateChunkFailures,
    stateRefusedStamps,
    stateTombstones,
    stateCollected,
    stateGossipQueue,
    confirmations,
    stateDroppedDeltas,
    originsByStatus,
    transitions,
    probeErrors,
    stateRefusedWrites,
    membershipQueue,
    membershipPushPulls,
    membershipSuspicions,
    membershipRefutations,
    healthScore,
  };
}
