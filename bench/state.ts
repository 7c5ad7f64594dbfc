import { pack } from "msgpackr";
import type { HealthView } from "../src/agent/node-api.js";
import { parseOriginSpec } from "../src/core/checks/spec.js";
import { encodeVersions, MAP_CATALOG, MAP_HEALTH } from "../src/core/state/state-wire.js";
import type { HealthValue } from "../src/core/state/types.js";
import {
  type AgentProcess,
  api,
  metricValue,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../test/helpers/cluster.js";
import { BATCH, holdAll, load, rssBytes, specFor, startThree } from "./catalog.js";
import { machineLine, summarize, table, writeSection } from "./report.js";

/**
 * `npm run bench:state`: the replicated state at a CDN's size, on real agents over loopback
 * (`--profile local`): bootstrap of a new node into a cluster holding the catalog, the bytes that
 * repair a node that missed some writes, memory per origin, and steady gossip at two catalog
 * sizes. Writes its section of docs/benchmarks.md. Environment: HECK_BENCH_ORIGINS (default
 * 100000), HECK_BENCH_RUNS (default 3); HECK_BENCH_MILLION=1 runs instead one bootstrap at
 * 1,000,000 origins and writes that to a section of its own.
 */

const ORIGINS = Number(process.env.HECK_BENCH_ORIGINS ?? 100_000);
const RUNS = Number(process.env.HECK_BENCH_RUNS ?? 3);
const MILLION = process.env.HECK_BENCH_MILLION === "1";
const MISSED = 1000;
/**
 * The catalog cluster probes each origin once an hour (catalog.ts), so that probing stays light
 * while the state is measured; the steady-gossip cluster once a minute, so that every origin has
 * had its first probe (its one status change) before the window opens.
 */
const STEADY_INTERVAL_MS = 60_000;
/**
 * Four push-pull intervals of the `local` profile (15 s): a node's periodic push-pull is its largest
 * message, and how many a window holds varies by one either way; over two intervals that moved the
 * 100-origin rate by a fifth from run to run.
 */
const STEADY_WINDOW_MS = 60_000;
/** The quiet spell before the second reading of RSS. */
const AT_REST_MS = 60_000;

const lagMaxMs = async (a: AgentProcess) => 1000 * (await metricValue(a, "nodejs_eventloop_lag_max_seconds"));
/** Chunk streams of anti-entropy sessions that failed on `a` (sent again, or the session ended). */
const chunkFailures = async (a: AgentProcess) =>
  (await metricValue(a, "heck_state_chunk_failures_total", '{outcome="retried"}')) +
  (await metricValue(a, "heck_state_chunk_failures_total", '{outcome="aborted"}'));
const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);

/**
 * Gossip bytes each agent sends per second over a window (UDP and TCP, membership and state),
 * opened once no agent has state deltas left to gossip but the probe watermarks: a burst (the first probes of a catalog)
 * has drained, and what is measured is what the cluster costs when nothing changes.
 */
async function gossipRate(agents: AgentProcess[]): Promise<number[]> {
  await waitFor(
    "the state gossip queues to drain",
    async () => {
      // Each node's own probe watermark, and those it forwards, are always in the queue.
      for (const a of agents)
        if ((await metricValue(a, "heck_state_gossip_queue")) > agents.length) return false;
      return true;
    },
    300_000,
    500,
  );
  const out = '{direction="out"}';
  const before = await Promise.all(agents.map((a) => metricValue(a, "heck_gossip_bytes_total", out)));
  await new Promise((r) => setTimeout(r, STEADY_WINDOW_MS));
  // The gauges follow the transport once a second: let them catch up.
  await new Promise((r) => setTimeout(r, 1100));
  const after = await Promise.all(agents.map((a) => metricValue(a, "heck_gossip_bytes_total", out)));
  return after.map((v, i) => (v - (before[i] as number)) / ((STEADY_WINDOW_MS + 1100) / 1000));
}

/**
 * msgpack size of the chunk records that carry `n` of these origins, each with its spec and its
 * health (`health`, as the API shows one of them): what a repair must send.
 */
