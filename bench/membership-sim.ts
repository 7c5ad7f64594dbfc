import { type MembershipConfig, profile, withoutLifeguard } from "../src/core/membership/config.js";
import { suspicionBounds } from "../src/core/membership/suspicion.js";
import { SimCluster } from "../test/sim/sim-network.js";
import { machineLine, summarize, table, writeSection } from "./report.js";

/**
 * `npm run sim:membership`: SWIM membership at scale on the simulated network
 * (test/sim/sim-network.ts), in virtual time, every run seeded so that it replays exactly.
 * Writes the section `sim:membership` of docs/membership.md. A measurement, never an assertion.
 *
 * 1. At N nodes (HECK_SIM_NODES, default 1000), timed in real time as one run: the join, a
 *    settled minute, crashes of HECK_SIM_CRASHES nodes (default 3) one after another, then
 *    a minute at 10% packet loss.
 * 2. Traffic per node per second in a steady state at 10 and 100 nodes (and N from step 1).
 * 3. False positives over HECK_SIM_FP_MINUTES (default 10) simulated minutes at 0, 5, 10 and 20%
 *    loss, HECK_SIM_FP_NODES nodes (default 100), Lifeguard on and off, HECK_SIM_FP_SEEDS seeds
 *    (default 3) each.
 *
 * The join is staggered as a deployment brings nodes up: three seed nodes start first (the
 * second and third join the first), then the others start at JOIN_RATE per second and each
 * joins through the three seeds (a push-pull with each, as memberlist's Join with three
 * addresses). Every run uses the `lan` profile with the TCP fallback ping off: the simulated
 * streams never lose anything, so with it on a probe lost to the packet loss would always be
 * saved by the stream, and loss would show no false positive at all.
 */

const N = Number(process.env.HECK_SIM_NODES ?? 1000);
const CRASHES = Number(process.env.HECK_SIM_CRASHES ?? 3);
const FP_NODES = Number(process.env.HECK_SIM_FP_NODES ?? 100);
const FP_MINUTES = Number(process.env.HECK_SIM_FP_MINUTES ?? 10);
const FP_SEEDS = Number(process.env.HECK_SIM_FP_SEEDS ?? 3);
const JOIN_RATE = 50;
const SEEDS = 3;
const lan = profile("lan", { tcpFallbackPing: false });

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Starts `n` nodes with the staggered join; returns the cluster (events: status changes only). */
function joiningCluster(n: number, seed: number, config: MembershipConfig): SimCluster {
  // First sightings (N^2 of them) are not kept: the figures need status changes only.
  const cluster = new SimCluster({ size: 0, seed, config, record: (e) => e.previous !== "none" });
  cluster.rollOut(n, { seeds: SEEDS, perSecond: JOIN_RATE });
  return cluster;
}

/** Runs until every node has started and sees every other alive; the virtual time taken. */
function converge(cluster: SimCluster, n: number, limitMs: number): number {
  const start = cluster.net.now;
  const at = cluster.net.runUntilTrue(
    () => cluster.names.length === n && cluster.allSee(cluster.names, cluster.names, "alive"),
    limitMs,
    1000,
  );
  if (at === undefined) throw new Error(`${n} nodes did not converge within ${limitMs} ms`);
  return at - start;
}

/** Runs until no live node holds a membership broadcast still to send, at most `limitMs`. */
function drain(cluster: SimCluster, limitMs: number): number {
  const start = cluster.net.now;
  cluster.net.runUntilTrue(
    () => cluster.live().every((name) => cluster.node(name).pendingBroadcasts() === 0),
    limitMs,
    1000,
  );
  return cluster.net.now - start;
}

interface Traffic {
  messages: number;
  bytes: number;
}

/** Datagrams plus streams sent, and their bytes, summed over the live nodes. */
function sent(cluster: SimCluster): Traffic {
  let messages = 0;
  let bytes = 0;
  for (const name of cluster.live()) {
    const s = cluster.node(name).stats;
    messages += s.packetsOut + s.streamsOut;
    bytes += s.bytesOut;
  }
  return { messages, bytes };
}

/** Per node per second over a window of `ms` of virtual time. */
function trafficOver(cluster: SimCluster, ms: number): Traffic {
  const before = sent(cluster);
  cluster.net.runFor(ms);
  const after = sent(cluster);
  const nodes = cluster.live().length;
  return {
    messages: (after.messages - before.messages) / nodes / (ms / 1000),
    bytes: (after.bytes - before.bytes) / nodes / (ms / 1000),
  };
}

interface Detection {
  /** ms from the crash until the first node marked it dead. */
  first: number;
  median: number;
  /** until every live node had. */
  all: number;
  /** ms from the crash until the first suspicion of it. */
  firstSuspect: number;
}

