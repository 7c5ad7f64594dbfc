import { type ChildProcess, spawn } from "node:child_process";
import {
  type AgentProcess,
  allAlive,
  api,
  firstSeenByAll,
  isRunning,
  type ProbeRecord,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../test/helpers/cluster.js";

/**
 * The probed origin, in a process of its own: it stamps each probe as it arrives and reports it
 * over IPC. In the benchmark's own process, which polls every survivor's member list every 20 ms
 * meanwhile, the burst of probes that follows a handover would be stamped as late as that
 * process got round to them, up to some 20 ms.
 */
class ChildFarm {
  readonly probes: ProbeRecord[] = [];
  #child: ChildProcess | undefined;
  port = 0;

  async start(): Promise<void> {
    const script = `
      const server = require("node:http").createServer((req, res) => {
        process.send([req.url, req.headers["heck-node"], Date.now()]);
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      });
      server.keepAliveTimeout = 1000;
      server.listen(0, "127.0.0.1", () => process.send(server.address().port));
      process.on("disconnect", () => process.exit(0));`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
    this.#child = child;
    this.port = await new Promise<number>((resolve, reject) => {
      child.once("message", (port) => resolve(port as number));
      child.once("exit", (code) => reject(new Error(`origin process exited with ${code}`)));
    });
    child.on("message", (m) => {
      const [path, node, at] = m as [string, string | undefined, number];
      this.probes.push({ path, node, userAgent: undefined, at });
    });
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }
}

/**
 * The unprobed gap after a kill -9 (issue 8, item 3), with real agents: `nodes` agents on loopback
 * under `profile`, `origins` origins on one local HTTP origin that records when each probe
 * arrives and from which node (its Heck-Node header). Once every origin has been probed for a few
 * intervals, one agent is killed with SIGKILL. For each origin it owned (the one whose last probe
 * before the kill came from it), the gap is the time from that last probe to the first probe
 * after the kill, by whichever node took it over. Failure detection is measured in the same
 * trial: from the kill until every survivor lists the agent dead (through `/v1/members`).
 */

export interface HandoverOptions {
  nodes: number;
  origins: number;
  intervalMs: number;
  profile: "lan" | "local";
}

export interface HandoverTrial {
  /** From the kill until every survivor lists the killed agent dead. */
  detectionMs: number;
  /** One per origin the killed agent owned: its last probe before the kill to its first after. */
  gapsMs: number[];
  /** Of those, the gaps' parts after the kill: the kill to the first probe after it. */
  afterKillMs: number[];
}

export async function handoverTrial(options: HandoverOptions): Promise<HandoverTrial> {
  const dir = tempDir("heck-handover-");
  const farm = new ChildFarm();
  await farm.start();
  const agents: AgentProcess[] = [];
  try {
    const first = await startAgent({
      name: "h-0",
      dataDir: `${dir.path}/0`,
      profile: options.profile,
    });
    agents.push(first);
    for (let i = 1; i < options.nodes; i++) {
      agents.push(
        await startAgent({
          name: `h-${i}`,
          dataDir: `${dir.path}/${i}`,
          profile: options.profile,
          join: [first.gossip],
        }),
      );
    }
    await allAlive(agents, options.nodes);
    const ids = Array.from({ length: options.origins }, (_, i) => `g-${i}`);
    const put = await api(first, "POST", "/v1/origins", {
      origins: ids.map((id) => ({ id, url: farm.url(`/${id}`), intervalMs: options.intervalMs })),
    });
    if (put.status !== 200) throw new Error(`upsert failed: ${put.status} ${JSON.stringify(put.body)}`);
    // Steady state: every origin probed, then two more intervals on its owner's cadence.
    await waitFor(
      "every origin probed",
      () => {
        const probed = new Set(farm.probes.map((p) => p.path));
        return ids.every((id) => probed.has(`/${id}`));
      },
      30_000,
    );
    await new Promise((r) => setTimeout(r, 2 * options.intervalMs + 500));

    const victim = agents[agents.length - 1] as AgentProcess;
    await stopAgent(victim, "SIGKILL");
    const killedAt = Date.now();
    const lastBefore = new Map<string, number>();
    for (const p of farm.probes) {
      if (p.at <= killedAt && p.node !== undefined) lastBefore.set(p.path, p.at);
    }
    const owned = ids
      .map((id) => `/${id}`)
      .filter((path) => {
        const last = farm.probes.findLast((p) => p.path === path && p.at <= killedAt);
        return last?.node === victim.name;
      });
    const survivors = agents.filter(isRunning);
    const deadAt = await firstSeenByAll(survivors, victim.name, "dead");
    const firstAfter = (path: string) =>
      farm.probes.find((p) => p.path === path && p.at > killedAt && p.node !== victim.name)?.at;
    await waitFor(
      "every origin of the killed agent probed again",
      () => owned.every((path) => firstAfter(path) !== undefined),
      60_000,
      20,
    );
    return {
      detectionMs: deadAt - killedAt,
      gapsMs: owned.map((path) => (firstAfter(path) as number) - (lastBefore.get(path) as number)),
      afterKillMs: owned.map((path) => (firstAfter(path) as number) - killedAt),
    };
  } finally {
    await Promise.all(agents.map((a) => stopAgent(a, "SIGKILL")));
    await farm.stop();
    dir.remove();
  }
}