function encodedSize(from: number, n: number, health: HealthView): number {
  const records = [];
  const ms = (t: string | null) => (t === null ? null : Date.parse(t));
  for (let i = from; i < from + n; i++) {
    const spec = parseOriginSpec(specFor(i));
    const dot = { writer: "0123456789abcdef", counter: 2 * i + 1 };
    const probed = { writer: "fedcba9876543210", counter: i + 1 };
    records.push([
      MAP_CATALOG,
      `o${i}`,
      encodeVersions(MAP_CATALOG, [{ ...dot, wall: Date.now(), tick: 0, value: { spec, target: dot } }]),
    ]);
    const value: HealthValue = {
      status: health.status,
      reporter: health.reporter,
      checkedAt: ms(health.checkedAt),
      changedAt: ms(health.changedAt),
      latencyMs: health.latencyMs,
      error: health.error,
      target: dot,
      confirmedBy: null,
    };
    records.push([
      MAP_HEALTH,
      `o${i}`,
      encodeVersions(MAP_HEALTH, [{ ...probed, wall: Date.now(), tick: 0, value }]),
    ]);
  }
  return pack(records).length;
}

/**
 * Waits until every agent counts `n` origins, all unhealthy: each has had its first probe and its
 * health record has reached every node, so that nothing is still on its way when a phase is timed.
 */
async function allSettled(agents: AgentProcess[], n: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `${agents.length} agents to hold ${n} origins, each with its status`,
    async () => {
      for (const a of agents) {
        if ((await metricValue(a, "heck_origins_by_status", '{status="unhealthy"}')) !== n) return false;
      }
      return true;
    },
    timeoutMs,
    1000,
  );
}

/** The health of one origin as `agent` shows it. */
async function healthOf(agent: AgentProcess, id: string): Promise<HealthView> {
  return (await api<{ health: HealthView }>(agent, "GET", `/v1/origins/${id}`)).body.health;
}

/** Milliseconds for one GET, measured at the client (loopback). */
async function timedGet(
  agent: AgentProcess,
  path: string,
): Promise<{ ms: number; body: { nextCursor: string | null } }> {
  const t0 = performance.now();
  const res = await api<{ nextCursor: string | null }>(agent, "GET", path);
  return { ms: performance.now() - t0, body: res.body };
}

/** Page latencies on one node: the first page, a page deep in the catalog, and filtered pages. */
async function pageLatencies(agent: AgentProcess, owner: string): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = { first: [], deep: [], status: [], none: [], owner: [] };
  let cursor: string | null = null;
  for (let i = 0; i < 50; i++) {
    const page = await timedGet(agent, `/v1/origins?limit=1000${cursor ? `&cursor=${cursor}` : ""}`);
    cursor = page.body.nextCursor;
    if (!cursor) break;
  }
  for (let i = 0; i < 5; i++) {
    out.first?.push((await timedGet(agent, "/v1/origins?limit=1000")).ms);
    if (cursor) out.deep?.push((await timedGet(agent, `/v1/origins?limit=1000&cursor=${cursor}`)).ms);
    out.status?.push((await timedGet(agent, "/v1/origins?limit=1000&status=unhealthy")).ms);
    out.none?.push((await timedGet(agent, "/v1/origins?limit=1000&status=healthy")).ms);
    out.owner?.push((await timedGet(agent, `/v1/origins?limit=1000&owner=${owner}`)).ms);
  }
  return out;
}

interface Figures {
  pages: Record<string, number[]>;
  spreadMs: number;
  settledMs: number;
  bootstrapMs: number[];
  bootstrapLagMs: number[];
  bootstrapOthersLagMs: number[];
  bootstrapNewLagMs: number[];
  repairBytes: number[];
  repairMs: number[];
  repairEncoded: number;
  rssPerOriginBytes: number[];
  rssAtRestPerOriginBytes: number[];
  gossipSmall: number[];
  gossipLarge: number[];
}