/** Kills `victim` and runs until every live node holds it dead; per-observer detection times. */
function crash(cluster: SimCluster, victim: string, limitMs: number): Detection {
  const killedAt = cluster.net.now;
  cluster.kill(victim);
  const live = cluster.live();
  const done = cluster.net.runUntilTrue(() => cluster.allSee(live, [victim], "dead"), limitMs, 250);
  if (done === undefined) throw new Error(`${victim} not dead everywhere within ${limitMs} ms`);
  const seen = new Map<string, number>();
  let firstSuspect = Number.POSITIVE_INFINITY;
  for (const e of cluster.events) {
    if (e.member !== victim || e.at < killedAt) continue;
    if (e.status === "suspect") firstSuspect = Math.min(firstSuspect, e.at - killedAt);
    if (e.status === "dead" && !seen.has(e.observer)) seen.set(e.observer, e.at - killedAt);
  }
  const times = live.map((o) => seen.get(o) ?? Number.POSITIVE_INFINITY);
  const s = summarize(times);
  return { first: s.min, median: s.median, all: s.max, firstSuspect };
}

interface FalsePositives {
  /** Events marking a live member dead, and suspect, summed over observers. */
  deaths: number;
  suspicions: number;
  /** Distinct live members marked dead by at least one observer. */
  membersDead: number;
  /** Distinct suspicions of live members (member and incarnation), however many observers held each. */
  suspected: number;
  refutations: number;
}

/** Status changes about members that were never killed, from `since`. */
function falsePositives(cluster: SimCluster, since: number): FalsePositives {
  const live = new Set(cluster.live());
  let deaths = 0;
  let suspicions = 0;
  const dead = new Set<string>();
  const suspected = new Set<string>();
  for (const e of cluster.events) {
    if (e.at < since || !live.has(e.member) || e.observer === e.member) continue;
    if (e.status === "dead") {
      deaths++;
      dead.add(e.member);
    } else if (e.status === "suspect") {
      suspicions++;
      suspected.add(`${e.member}@${e.incarnation}`);
    }
  }
  let refutations = 0;
  for (const name of live) refutations += cluster.node(name).stats.refutations;
  return { deaths, suspicions, membersDead: dead.size, suspected: suspected.size, refutations };
}

const f1 = (v: number) => (Number.isFinite(v) ? (v / 1000).toFixed(1) : "never");
const int = (v: number) => Math.round(v).toLocaleString("en-US");

// ---------------------------------------------------------------------------------------------
// 1. N nodes: join, crashes, 10% loss, timed

function large(): { markdown: string; traffic: Traffic } {
  const realStart = performance.now();
  const cpuStart = cpuMs();
  const phases: Array<[string, number, number, number]> = [];
  let mark = { real: realStart, cpu: cpuStart, virtual: 0 };
  const cluster = joiningCluster(N, 1, lan);
  const phase = (name: string) => {
    const now = { real: performance.now(), cpu: cpuMs(), virtual: cluster.net.now };
    phases.push([name, now.virtual - mark.virtual, now.real - mark.real, now.cpu - mark.cpu]);
    console.log(`  ${name}: ${f1(now.virtual - mark.virtual)} s virtual, ${f1(now.real - mark.real)} s real`);
    mark = now;
  };
  const converged = converge(cluster, N, 300_000);
  phase(`join: every node sees all ${N} alive`);
  const drained = drain(cluster, 180_000);
  phase("join broadcasts all sent");
  const traffic = trafficOver(cluster, 30_000);
  phase("steady state, 0% loss");
  const detections: Detection[] = [];
  for (let i = 0; i < CRASHES; i++) {
    const victim = `n${Math.floor(((i + 1) * N) / (CRASHES + 1))}`;
    detections.push(crash(cluster, victim, 240_000));
    cluster.net.runFor(5_000);
  }
  phase(`${CRASHES} crashes, one after another`);
  const lossStart = cluster.net.now;
  cluster.net.setLossRate(0.1);
  const lossTraffic = trafficOver(cluster, 60_000);
  cluster.net.setLossRate(0);
  const fp = falsePositives(cluster, lossStart);
  phase("10% loss");
  const realTotal = performance.now() - realStart;
  const cpuTotal = cpuMs() - cpuStart;
  cluster.stopAll();

  const { minMs, maxMs } = suspicionBounds(lan, N);
  const first = summarize(detections.map((d) => d.first));
  const med = summarize(detections.map((d) => d.median));
  const all = summarize(detections.map((d) => d.all));
  const sus = summarize(detections.map((d) => d.firstSuspect));
  const range = (s: { median: number; min: number; max: number }) =>
    `${f1(s.median)} (${f1(s.min)}-${f1(s.max)})`;
  const md = [
    `### ${N} nodes, \`lan\` profile: join, ${CRASHES} crashes, 10% loss`,
    "",
    `One run, seed 1. ${machineLine()} Real time ${f1(realTotal)} s (CPU ${f1(cpuTotal)} s) for the whole run:`,
    "",
    table(
      ["phase", "virtual s", "real s", "CPU s"],
      phases.map(([name, v, r, c]) => [name, f1(v), f1(r), f1(c)]),
    ),
    "",
    `The join converged ${f1(converged)} s after the first node started; the broadcasts it queued were all sent ${f1(drained)} s later.`,
    "",
    `Crash detection, ${CRASHES} crashes (median of the crashes, min-max in brackets; suspicion timeout at this size ${f1(minMs)} s with enough confirmations, ${f1(maxMs)} s with none):`,
    "",
    table(
      ["seconds after the kill", "median (min-max)"],
      [
        ["first node suspects it", range(sus)],
        ["first node marks it dead", range(first)],
        ["half the nodes have", range(med)],
        ["every node has", range(all)],
      ],
    ),
    "",
    `One minute at 10% loss: ${fp.deaths} false deaths (observer, member pairs; ${fp.membersDead} members), ${fp.suspected} suspicions of live members (held ${fp.suspicions} times in all), ${fp.refutations} refutations in all; ${lossTraffic.messages.toFixed(1)} messages and ${int(lossTraffic.bytes)} bytes per node per second.`,
  ].join("\n");
  return { markdown: md, traffic };
}

