import { runStateScenario } from "../test/sim/state-scenario.js";
import { machineLine, table, writeSection } from "./report.js";

/**
 * `npm run sim:state`: the replicated state's long run on the simulated network at full size
 * (virtual time; see test/sim/state-scenario.ts). The test suite runs the same scenario with fewer
 * origins. Environment: HECK_SIM_NODES (default 100), HECK_SIM_ORIGINS (default 100000).
 */

const nodes = Number(process.env.HECK_SIM_NODES ?? 100);
const origins = Number(process.env.HECK_SIM_ORIGINS ?? 100_000);
const options = {
  seed: 7,
  nodes,
  origins,
  lossRate: 0.1,
  minutesBefore: 2,
  partitionMinutes: 5,
  minutesAfter: 2,
};
const r = runStateScenario(options);
const rows = [
  ["writes (the load, then 1% of the origins changed per simulated minute)", r.writes],
  ["virtual ms from the end of the load until every replica held the catalog", r.loadSpreadMs],
  ["virtual ms from the heal until every replica held the same writes", r.convergeAfterHealMs ?? "never"],
  ["acknowledged writes missing on some replica, or overwritten ones kept", r.mismatches.length],
  ["streams opened (sync requests and chunks)", r.streams],
  ["real seconds the run took", (r.realMs / 1000).toFixed(0)],
];
const body = table(["figure", "value"], rows);
console.log(body);
if (r.mismatches.length > 0) console.log(r.mismatches.slice(0, 10).join("\n"));
writeSection(
  "sim:state",
  `## Replicated state, simulated (\`npm run sim:state\`)

${nodes} nodes on the simulated network (virtual time, \`local\` profile, 10% packet loss on every link),
${origins} origins loaded through one node, then 1% of them changed per minute (9 in 10 puts, 1 in 10
deletes, from random nodes) for 2 minutes, through a 5-minute partition into two halves with writes on
both sides, and 2 minutes after the heal. Every write the model says survives (a write survives
unless a later write to its key was made by a node that had seen it) must be held by every replica,
and nothing else. ${machineLine()}

${body}

All replicas live in one process, so memory grows with nodes x origins: the run's resident memory
peaked at ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(1)} GiB.
`,
);