async function bootstrapInto(
  seed: AgentProcess,
  others: AgentProcess[],
  dataDir: string,
  n: number,
  timeoutMs: number,
): Promise<{
  agent: AgentProcess;
  ms: number;
  lagMs: number;
  othersLagMs: number;
  newLagMs: number;
  chunkFailures: number;
}> {
  await Promise.all(others.map(lagMaxMs)); // resets each agent's maximum
  const failuresBefore = sum(await Promise.all(others.map(chunkFailures)));
  const t0 = Date.now();
  const agent = await startAgent({ name: `boot-${t0}`, dataDir, join: [seed.gossip] });
  try {
    await holdAll([agent], n, timeoutMs);
  } catch (err) {
    await stopAgent(agent);
    throw err;
  }
  const ms = Date.now() - t0;
  const lags = await Promise.all(others.map(lagMaxMs));
  const newLagMs = await lagMaxMs(agent);
  const othersLagMs = Math.max(...lags);
  // The counters reach /metrics once a second.
  await new Promise((r) => setTimeout(r, 1100));
  const failures = sum(await Promise.all(others.map(chunkFailures))) - failuresBefore;
  return {
    agent,
    ms,
    lagMs: Math.max(othersLagMs, newLagMs),
    othersLagMs,
    newLagMs,
    chunkFailures: failures,
  };
}

async function measure(): Promise<Figures> {
  const dir = tempDir("heck-bench-state-");
  const agents: AgentProcess[] = [];
  const figures: Figures = {
    pages: {},
    spreadMs: 0,
    settledMs: 0,
    bootstrapMs: [],
    bootstrapLagMs: [],
    bootstrapOthersLagMs: [],
    bootstrapNewLagMs: [],
    repairBytes: [],
    repairMs: [],
    repairEncoded: 0,
    rssPerOriginBytes: [],
    rssAtRestPerOriginBytes: [],
    gossipSmall: [],
    gossipLarge: [],
  };
  try {
    const a = await startThree(dir.path, agents);
    await waitFor(
      "3 members",
      async () => (await api<{ members: unknown[] }>(a, "GET", "/v1/members")).body.members.length === 3,
      20_000,
    );

    await load(a, 0, 100);
    await holdAll(agents, 100, 30_000);
    const rssBefore = agents.map((x) => rssBytes(x.child.pid as number));

    // The whole catalog through one node's bulk route.
    const t0 = Date.now();
    await load(a, 100, ORIGINS);
    figures.spreadMs = await holdAll(agents, ORIGINS, 300_000);
    console.log(`loaded ${ORIGINS} origins; on every node ${Date.now() - t0} ms after the first batch`);
    // The first probes of the whole catalog, and their health records, settle before the rounds.
    await allSettled(agents, ORIGINS, 600_000);
    figures.settledMs = Date.now() - t0;
    console.log(`every origin has its status on every node ${figures.settledMs} ms after the first batch`);

    for (let run = 0; run < RUNS; run++) {
      // Each round before this one added the origins its node missed.
      const held = ORIGINS + run * MISSED;
      const boot = await bootstrapInto(a, agents, `${dir.path}/boot-${run}`, held, 120_000);
      figures.bootstrapMs.push(boot.ms);
      figures.bootstrapLagMs.push(boot.lagMs);
      figures.bootstrapOthersLagMs.push(boot.othersLagMs);
      figures.bootstrapNewLagMs.push(boot.newLagMs);
      console.log(
        `bootstrap ${run + 1}: ${boot.ms} ms, longest event-loop stall ${boot.othersLagMs.toFixed(0)} ms on the cluster's nodes, ${boot.newLagMs.toFixed(0)} ms on the new one; ${boot.chunkFailures} chunk streams failed`,
      );
      // Repair: the new node goes away, misses writes, and comes back on its data dir.
      await stopAgent(boot.agent);
      const total = ORIGINS + (run + 1) * MISSED;
      await load(a, total - MISSED, total);
      await holdAll(agents, total, 60_000);
      // Each missed origin has had its first probe, so the repair carries its spec and its health.
      await allSettled(agents, total, 300_000);
      const health = await healthOf(a, `o${total - 1}`);
      figures.repairEncoded = encodedSize(total - MISSED, MISSED, health);
      const t1 = Date.now();
      const back = await startAgent({ name: boot.agent.name, dataDir: `${dir.path}/boot-${run}` });
      agents.push(back);
      await holdAll([back], total, 60_000);
      figures.repairMs.push(Date.now() - t1);
      // The counters reach /metrics once a second.
      await new Promise((r) => setTimeout(r, 1200));
      figures.repairBytes.push(await metricValue(back, "heck_state_sync_bytes_total", '{direction="in"}'));
      await stopAgent(back);
      agents.pop();
    }

    figures.pages = await pageLatencies(agents[1] as AgentProcess, "c");
    const n = ORIGINS + RUNS * MISSED - 100;
    const perOrigin = () =>
      agents.map((x, i) => (rssBytes(x.child.pid as number) - (rssBefore[i] as number)) / n);
    figures.rssPerOriginBytes = perOrigin();
    // The same nodes after a quiet spell: no load, no paging, each origin probed once an hour.
    await new Promise((r) => setTimeout(r, AT_REST_MS));
    figures.rssAtRestPerOriginBytes = perOrigin();
  } finally {
    await Promise.all(agents.map((x) => stopAgent(x)));
    dir.remove();
  }
  Object.assign(figures, await steadyGossip());
  return figures;
}

