import { api, startAgent, stopAgent, tempDir, waitFor } from "../test/helpers/cluster.js";

const N = Number(process.env.N ?? 20000);
const dir = tempDir("heck-exp-");
const a = await startAgent({
  name: "a",
  dataDir: `${dir.path}/a`,
  nodeArgs: ["--cpu-prof", "--cpu-prof-dir=/tmp/exp/a"],
});
const b = await startAgent({ name: "b", dataDir: `${dir.path}/b`, join: [a.gossip] });
for (let s = 0; s < N; s += 10000) {
  const origins = [];
  for (let i = s; i < Math.min(N, s + 10000); i++)
    origins.push({ id: `o${i}`, url: `http://127.0.0.1:9/o${i}`, intervalMs: 60000, timeoutMs: 1000 });
  await api(a, "POST", "/v1/origins", { origins });
}
const t0 = Date.now();
await waitFor(
  "b",
  async () => (await api<{ origins: number }>(b, "GET", "/v1/self")).body.origins === N,
  120000,
  100,
);
console.log("b has all", Date.now() - t0);
const t1 = Date.now();
const d = await startAgent({
  name: "d",
  dataDir: `${dir.path}/d`,
  join: [a.gossip],
  nodeArgs: ["--cpu-prof", "--cpu-prof-dir=/tmp/exp/d"],
});
await waitFor(
  "d",
  async () => (await api<{ origins: number }>(d, "GET", "/v1/self")).body.origins === N,
  120000,
  100,
);
console.log("d has all", Date.now() - t1);
const m = await (await fetch(`http://${d.http}/metrics`)).text();
console.log(
  m
    .split("\n")
    .filter((l) => /lag_max|state_|gossip_bytes|heap_size_used|resident/.test(l))
    .join("\n"),
);
await Promise.all([a, b, d].map((x) => stopAgent(x)));
dir.remove();
