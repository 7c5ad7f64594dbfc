import { type AgentProcess, api, metricValue, stopAgent, tempDir, waitFor } from "../test/helpers/cluster.js";
import { holdAll, load, rssBytes, startThree } from "./catalog.js";
import { summarize } from "./report.js";

/**
 * `npm run bench:memory`: memory per origin per node alone, measured as
 * `npm run bench:state` measures it (RSS growth of each of three agents from 100 origins to the
 * whole catalog, loaded through one node's bulk route) without the rest of that benchmark. Also
 * prints the growth of the V8 heap in use, so that what the heap holds can be told from what lies
 * outside it. Environment: HECK_BENCH_ORIGINS (default 100000), HECK_BENCH_SETTLE_MS (default
 * 10000, the wait before the second reading), HECK_BENCH_NODE_ARGS (flags for node itself, e.g.
 * `--heapsnapshot-signal=SIGUSR2`), HECK_BENCH_HOLD=1 to keep the agents up until interrupted.
 */

const ORIGINS = Number(process.env.HECK_BENCH_ORIGINS ?? 100_000);
const SETTLE_MS = Number(process.env.HECK_BENCH_SETTLE_MS ?? 10_000);
const NODE_ARGS = (process.env.HECK_BENCH_NODE_ARGS ?? "").split(" ").filter(Boolean);
interface Reading {
  rss: number;
  heapUsed: number;
  heapTotal: number;
}

async function read(agent: AgentProcess): Promise<Reading> {
  return {
    rss: rssBytes(agent.child.pid as number),
    heapUsed: await metricValue(agent, "nodejs_heap_size_used_bytes"),
    heapTotal: await metricValue(agent, "nodejs_heap_size_total_bytes"),
  };
}

const dir = tempDir("heck-bench-memory-");
const agents: AgentProcess[] = [];
try {
  const a = await startThree(dir.path, agents, NODE_ARGS);
  await waitFor(
    "3 members",
    async () => (await api<{ members: unknown[] }>(a, "GET", "/v1/members")).body.members.length === 3,
    20_000,
  );
  await load(a, 0, 100);
  await holdAll(agents, 100, 30_000);
  await new Promise((r) => setTimeout(r, 2000));
  const before = await Promise.all(agents.map(read));
  const t0 = Date.now();
  await load(a, 100, ORIGINS);
  await holdAll(agents, ORIGINS, 300_000);
  console.log(`${ORIGINS} origins on every node after ${Date.now() - t0} ms`);
  // RSS is read once a second through the settle window: where one reading falls against the
  // collections of V8 moves it by tens of megabytes, the median of ten much less.
  const windows: number[][] = agents.map(() => []);
  for (let t = 0; t < SETTLE_MS; t += 1000) {
    await new Promise((r) => setTimeout(r, 1000));
    for (const [i, x] of agents.entries()) windows[i]?.push(rssBytes(x.child.pid as number));
  }
  const after = await Promise.all(agents.map(read));
  const n = ORIGINS - 100;
  const per = (k: keyof Reading) =>
    agents.map((_, i) => ((after[i] as Reading)[k] - (before[i] as Reading)[k]) / n);
  const line = (label: string, values: number[]) =>
    console.log(
      `${label}: median ${summarize(values).median.toFixed(0)} B/origin (${values.map((v) => v.toFixed(0)).join(", ")})`,
    );
  line("RSS growth", per("rss"));
  line(
    `RSS growth, median of ${SETTLE_MS / 1000} readings`,
    agents.map((_, i) => (summarize(windows[i] as number[]).median - (before[i] as Reading).rss) / n),
  );
  line("heapUsed growth", per("heapUsed"));
  line("heapTotal growth", per("heapTotal"));
  console.log(
    `at ${ORIGINS}: RSS ${after.map((r) => (r.rss / 2 ** 20).toFixed(0)).join(", ")} MiB; heapUsed ${after.map((r) => (r.heapUsed / 2 ** 20).toFixed(0)).join(", ")} MiB`,
  );
  if (process.env.HECK_BENCH_HOLD === "1") {
    console.log(`agents: ${agents.map((x) => `${x.name} pid ${x.child.pid} http ${x.http}`).join("; ")}`);
    await new Promise<void>((resolve) => process.once("SIGINT", () => resolve()));
  }
} finally {
  await Promise.all(agents.map((x) => stopAgent(x)));
  dir.remove();
}
