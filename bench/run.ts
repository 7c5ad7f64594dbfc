import { clusterBench } from "./cluster.js";
import { machineLine, summarize, writeSection } from "./report.js";
import { serfAvailable, serfDetectionBench } from "./serf.js";

/**
 * `npm run bench`: prints the cluster figures as a table and writes them to docs/benchmarks.md.
 * Medians with min and max over the runs; these are measurements, never assertions.
 */

const runs = Number(process.env.HECK_BENCH_RUNS ?? 3);
const options = { nodes: 5, origins: 50, intervalMs: 500, windowMs: 10_000, runs };

const fmt = (n: number, digits: number) => n.toFixed(digits);

const result = await clusterBench(options);
const serf = serfAvailable() ? await serfDetectionBench(options.nodes, runs) : [];
const rows: Array<[string, number[], number]> = [
  ["kill -9 seen dead by every survivor (ms)", result.deadSeenByAllMs, 0],
  ...(serf.length > 0
    ? ([
        ["reference: Serf, same size and profile, kill -9 seen failed by every survivor (ms)", serf, 0],
      ] as Array<[string, number[], number]>)
    : []),
  ["dead node's origins probed again (ms after kill)", result.reprobedMs, 0],
  ["status change reaches every node (ms after the owner's change)", result.statusSpreadMs, 0],
  ["status change on every node (ms after the origin failed)", result.statusEndToEndMs, 0],
  ["probes per origin per interval, steady state (goal 1.0)", result.probesPerOriginPerInterval, 3],
  ["RSS per agent (MiB)", result.rssMiB, 1],
];

const header = "| figure | median | min | max | samples |\n|---|---:|---:|---:|---:|";
const lines = rows.map(([name, values, digits]) => {
  const s = summarize(values);
  return `| ${name} | ${fmt(s.median, digits)} | ${fmt(s.min, digits)} | ${fmt(s.max, digits)} | ${values.length} |`;
});
const table = [header, ...lines].join("\n");
console.log(table);

const doc = `Measured by \`npm run bench\` (\`bench/run.ts\`), which starts real \`heck agent\` processes on loopback
and real local origin servers, then writes this file. Figures are whole-cluster timings seen from
outside through the HTTP API (polled every 10-20 ms), so they include up to one poll of delay.

### Cluster: ${options.nodes} nodes, \`--profile local\`, ${options.origins} origins at \`intervalMs\` ${options.intervalMs}

Runs: ${runs}. ${machineLine()}
Thresholds 1/1 so that one failed probe flips the status. Steady-state probes are counted at the
origin servers over ${options.windowMs / 1000} s per run. RSS is read from /proc for every agent after the window.

${table}

The Serf row runs Debian's \`serf\` agents (memberlist underneath) with \`-profile=local\` in the same
cluster size, polled with \`serf members\` (about 10 ms per call, one survivor after another), so
it carries a little more polling delay than heck's row. It is left out when \`serf\` is not installed.

What bounds the figures: with the \`local\` profile a silent node is suspected after one probe
round (1 s interval, 200 ms timeout, one indirect check) and declared dead after the Lifeguard
suspicion timeout of 3 x max(1, log10(n)) x 1 s = 3 s once another member confirms the suspicion
(up to 6 times that without confirmations). Its origins are probed again on the first schedule
tick after the survivors drop it from the owner set. Status changes ride on the next gossip round
(100 ms) and spread epidemically.
`;
writeSection("bench", `## Cluster figures (\`npm run bench\`)\n\n${doc}`);
console.log("\nwritten to docs/benchmarks.md");
