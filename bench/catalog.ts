import { readFileSync } from "node:fs";
import { type AgentProcess, api, startAgent, waitFor } from "../test/helpers/cluster.js";

/**
 * The synthetic catalog the state benches load (`bench:state`, `bench:memory`), and how they wait
 * for it. Origins go through one node's bulk route in batches of {@link BATCH}.
 */

export const BATCH = 10_000;
/** Each origin is probed once an hour, so that probing stays light while the state is measured. */
export const CATALOG_INTERVAL_MS = 3_600_000;

/**
 * Origins pointed at the discard port: refused at once, so every probe fails the same way. One
 * failure turns an origin unhealthy, unconfirmed: each origin of the catalog carries a health
 * record from its first probe on, as in a catalog that has run for a while, and the status then
 * stays put.
 */
export function specFor(i: number, intervalMs = CATALOG_INTERVAL_MS) {
  return {
    url: `http://127.0.0.1:9/o${i}`,
    intervalMs,
    timeoutMs: 1000,
    unhealthyThreshold: 1,
    confirm: false,
  };
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid: number): number {
  return 1024 * Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
}

export async function originCount(agent: AgentProcess): Promise<number> {
  const res = await api<{ origins: number }>(agent, "GET", "/v1/self");
  return res.body.origins;
}

/** Origins `o<from>` up to `o<to - 1>`, through `agent`'s bulk route. */
export async function load(
  agent: AgentProcess,
  from: number,
  to: number,
  intervalMs = CATALOG_INTERVAL_MS,
): Promise<void> {
  for (let start = from; start < to; start += BATCH) {
    const origins = [];
    for (let i = start; i < Math.min(to, start + BATCH); i++)
      origins.push({ id: `o${i}`, ...specFor(i, intervalMs) });
    const res = await api(agent, "POST", "/v1/origins", { origins });
    if (res.status !== 200) throw new Error(`bulk load: ${res.status} ${JSON.stringify(res.body)}`);
  }
}

/** Waits until every agent counts `n` origins; returns how long that took. */
export async function holdAll(agents: AgentProcess[], n: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  await waitFor(
    `${agents.length} agents to hold ${n} origins`,
    async () => {
      for (const a of agents) if ((await originCount(a)) !== n) return false;
      return true;
    },
    timeoutMs,
    100,
  );
  return Date.now() - t0;
}

/**
 * Agents a, b and c, joined through a, pushed onto `agents` as they start (for the cleanup);
 * returns a. `nodeArgs` go to node itself (e.g. --heapsnapshot-signal).
 */
export async function startThree(
  path: string,
  agents: AgentProcess[],
  nodeArgs: string[] = [],
): Promise<AgentProcess> {
  const a = await startAgent({ name: "a", dataDir: `${path}/a`, nodeArgs });
  agents.push(a);
  for (const name of ["b", "c"])
    agents.push(await startAgent({ name, dataDir: `${path}/${name}`, join: [a.gossip], nodeArgs }));
  return a;
}