// ---------------------------------------------------------------------------------------------
// 2. Traffic at 10 and 100 nodes

function steadyTraffic(n: number): Traffic {
  const cluster = joiningCluster(n, 2, lan);
  converge(cluster, n, 120_000);
  drain(cluster, 120_000);
  const t = trafficOver(cluster, 60_000);
  cluster.stopAll();
  return t;
}

// ---------------------------------------------------------------------------------------------
// 3. False positives under loss, Lifeguard on and off

function lossRun(lossRate: number, lifeguard: boolean, seed: number): FalsePositives {
  const config = lifeguard ? lan : withoutLifeguard(lan);
  const cluster = joiningCluster(FP_NODES, seed, config);
  converge(cluster, FP_NODES, 120_000);
  drain(cluster, 120_000);
  const start = cluster.net.now;
  cluster.net.setLossRate(lossRate);
  cluster.net.runFor(FP_MINUTES * 60_000);
  const fp = falsePositives(cluster, start);
  cluster.stopAll();
  return fp;
}

console.log(`membership simulation: ${N} nodes`);
const big = large();
console.log(big.markdown);

const trafficRows: Array<[number, Traffic]> = [];
for (const n of [10, 100]) {
  if (n < N) trafficRows.push([n, steadyTraffic(n)]);
}
trafficRows.push([N, big.traffic]);
const base = trafficRows[0]?.[1].messages ?? 1;
const trafficTable = table(
  ["nodes", "messages / node / s", "bytes / node / s", "messages vs 10 nodes"],
  trafficRows.map(([n, t]) => [n, t.messages.toFixed(2), int(t.bytes), `${(t.messages / base).toFixed(2)}x`]),
);
console.log(trafficTable);

const fpRows: Array<Array<string | number>> = [];
/** Median (min-max) of one figure over the seeds, or the figure itself for one seed. */
const spread = (values: number[]) => {
  const s = summarize(values);
  return values.length === 1 ? `${s.median}` : `${s.median} (${s.min}-${s.max})`;
};
for (const loss of [0, 0.05, 0.1, 0.2]) {
  for (const lifeguard of [true, false]) {
    const t = performance.now();
    const runs: FalsePositives[] = [];
    for (let i = 0; i < FP_SEEDS; i++)
      runs.push(lossRun(loss, lifeguard, 100 + Math.round(loss * 100) + 1000 * i));
    fpRows.push([
      `${Math.round(loss * 100)}%`,
      lifeguard ? "on" : "off",
      spread(runs.map((r) => r.deaths)),
      spread(runs.map((r) => r.membersDead)),
      spread(runs.map((r) => r.suspected)),
      spread(runs.map((r) => r.suspicions)),
      spread(runs.map((r) => r.refutations)),
    ]);
    console.log(
      `  loss ${loss} lifeguard ${lifeguard}: ${JSON.stringify(runs)} (${f1(performance.now() - t)} s real)`,
    );
  }
}
const fpTable = table(
  [
    "loss",
    "Lifeguard",
    "false deaths (observer, member)",
    "members falsely dead",
    "suspicions of live members",
    "suspect (observer, member)",
    "refutations",
  ],
  fpRows,
);
console.log(fpTable);

writeSection(
  "sim:membership",
  [
    "## Membership at scale on the simulated network",
    "",
    "Written by `npm run sim:membership` (`bench/membership-sim.ts`); virtual time, seeded, so every figure reruns exactly (the real and CPU times excepted). Profile `lan` with the TCP fallback ping off (the simulated streams are lossless, so the fallback would hide every datagram loss).",
    "",
    big.markdown,
    "",
    "### Traffic per node in a steady state",
    "",
    "Everything a node sends (datagrams and streams, payload bytes without IP/UDP headers), per node per second over 60 s (30 s at the largest size) once the join's broadcasts are all sent, 0% loss, `lan` profile without the TCP fallback ping.",
    "",
    trafficTable,
    "",
    `### False positives over ${FP_MINUTES} simulated minutes, ${FP_NODES} nodes`,
    "",
    `Nobody crashes; every status change of a live member to suspect or dead, seen by any other member, counts. Lifeguard off: \`withoutLifeguard\` (no local health multiplier, no dynamic suspicion timeout, no buddy system). ${FP_SEEDS} seeded runs per row, median (min-max); the same seeds for Lifeguard on and off at one loss rate.`,
    "",
    fpTable,
  ].join("\n"),
  "membership.md",
);
