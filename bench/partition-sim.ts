import { profile } from "../src/core/membership/config.js";
import { suspicionBounds } from "../src/core/membership/suspicion.js";
import { SimCluster } from "../test/sim/sim-network.js";
import { summarize, table, writeSection } from "./report.js";

/**
 * `node --import tsx bench/partition-sim.ts`: the 3|2 partition of issue 7 (item 3) on the
 * simulated network, seeded, so every figure reruns exactly. Five nodes with the `local` profile
 * converge, then split 3|2 with no packet crossing; each trial records when every node of each
 * side first marked every node of the other side dead, and whether some suspicion ran its full
 * maximum timeout (no confirmation at all). Prints a table and writes its section of
 * docs/benchmarks.md. A measurement, never an assertion.
 */

const TRIALS = Number(process.env.HECK_BENCH_TRIALS ?? 30);
const config = profile("local");

interface Trial {
  allDeadMs: number;
  unconfirmed: boolean;
}

function trial(seed: number): Trial {
  const cluster = new SimCluster({ size: 5, seed, config });
  cluster.joinAll();
  const names = cluster.names;
  if (cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 60_000, 100) === undefined) {
    throw new Error(`seed ${seed}: the cluster did not converge`);
  }
  cluster.net.runFor(2_000);
  const sides = [names.slice(0, 3), names.slice(3)];
  cluster.net.partition(sides);
  const splitAt = cluster.net.now;
  cluster.net.runFor(40_000);
  const { maxMs } = suspicionBounds(config, names.length);
  let allDeadMs = 0;
  let unconfirmed = false;
  for (const observer of names) {
    for (const member of names) {
      if (sides[0]!.includes(observer) === sides[0]!.includes(member)) continue;
      const dead = cluster.firstEvent(observer, member, "dead", splitAt);
      const suspect = cluster.firstEvent(observer, member, "suspect", splitAt);
      allDeadMs = Math.max(allDeadMs, dead === undefined ? Number.POSITIVE_INFINITY : dead - splitAt);
      // A suspicion that lasted its maximum (less a probe timeout of slack) was never confirmed.
      if (dead !== undefined && suspect !== undefined && dead - suspect >= maxMs - config.probeTimeoutMs)
        unconfirmed = true;
    }
  }
  cluster.stopAll();
  return { allDeadMs, unconfirmed };
}

const trials = Array.from({ length: TRIALS }, (_, i) => trial(i + 1));
const s = summarize(trials.map((t) => t.allDeadMs / 1000));
const unconfirmed = trials.filter((t) => t.unconfirmed).length;
const body = table(
  ["split 3 / 2, 5 nodes, local profile, simulated", "median", "min", "max", "trials"],
  [
    [
      "every node marks the other side dead (s)",
      s.median.toFixed(1),
      s.min.toFixed(1),
      s.max.toFixed(1),
      TRIALS,
    ],
    ["trials where a suspicion ran its full maximum unconfirmed", unconfirmed, "", "", TRIALS],
  ],
);
console.log(body);
writeSection(
  "partition-sim",
  `## Partition recognition on the simulated network\n\nWritten by \`bench/partition-sim.ts\` (seeds 1..${TRIALS}, virtual time; see docs/membership.md).\n\n${body}`,
);