/**
 * Gossip bytes per node per second with 100 origins and with the whole catalog, on a cluster of
 * its own where every origin has had its first probe before each window: nothing changes status.
 */
async function steadyGossip(): Promise<{ gossipSmall: number[]; gossipLarge: number[] }> {
  const dir = tempDir("heck-bench-steady-");
  const agents: AgentProcess[] = [];
  try {
    const a = await startThree(dir.path, agents);
    await load(a, 0, 100, STEADY_INTERVAL_MS);
    await holdAll(agents, 100, 30_000);
    await new Promise((r) => setTimeout(r, STEADY_INTERVAL_MS + 5000));
    const gossipSmall = await gossipRate(agents);
    await load(a, 100, ORIGINS, STEADY_INTERVAL_MS);
    await holdAll(agents, ORIGINS, 300_000);
    await new Promise((r) => setTimeout(r, STEADY_INTERVAL_MS + 5000));
    const gossipLarge = await gossipRate(agents);
    return { gossipSmall, gossipLarge };
  } finally {
    await Promise.all(agents.map((x) => stopAgent(x)));
    dir.remove();
  }
}

async function million(): Promise<string> {
  const n = 1_000_000;
  const dir = tempDir("heck-bench-million-");
  const agents: AgentProcess[] = [];
  try {
    const a = await startThree(dir.path, agents);
    const t0 = Date.now();
    await load(a, 0, n);
    const loadMs = Date.now() - t0;
    const spreadMs = await holdAll(agents, n, 900_000);
    const boot = await bootstrapInto(a, agents, `${dir.path}/d`, n, 900_000);
    agents.push(boot.agent);
    const rss = agents.map((x) => rssBytes(x.child.pid as number) / 2 ** 20);
    return `1,000,000 origins: bulk load ${(loadMs / 1000).toFixed(1)} s through one node, on the other two ${(spreadMs / 1000).toFixed(1)} s later; a fourth node bootstrapped in ${(boot.ms / 1000).toFixed(1)} s with a longest event-loop stall of ${boot.lagMs.toFixed(0)} ms; RSS ${rss.map((r) => r.toFixed(0)).join(", ")} MiB.`;
  } catch (err) {
    return `1,000,000 origins: ${String(err)}`;
  } finally {
    await Promise.all(agents.map((x) => stopAgent(x)));
    dir.remove();
  }
}

if (MILLION) {
  // The one-off run at a million origins: its own section, the main figures left as they are.
  const line = await million();
  console.log(line);
  writeSection(
    "bench:state:million",
    `### One bootstrap at 1,000,000 origins (\`HECK_BENCH_MILLION=1 npm run bench:state\`)

Three agents, the catalog loaded through one node's bulk route, then a fourth node joins. ${machineLine()}

${line}
`,
  );
  process.exit(0);
}

