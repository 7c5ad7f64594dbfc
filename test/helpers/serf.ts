import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { type AddressInfo, createServer } from "node:net";
import { createInterface } from "node:readline";

/**
 * Real HashiCorp Serf agents (Debian's `serf` package) on loopback, for interop tests next to
 * heck agents: started with `serf agent`, queried and told to leave through Serf's own CLI.
 */

export interface SerfAgent {
  name: string;
  /** Gossip address, HOST:PORT. */
  gossip: string;
  /** RPC address for the `serf` CLI. */
  rpc: string;
  child: ChildProcess;
  /** The agent's last output lines, for failure messages. */
  output: string[];
}

export interface SerfOptions {
  name: string;
  join?: string[];
  /** Base64 gossip key, as `serf agent -encrypt`. */
  encrypt?: string;
  /** @default "local" */
  profile?: "lan" | "wan" | "local";
}

/** A loopback port free for both TCP and UDP at the time of asking. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const udp = createSocket("udp4");
    const free = await new Promise<boolean>((resolve) => {
      udp.once("error", () => resolve(false));
      udp.bind(port, "127.0.0.1", () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (free) return port;
  }
}

/** Starts `serf agent` and resolves once its RPC answers. */
export async function startSerf(options: SerfOptions): Promise<SerfAgent> {
  const gossip = `127.0.0.1:${await freePort()}`;
  const rpc = `127.0.0.1:${await freePort()}`;
  const args = [
    "agent",
    `-node=${options.name}`,
    `-bind=${gossip}`,
    `-rpc-addr=${rpc}`,
    `-profile=${options.profile ?? "local"}`,
    "-log-level=info",
    ...(options.encrypt ? [`-encrypt=${options.encrypt}`] : []),
    ...(options.join ?? []).map((j) => `-join=${j}`),
  ];
  const child = spawn("serf", args, { stdio: ["ignore", "pipe", "pipe"] });
  const output: string[] = [];
  const keep = (line: string) => {
    output.push(line);
    if (output.length > 200) output.shift();
  };
  createInterface({ input: child.stdout! }).on("line", keep);
  createInterface({ input: child.stderr! }).on("line", keep);
  const agent: SerfAgent = { name: options.name, gossip, rpc, child, output };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serf ${options.name} exited: ${output.join("\n")}`);
    try {
      await serfMembers(agent);
      return agent;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new Error(`serf ${options.name} did not answer in 20 s: ${String(err)}\n${output.join("\n")}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function serfCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("serf", args, { timeout: 10_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`serf ${args.join(" ")}: ${err.message} ${stderr}`)) : resolve(stdout),
    ),
  );
}

/**
 * `serf keys` with `args` (`-list`, `-install KEY`, ...): its exit code and output, whatever the
 * exit code. `-list` output is parsed into key → "[n/total]" in `keys`.
 */
export function serfKeys(
  agent: SerfAgent,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; keys: Map<string, string> }> {
  return new Promise((resolve) =>
    execFile(
      "serf",
      ["keys", ...args, `-rpc-addr=${agent.rpc}`],
      { timeout: 20_000 },
      (err, stdout, stderr) => {
        const keys = new Map<string, string>();
        for (const line of stdout.split("\n")) {
          const m = /^(\S+=*)\s+(\[\d+\/\d+\])$/.exec(line.trim());
          if (m) keys.set(m[1]!, m[2]!);
        }
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr, keys });
      },
    ),
  );
}

/** `serf members` as name → status ("alive", "leaving", "left", "failed"). */
export async function serfMembers(agent: SerfAgent): Promise<Map<string, string>> {
  const out = await serfCli(["members", `-rpc-addr=${agent.rpc}`, "-format=json"]);
  const parsed = JSON.parse(out) as { members: Array<{ name: string; status: string }> };
  return new Map(parsed.members.map((m) => [m.name, m.status]));
}

/** `serf members -format=json`: each member's tags, by name. */
export async function serfTags(agent: SerfAgent): Promise<Map<string, Record<string, string>>> {
  const out = await serfCli(["members", `-rpc-addr=${agent.rpc}`, "-format=json"]);
  const parsed = JSON.parse(out) as { members: Array<{ name: string; tags: Record<string, string> }> };
  return new Map(parsed.members.map((m) => [m.name, m.tags ?? {}]));
}

/** `serf leave`: the agent leaves gracefully and exits. Resolves once the process is gone. */
export async function serfLeave(agent: SerfAgent): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) resolve();
    else agent.child.once("exit", () => resolve());
  });
  await serfCli(["leave", `-rpc-addr=${agent.rpc}`]);
  await exited;
}

/** Kills the agent with `signal` (SIGKILL by default) and waits for it to be gone. */
export function stopSerf(agent: SerfAgent, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  return new Promise((resolve) => {
    if (agent.child.exitCode !== null || agent.child.signalCode !== null) return resolve();
    agent.child.once("exit", () => resolve());
    agent.child.kill(signal);
  });
}
