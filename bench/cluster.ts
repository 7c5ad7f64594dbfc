import { readFileSync } from "node:fs";
import {
  type AgentProcess,
  allAlive,
  api,
  firstSeenByAll,
  isRunning,
  OriginFarm,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../test/helpers/cluster.js";

/**
 * Cluster figures with real agents on loopback (`--profile local`): failure detection, handover,
 * status propagation, probe load and memory. Run through `npm run bench`.
 */

export interface ClusterBenchOptions {
  nodes: number;
  origins: number;
  intervalMs: number;
  /** Steady-state window over which probes are counted. */
  windowMs: number;
  runs: number;
}

export interface ClusterBenchResult {
  options: ClusterBenchOptions;
  deadSeenByAllMs: number[];
  reprobedMs: number[];
  statusSpreadMs: number[];
  statusEndToEndMs: number[];
  probesPerOriginPerInterval: number[];
  rssMiB: number[];
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

async function oneRun(options: ClusterBenchOptions, result: ClusterBenchResult): Promise<void> {
  const dir = tempDir("heck-bench-");
  const farm = new OriginFarm();
  await farm.start();
  const agents: AgentProcess[] = [];
  try {
    const first = await startAgent({ name: "bench-0", dataDir: `${dir.path}/0` });
    agents.push(first);
    for (let i = 1; i < options.nodes; i++) {
      agents.push(
        await startAgent({ name: `bench-${i}`, dataDir: `${dir.path}/${i}`, join: [first.gossip] }),
      );
    }
    await allAlive(agents, options.nodes);

    const ids = Array.from({ length: options.origins }, (_, i) => `o-${i}`);
    const batch = ids.map((id) => ({
      id,
      url: farm.url(`/${id}`),
      intervalMs: options.intervalMs,
      healthyThreshold: 1,
      unhealthyThreshold: 1,
    }));
    const put = await api(first, "POST", "/v1/origins", { origins: batch });
    if (put.status !== 200) throw new Error(`batch PUT failed: ${put.status} ${JSON.stringify(put.body)}`);
    await waitFor(
      "every origin healthy on every node",
      async () => {
        for (const a of agents) {
          const res = await api<{ origins: Array<{ health: { status: string } }> }>(a, "GET", "/v1/origins");
          if (res.body.origins.filter((o) => o.health.status === "healthy").length !== ids.length)
            return false;
        }
        return true;
      },
      30_000,
    );

    // Steady state: probes per origin per interval.
    const windowStart = Date.now();
    await new Promise((r) => setTimeout(r, options.windowMs));
    const windowEnd = Date.now();
    const counted = farm.probes.filter((p) => p.at >= windowStart && p.at < windowEnd).length;
    result.probesPerOriginPerInterval.push(
      counted / (ids.length * ((windowEnd - windowStart) / options.intervalMs)),
    );
    for (const a of agents) result.rssMiB.push(rssMiB(a.child.pid!));

    // Status change: switch one origin to failing, time until every node reports it unhealthy.
    const owners = await api<{ origins: Array<{ id: string; owner: string }> }>(first, "GET", "/v1/origins");
    const flipped = ids[1]!;
    farm.fail(`/${flipped}`);
    const switchedAt = Date.now();
    const seenAt = await waitFor(
      "the status change on every node",
      async () => {
        for (const a of agents) {
          const res = await api<{ health: { status: string; changedAt: string | null } }>(
            a,
            "GET",
            `/v1/origins/${flipped}`,
          );
          if (res.body.health.status !== "unhealthy") return false;
        }
        return Date.now();
      },
      10_000,
      10,
    );
    const changed = await api<{ health: { changedAt: string } }>(first, "GET", `/v1/origins/${flipped}`);
    result.statusSpreadMs.push(seenAt - Date.parse(changed.body.health.changedAt));
    result.statusEndToEndMs.push(seenAt - switchedAt);

    // Failure: kill -9 the owner of most origins, other than the node we talk to.
    const counts = new Map<string, number>();
    for (const o of owners.body.origins) counts.set(o.owner, (counts.get(o.owner) ?? 0) + 1);
    const victimName = [...counts.entries()]
      .filter(([name]) => name !== first.name)
      .sort((a, b) => b[1] - a[1])[0]![0];
    const victim = agents.find((a) => a.name === victimName)!;
    const moved = owners.body.origins.filter((o) => o.owner === victimName).map((o) => o.id);
    await stopAgent(victim, "SIGKILL");
    const killedAt = Date.now();
    const survivors = agents.filter(isRunning);
    const deadAt = await firstSeenByAll(survivors, victimName, "dead");
    result.deadSeenByAllMs.push(deadAt - killedAt);
    await waitFor(
      "moved origins probed again",
      () =>
        moved.every((id) =>
          farm.probesOf(`/${id}`, killedAt).some((p) => p.node !== victimName && p.node !== undefined),
        ),
      60_000,
      20,
    );
    const lastFirstProbe = Math.max(
      ...moved.map((id) => farm.probesOf(`/${id}`, killedAt).find((p) => p.node !== victimName)!.at),
    );
    result.reprobedMs.push(lastFirstProbe - killedAt);
  } finally {
    await Promise.all(agents.map((a) => stopAgent(a, "SIGKILL")));
    await farm.stop();
    dir.remove();
  }
}

export async function clusterBench(options: ClusterBenchOptions): Promise<ClusterBenchResult> {
  const result: ClusterBenchResult = {
    options,
    deadSeenByAllMs: [],
    reprobedMs: [],
    statusSpreadMs: [],
    statusEndToEndMs: [],
    probesPerOriginPerInterval: [],
    rssMiB: [],
  };
  for (let run = 0; run < options.runs; run++) await oneRun(options, result);
  return result;
}