const f = await measure();
const fmt = (values: number[], digits = 0) => {
  const s = summarize(values);
  return [s.median.toFixed(digits), s.min.toFixed(digits), s.max.toFixed(digits), values.length];
};
const ratio = summarize(f.gossipLarge).median / summarize(f.gossipSmall).median;
const rows = [
  [`bootstrap of a 4th node, ${ORIGINS} origins and up (ms; goal <= 5000)`, ...fmt(f.bootstrapMs)],
  ["longest event-loop stall on any node during the bootstrap (ms; goal <= 50)", ...fmt(f.bootstrapLagMs)],
  ["  on the three nodes holding the catalog (ms)", ...fmt(f.bootstrapOthersLagMs)],
  ["  on the new node, from its start line (ms)", ...fmt(f.bootstrapNewLagMs)],
  [`bytes received to repair a node that missed ${MISSED} origins`, ...fmt(f.repairBytes)],
  [
    `  the same as a multiple of their encoded size (${f.repairEncoded} B; goal <= 2)`,
    ...fmt(
      f.repairBytes.map((b) => b / f.repairEncoded),
      2,
    ),
  ],
  ["time to repair it, from its restart (ms)", ...fmt(f.repairMs)],
  ["RSS per origin per node (bytes; goal <= 1024)", ...fmt(f.rssPerOriginBytes)],
  [`  the same after ${AT_REST_MS / 1000} s at rest (bytes)`, ...fmt(f.rssAtRestPerOriginBytes)],
  ["GET /v1/origins?limit=1000, first page (ms; goal < 50)", ...fmt(f.pages.first ?? [], 1)],
  ["the same, 50 pages deep through the cursor (ms)", ...fmt(f.pages.deep ?? [], 1)],
  ["the same with ?status=unhealthy (ms)", ...fmt(f.pages.status ?? [], 1)],
  [
    "the same with ?status=healthy, which no origin has: the whole catalog read (ms)",
    ...fmt(f.pages.none ?? [], 1),
  ],
  ["the same with ?owner= one of three nodes (ms)", ...fmt(f.pages.owner ?? [], 1)],
  ["steady gossip out per node, 100 origins (bytes/s)", ...fmt(f.gossipSmall)],
  [`steady gossip out per node, ${ORIGINS} origins (bytes/s)`, ...fmt(f.gossipLarge)],
];
const body = `${table(["figure", "median", "min", "max", "samples"], rows)}

Steady gossip at ${ORIGINS} origins is ${ratio.toFixed(2)}x that at 100 (goal <= 1.5).`;
console.log(body);

writeSection(
  "bench:state",
  `## Replicated state (\`npm run bench:state\`)

Three agents (\`--profile local\`) on loopback; ${ORIGINS} origins loaded through one node's bulk route
in batches of ${BATCH} reached the other two ${(f.spreadMs / 1000).toFixed(1)} s after the last batch
was answered, and every origin had its status (first probe, health record spread) on every node
${(f.settledMs / 1000).toFixed(1)} s after the first batch was sent. Then ${RUNS} times: a fourth node joins and bootstraps the catalog (timed from its start
until its API counts every origin; the stall is the largest \`nodejs_eventloop_lag_max_seconds\` of all
four nodes over the bootstrap, which on the new node counts from its start line: the agent empties
the figure once it has started), leaves, misses ${MISSED} new origins, and comes back on its data dir
(the bytes are its \`heck_state_sync_bytes_total{direction="in"}\`: chunks and digests; the encoded
size is that of the missed origins' specs and health records). The origins point at a closed local
port, are probed once an hour and turn unhealthy at the first failure, unconfirmed: each origin
carries a health record from its first probe on, and no status changes after it. Steady gossip is measured on a cluster of
its own whose origins are probed every ${STEADY_INTERVAL_MS / 1000} s (a connection refused each time),
over ${STEADY_WINDOW_MS / 1000} s (four push-pull intervals) once every origin has had its first probe, so no status changes, from
\`heck_gossip_bytes_total{direction="out"}\` on each of the three nodes. RSS per origin is the growth of
each node's RSS from 100 origins to the full catalog, divided by the origins added, read right after the
bootstraps and the page timings, then again after ${AT_REST_MS / 1000} s in which nothing is asked of the cluster. Page times are
measured at the client over loopback, five times each, on one node holding the whole catalog. ${machineLine()}

${body}
`,
);
console.log("\nwritten to docs/benchmarks.md");
