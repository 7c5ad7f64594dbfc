import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { waitFor } from "../test/helpers/cluster.js";

/**
 * The reference: HashiCorp Serf (memberlist underneath) on the same machine, same cluster size and
 * timing profile, kill -9 of one agent, time until every survivor lists it as failed. Skipped when
 * the `serf` binary is absent.
 */

const run = promisify(execFile);
export const SERF = "/usr/bin/serf";

export function serfAvailable(): boolean {
  return existsSync(SERF);
}

interface SerfAgent {
  name: string;
  rpc: string;
  child: ChildProcess;
}

async function memberStatus(agent: SerfAgent, name: string): Promise<string | undefined> {
  const { stdout } = await run(SERF, ["members", `-rpc-addr=${agent.rpc}`, "-format=json"]);
  const members = (JSON.parse(stdout) as { members: Array<{ name: string; status: string }> }).members;
  return members.find((m) => m.name === name)?.status;
}

function kill(agent: SerfAgent, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) return resolve();
    agent.child.once("exit", () => resolve());
    agent.child.kill(signal);
  });
}

/** One run: `nodes` Serf agents with `-profile=local`; returns ms from kill -9 to failed everywhere. */
async function oneRun(nodes: number, basePort: number): Promise<number> {
  const agents: SerfAgent[] = [];
  try {
    for (let i = 0; i < nodes; i++) {
      const name = `serf-${i}`;
      const rpc = `127.0.0.1:${basePort + 100 + i}`;
      const args = [
        "agent",
        `-node=${name}`,
        `-bind=127.0.0.1:${basePort + i}`,
        `-rpc-addr=${rpc}`,
        "-profile=local",
        "-log-level=err",
      ];
      if (i > 0) args.push(`-retry-join=127.0.0.1:${basePort}`, "-retry-interval=200ms");
      const child = spawn(SERF, args, { stdio: "ignore" });
      agents.push({ name, rpc, child });
    }
    await waitFor(
      "serf agents alive everywhere",
      async () => {
        for (const a of agents) {
          const { stdout } = await run(SERF, ["members", `-rpc-addr=${a.rpc}`, "-status=alive"]);
          if (stdout.trim().split("\n").length !== nodes) return false;
        }
        return true;
      },
      30_000,
      200,
    );
    const victim = agents[nodes - 1]!;
    await kill(victim, "SIGKILL");
    const killedAt = Date.now();
    const survivors = agents.slice(0, -1);
    const seenAt = await waitFor(
      "victim failed on every survivor",
      async () => {
        for (const a of survivors) if ((await memberStatus(a, victim.name)) !== "failed") return false;
        return Date.now();
      },
      60_000,
      10,
    );
    return seenAt - killedAt;
  } finally {
    await Promise.all(agents.map((a) => kill(a, "SIGKILL")));
  }
}

export async function serfDetectionBench(nodes: number, runs: number): Promise<number[]> {
  const results: number[] = [];
  for (let i = 0; i < runs; i++) results.push(await oneRun(nodes, 27_946 + i * 10));
  return results;
}
