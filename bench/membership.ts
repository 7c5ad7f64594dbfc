import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { api, HECK_BIN, OriginFarm, tempDir } from "../test/helpers/cluster.js";
import { freePort } from "../test/helpers/serf.js";
import { machineLine, summarize, table, writeSection } from "./report.js";

/**
 * `npm run bench:membership`: heck next to HashiCorp Serf (Debian's `serf`), the same scenario
 * for both in one run, alternating. Real agents, real processes; a measurement, never an
 * assertion. Rows:
 *
 * - kill -9 of one agent of 5 and of 10 (`lan`): until every survivor shows it dead (Serf: failed);
 * - join of 10 (`lan`): from the moment every agent answers its API until every agent lists all 10 alive;
 * - a 3 / 2 partition (`local`), five agents in their own network namespaces on one bridge, the
 *   split made by resolving the other side's addresses to a MAC address nobody has (silent loss):
 *   until every node shows every node of the other side dead; then the heal: until every list is
 *   whole, and polls with a list not whole in the 20 s after;
 * - one agent of 5 (`lan`) stopped 400 ms of every second (SIGSTOP / SIGCONT) for 60 s: members
 *   shown dead that were not, by the running agents and by the paused one;
 * - graceful leave (`local`), 20 in a row of 5 agents: until every other agent shows the leaver
 *   left; for heck also the longest an origin of the leaver waits for its new owner's probe.
 *
 * HECK_BENCH_TRIALS (default 3) trials per row and system; the namespaces need root and `ip`.
 */

const TRIALS = Number(process.env.HECK_BENCH_TRIALS ?? 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Profile = "lan" | "local";
type Kind = "heck" | "serf";

interface Node {
  name: string;
  gossip: string;
  child: ChildProcess;
  /** name → "alive" | "suspect" | "dead" | "left" (Serf's failed shown as dead, leaving as alive). */
  members(): Promise<Map<string, string>>;
  /** heck's HTTP API address (heck only). */
  http?: string;
}

interface Placement {
  /** Network namespace to run in; loopback when absent. */
  ns?: string;
  host: string;
  /** Gossip port; any free one when absent (7946 in a namespace). */
  port?: number;
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function stop(node: Node, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  return new Promise((resolve) => {
    if (exited(node.child)) return resolve();
    node.child.once("exit", () => resolve());
    // A stopped process must be continued to act on SIGTERM.
    node.child.kill("SIGCONT");
    node.child.kill(signal);
  });
}

function command(place: Placement, program: string, args: string[]): [string, string[]] {
  return place.ns ? ["ip", ["netns", "exec", place.ns, program, ...args]] : [program, args];
}

async function startHeck(
  name: string,
  join: string[],
  profile: Profile,
  dir: string,
  place: Placement,
): Promise<Node> {
  const port = place.port ?? (place.ns ? 7946 : await freePort());
  const httpPort = place.ns ? 8080 : 0;
  const args = [
    HECK_BIN,
    "agent",
    "--name",
    name,
    "--bind",
    `${place.host}:${port}`,
    "--http",
    `${place.host}:${httpPort}`,
    "--data-dir",
    `${dir}/${name}`,
    "--profile",
    profile,
    "--log-level",
    "error",
    ...(place.ns ? ["--insecure-gossip"] : []),
    ...(join.length ? ["--join", join.join(",")] : []),
  ];
  const [prog, argv] = command(place, process.execPath, args);
  const child = spawn(prog, argv, { stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`heck ${name} did not start`)), 20_000);
    createInterface({ input: child.stdout! }).once("line", (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    child.once("exit", (code) => reject(new Error(`heck ${name} exited with ${code}`)));
  });
  const m = /gossip=(\S+) http=(\S+)/.exec(line);
  if (!m) throw new Error(`unexpected start line ${line}`);
  const agent = { name, gossip: m[1]!, http: m[2]!, dataDir: "", child, stderr: [] };
  return {
    name,
    gossip: agent.gossip,
    child,
    http: agent.http,
    members: async () => {
      const res = await api<{ members: Array<{ name: string; status: string }> }>(
        agent,
        "GET",
        "/v1/members",
      );
      return new Map(res.body.members.map((x) => [x.name, x.status]));
    },
  };
}

function serfCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("serf", args, { timeout: 10_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
}

async function startSerf(name: string, join: string[], profile: Profile, place: Placement): Promise<Node> {
  const port = place.port ?? (place.ns ? 7946 : await freePort());
  const rpc = `${place.host}:${place.ns ? 7373 : await freePort()}`;
  const args = [
    "agent",
    `-node=${name}`,
    `-bind=${place.host}:${port}`,
    `-rpc-addr=${rpc}`,
    `-profile=${profile}`,
    "-log-level=err",
    ...join.map((j) => `-join=${j}`),
  ];
  const [prog, argv] = command(place, "serf", args);
  const child = spawn(prog, argv, { stdio: "ignore" });
  const node: Node = {
    name,
    gossip: `${place.host}:${port}`,
    child,
    members: async () => {
      const out = await serfCli(["members", `-rpc-addr=${rpc}`, "-format=json"]);
      const parsed = JSON.parse(out) as { members: Array<{ name: string; status: string }> };
      const norm = (s: string) => (s === "failed" ? "dead" : s === "leaving" ? "alive" : s);
      return new Map(parsed.members.map((x) => [x.name, norm(x.status)]));
    },
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited(child)) throw new Error(`serf ${name} exited`);
    try {
      await node.members();
      return node;
    } catch {
      if (Date.now() > deadline) throw new Error(`serf ${name} did not answer`);
      await sleep(50);
    }
  }
}

function start(
  kind: Kind,
  name: string,
  join: string[],
  profile: Profile,
  dir: string,
  place: Placement = { host: "127.0.0.1" },
): Promise<Node> {
  return kind === "heck" ? startHeck(name, join, profile, dir, place) : startSerf(name, join, profile, place);
}

async function views(nodes: Node[]): Promise<Map<string, string>[]> {
  return Promise.all(nodes.map((n) => n.members().catch(() => new Map<string, string>())));
}

/** Polls until `done` holds for every observer's view; returns Date.now() then. */
async function until(
  what: string,
  observers: Node[],
  done: (view: Map<string, string>, observer: Node) => boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<number> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const vs = await views(observers);
    if (vs.every((v, i) => done(v, observers[i]!))) return Date.now();
    if (Date.now() > end) {
      const shown = vs.map(
        (v, i) => `${observers[i]!.name}: ${[...v].map(([k, x]) => `${k}=${x}`).join(" ")}`,
      );
      throw new Error(`timed out: ${what}\n${shown.join("\n")}`);
    }
    await sleep(everyMs);
  }
}

/** Starts n agents joining the first; returns them once every agent lists all n alive. */
async function cluster(
  kind: Kind,
  n: number,
  profile: Profile,
  dir: string,
  prefix: string,
): Promise<Node[]> {
  const nodes: Node[] = [];
  try {
    nodes.push(await start(kind, `${prefix}0`, [], profile, dir));
    for (let i = 1; i < n; i++)
      nodes.push(await start(kind, `${prefix}${i}`, [nodes[0]!.gossip], profile, dir));
    await until("all alive", nodes, (v) => nodes.every((x) => v.get(x.name) === "alive"), 30_000);
    return nodes;
  } catch (err) {
    await Promise.all(nodes.map((x) => stop(x)));
    throw err;
  }
}

// -------------------------------------------------------------------------------------------------
// Rows

async function crash(kind: Kind, n: number, dir: string): Promise<number> {
  const nodes = await cluster(kind, n, "lan", dir, `${kind}-c${n}-`);
  try {
    await sleep(2_000);
    const victim = nodes[n - 1]!;
    await stop(victim);
    const killedAt = Date.now();
    const survivors = nodes.slice(0, -1);
    const seen = new Set<string>();
    const at = await until(
      "victim dead everywhere",
      survivors,
      (v, o) => {
        const s = v.get(victim.name);
        if (s === "dead" || s === undefined) seen.add(o.name);
        return seen.has(o.name);
      },
      60_000,
      20,
    );
    return at - killedAt;
  } finally {
    await Promise.all(nodes.map((x) => stop(x)));
  }
}

/** Join of 10: every agent started at once, each joining the first; from all answering to all listing 10 alive. */
async function join10(kind: Kind, dir: string): Promise<number> {
  const n = 10;
  const seedPort = await freePort();
  const nodes: Node[] = [];
  try {
    // The first binds a known port so that the others can be started at once, joining it.
    const first =
      kind === "heck" ? startHeckAt(`${kind}-j-0`, seedPort, dir) : startSerfAt(`${kind}-j-0`, seedPort);
    const rest = Array.from({ length: n - 1 }, (_, i) =>
      start(kind, `${kind}-j-${i + 1}`, [`127.0.0.1:${seedPort}`], "lan", dir),
    );
    const all = await Promise.allSettled([first, ...rest]);
    for (const r of all) if (r.status === "fulfilled") nodes.push(r.value);
    if (nodes.length !== n) throw new Error("an agent did not start");
    const answering = Date.now();
    const at = await until(
      "all 10 alive",
      nodes,
      (v) => nodes.every((x) => v.get(x.name) === "alive"),
      60_000,
      20,
    );
    return at - answering;
  } finally {
    await Promise.all(nodes.map((x) => stop(x)));
  }
}

function startHeckAt(name: string, port: number, dir: string): Promise<Node> {
  return startHeck(name, [], "lan", dir, { host: "127.0.0.1", port });
}

function startSerfAt(name: string, port: number): Promise<Node> {
  return startSerf(name, [], "lan", { host: "127.0.0.1", port });
}

/**
 * One agent of 5 stopped 400 ms of every second for `ms`: dead verdicts about members that were
 * not dead, those of the four running agents and those of the paused one apart.
 */
async function sigstop(kind: Kind, dir: string, ms: number): Promise<{ byOthers: number; byPaused: number }> {
  const nodes = await cluster(kind, 5, "lan", dir, `${kind}-s-`);
  try {
    await sleep(2_000);
    const slow = nodes[4]!;
    let running = true;
    let byOthers = 0;
    let byPaused = 0;
    const last = new Map<string, string>();
    const watch = async (o: Node) => {
      while (running) {
        const v = await o.members().catch(() => undefined);
        if (v) {
          for (const x of nodes) {
            const s = v.get(x.name) ?? "gone";
            const key = `${o.name}>${x.name}`;
            if (s === "dead" && last.get(key) !== "dead") {
              if (o === slow) byPaused++;
              else byOthers++;
            }
            last.set(key, s);
          }
        }
        await sleep(100);
      }
    };
    const watchers = nodes.map(watch);
    const end = Date.now() + ms;
    while (Date.now() < end) {
      slow.child.kill("SIGSTOP");
      await sleep(400);
      slow.child.kill("SIGCONT");
      await sleep(600);
    }
    await sleep(5_000);
    running = false;
    await Promise.all(watchers);
    return { byOthers, byPaused };
  } finally {
    await Promise.all(nodes.map((x) => stop(x)));
  }
}

/** Origins of the leave row (heck only): each probed every ORPHAN_INTERVAL_MS on one local origin. */
const ORPHAN_ORIGINS = 100;
const ORPHAN_INTERVAL_MS = 2000;

/**
 * Graceful leaves in a row of 5 agents (`local`), the leaver restarted after each: ms until all
 * others show it left (`visibleMs`). For heck, with ORPHAN_ORIGINS origins on a local HTTP origin
 * that records each probe and its node: per leave, the longest wait of an origin the leaver owned
 * (its last probe before the leave came from the leaver), from that probe to the first probe by
 * another node (`orphanMs`).
 */
async function leaves(
  kind: Kind,
  dir: string,
  count: number,
): Promise<{ visibleMs: number[]; orphanMs: number[] }> {
  const nodes = await cluster(kind, 5, "local", dir, `${kind}-l-`);
  const out: number[] = [];
  const orphanMs: number[] = [];
  const farm = kind === "heck" ? new OriginFarm() : undefined;
  try {
    if (farm) {
      await farm.start();
      const origins = Array.from({ length: ORPHAN_ORIGINS }, (_, i) => ({
        id: `l-${i}`,
        url: farm.url(`/l-${i}`),
        intervalMs: ORPHAN_INTERVAL_MS,
      }));
      const res = await api(nodes[0]!.http!, "POST", "/v1/origins", { origins });
      if (res.status !== 200) throw new Error(`origins: ${res.status}`);
    }
    for (let i = 0; i < count; i++) {
      const index = 1 + (i % 4);
      const leaver = nodes[index]!;
      const others = nodes.filter((x) => x !== leaver);
      await until("all alive", nodes, (v) => nodes.every((x) => v.get(x.name) === "alive"), 30_000);
      // With origins: two intervals, so that every origin is probed on its owner's cadence.
      await sleep(farm ? 2 * ORPHAN_INTERVAL_MS + 500 : 1_000);
      const leftAt = Date.now();
      // heck leaves on SIGTERM; Serf on SIGINT (its SIGTERM exits without leaving by default).
      await stop(leaver, kind === "heck" ? "SIGTERM" : "SIGINT");
      const at = await until(
        "leaver left everywhere",
        others,
        (v) => v.get(leaver.name) === "left",
        30_000,
        20,
      );
      out.push(at - leftAt);
      if (farm) {
        const lastBefore = new Map<string, { at: number; node: string | undefined }>();
        for (const p of farm.probes) if (p.at <= leftAt) lastBefore.set(p.path, p);
        const owned = [...lastBefore].filter(([, p]) => p.node === leaver.name).map(([path]) => path);
        const firstAfter = (path: string) =>
          farm.probes.find((p) => p.path === path && p.at > leftAt && p.node !== leaver.name)?.at;
        const end = Date.now() + 30_000;
        while (owned.some((path) => firstAfter(path) === undefined) && Date.now() < end) await sleep(20);
        const waits = owned.map(
          (path) => (firstAfter(path) ?? Number.POSITIVE_INFINITY) - (lastBefore.get(path)?.at as number),
        );
        orphanMs.push(Math.max(0, ...waits));
      }
      const port = Number(leaver.gossip.split(":").at(-1));
      nodes[index] = await start(kind, leaver.name, [nodes[0]!.gossip], "local", dir, {
        host: "127.0.0.1",
        port,
      });
    }
    return { visibleMs: out, orphanMs };
  } finally {
    await Promise.all(nodes.map((x) => stop(x)));
    await farm?.stop();
  }
}

// -------------------------------------------------------------------------------------------------
// Partition in network namespaces

const NS = (i: number) => `hkbench${i}`;
const ADDR = (i: number) => `10.77.0.${i + 1}`;

function ip(args: string[]): void {
  execFileSync("ip", args, { stdio: "ignore" });
}

function netnsUp(n: number): void {
  netnsDown(n);
  ip(["link", "add", "hkbenchbr", "type", "bridge"]);
  ip(["addr", "add", "10.77.0.254/24", "dev", "hkbenchbr"]);
  ip(["link", "set", "hkbenchbr", "up"]);
  for (let i = 0; i < n; i++) {
    ip(["netns", "add", NS(i)]);
    ip(["link", "add", `hkbv${i}`, "type", "veth", "peer", "name", `hkbp${i}`]);
    ip(["link", "set", `hkbv${i}`, "master", "hkbenchbr"]);
    ip(["link", "set", `hkbv${i}`, "up"]);
    ip(["link", "set", `hkbp${i}`, "netns", NS(i)]);
    ip(["netns", "exec", NS(i), "ip", "addr", "add", `${ADDR(i)}/24`, "dev", `hkbp${i}`]);
    ip(["netns", "exec", NS(i), "ip", "link", "set", `hkbp${i}`, "up"]);
    ip(["netns", "exec", NS(i), "ip", "link", "set", "lo", "up"]);
  }
}

function netnsDown(n: number): void {
  for (let i = 0; i < n; i++) {
    try {
      ip(["netns", "del", NS(i)]);
    } catch {}
  }
  try {
    ip(["link", "del", "hkbenchbr"]);
  } catch {}
}

/** A MAC address no interface has: frames sent to it are dropped without a word. */
const NOWHERE = "02:00:00:00:00:99";

/**
 * Splits (or heals): in each namespace, the addresses of the other side resolve to {@link NOWHERE},
 * so everything sent across is silently lost, both ways (no iptables on this machine; a blackhole
 * route would fail the sends at once, which older memberlist does not count as a failed probe).
 */
function split(sides: number[][], on: boolean): void {
  for (const side of sides) {
    for (const i of side) {
      for (const other of sides) {
        if (other === side) continue;
        for (const j of other) {
          const dev = `hkbp${i}`;
          ip(
            on
              ? [
                  "netns",
                  "exec",
                  NS(i),
                  "ip",
                  "neigh",
                  "replace",
                  ADDR(j),
                  "lladdr",
                  NOWHERE,
                  "dev",
                  dev,
                  "nud",
                  "permanent",
                ]
              : ["netns", "exec", NS(i), "ip", "neigh", "del", ADDR(j), "dev", dev],
          );
        }
      }
    }
  }
}

interface PartitionTrial {
  recognisedMs: number;
  wholeMs: number;
  flaps: number;
}

async function partition(kind: Kind, dir: string): Promise<PartitionTrial> {
  const n = 5;
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const place = { ns: NS(i), host: ADDR(i) };
      nodes.push(await start(kind, `${kind}-p-${i}`, i === 0 ? [] : [nodes[0]!.gossip], "local", dir, place));
    }
    const names = nodes.map((x) => x.name);
    await until("all alive", nodes, (v) => names.every((x) => v.get(x) === "alive"), 30_000);
    await sleep(2_000);
    const sides = [
      [0, 1, 2],
      [3, 4],
    ];
    const sideOf = (name: string) => (names.indexOf(name) < 3 ? 0 : 1);
    split(sides, true);
    const splitAt = Date.now();
    const seen = new Set<string>();
    const recognised = await until(
      "the other side dead everywhere",
      nodes,
      (v, o) => {
        let all = true;
        for (const m of names) {
          if (sideOf(m) === sideOf(o.name)) continue;
          const s = v.get(m);
          if (s === "dead" || s === undefined) seen.add(`${o.name}>${m}`);
          if (!seen.has(`${o.name}>${m}`)) all = false;
        }
        return all;
      },
      Number(process.env.HECK_BENCH_SPLIT_LIMIT_MS ?? 90_000),
      50,
    );
    await sleep(2_000);
    split(sides, false);
    const healedAt = Date.now();
    const whole = await until(
      "whole after the heal",
      nodes,
      (v) => names.every((x) => v.get(x) === "alive"),
      120_000,
      50,
    );
    let flaps = 0;
    const end = Date.now() + 20_000;
    while (Date.now() < end) {
      const vs = await views(nodes);
      if (!vs.every((v) => names.every((x) => v.get(x) === "alive"))) flaps++;
      await sleep(100);
    }
    return { recognisedMs: recognised - splitAt, wholeMs: whole - healedAt, flaps };
  } finally {
    await Promise.all(nodes.map((x) => stop(x)));
  }
}

// -------------------------------------------------------------------------------------------------

const fmtS = (ms: number[]) => {
  const s = summarize(ms.map((x) => x / 1000));
  return `${s.median.toFixed(2)} (${s.min.toFixed(2)}-${s.max.toFixed(2)})`;
};

const dir = tempDir("heck-bench-membership-");
const rows: Array<Array<string | number>> = [];
const only = process.env.HECK_BENCH_ROWS?.split(",");
const want = (row: string) => only === undefined || only.includes(row);
const t0 = Date.now();
try {
  for (const n of [5, 10]) {
    if (!want(`crash${n}`)) continue;
    const r: Record<Kind, number[]> = { heck: [], serf: [] };
    for (let t = 0; t < TRIALS; t++)
      for (const kind of ["heck", "serf"] as const) r[kind].push(await crash(kind, n, dir.path));
    rows.push([`kill -9 of 1 of ${n} (lan): dead on every survivor (s)`, fmtS(r.heck), fmtS(r.serf), TRIALS]);
    console.log(rows.at(-1)?.join(" | "));
  }
  if (want("join")) {
    const r: Record<Kind, number[]> = { heck: [], serf: [] };
    for (let t = 0; t < TRIALS; t++)
      for (const kind of ["heck", "serf"] as const) r[kind].push(await join10(kind, dir.path));
    rows.push([
      "join of 10 started at once (lan): every list whole, from all answering (s)",
      fmtS(r.heck),
      fmtS(r.serf),
      TRIALS,
    ]);
    console.log(rows.at(-1)?.join(" | "));
  }
  if (want("partition")) {
    const r: Record<Kind, PartitionTrial[]> = { heck: [], serf: [] };
    netnsUp(5);
    try {
      for (let t = 0; t < TRIALS; t++)
        for (const kind of ["heck", "serf"] as const) r[kind].push(await partition(kind, dir.path));
    } finally {
      netnsDown(5);
    }
    const pick = (k: Kind, f: (p: PartitionTrial) => number) => r[k].map(f);
    rows.push([
      "split 3 / 2 (local, namespaces): other side dead on every node (s)",
      fmtS(pick("heck", (p) => p.recognisedMs)),
      fmtS(pick("serf", (p) => p.recognisedMs)),
      TRIALS,
    ]);
    rows.push([
      "heal after it: every list whole (s)",
      fmtS(pick("heck", (p) => p.wholeMs)),
      fmtS(pick("serf", (p) => p.wholeMs)),
      TRIALS,
    ]);
    rows.push([
      "polls (every 100 ms for 20 s) with a list not whole after that",
      pick("heck", (p) => p.flaps).join(", "),
      pick("serf", (p) => p.flaps).join(", "),
      TRIALS,
    ]);
    for (const row of rows.slice(-3)) console.log(row.join(" | "));
  }
  if (want("sigstop")) {
    const seconds = Number(process.env.HECK_BENCH_SIGSTOP_S ?? 60);
    const r: Record<Kind, Array<{ byOthers: number; byPaused: number }>> = { heck: [], serf: [] };
    for (let t = 0; t < TRIALS; t++)
      for (const kind of ["heck", "serf"] as const)
        r[kind].push(await sigstop(kind, dir.path, seconds * 1000));
    rows.push([
      `1 of 5 (lan) stopped 400 ms of every second for ${seconds} s: members shown dead that were not, by the 4 others (per trial)`,
      r.heck.map((x) => x.byOthers).join(", "),
      r.serf.map((x) => x.byOthers).join(", "),
      TRIALS,
    ]);
    rows.push([
      "the same, by the paused agent (per trial)",
      r.heck.map((x) => x.byPaused).join(", "),
      r.serf.map((x) => x.byPaused).join(", "),
      TRIALS,
    ]);
    for (const row of rows.slice(-2)) console.log(row.join(" | "));
  }
  if (want("leave")) {
    const count = Number(process.env.HECK_BENCH_LEAVES ?? 20);
    const heck = await leaves("heck", dir.path, count);
    const serf = await leaves("serf", dir.path, count);
    rows.push([
      `graceful leave, ${count} in a row of 5 (local): left on every other agent (s)`,
      fmtS(heck.visibleMs),
      fmtS(serf.visibleMs),
      count,
    ]);
    rows.push([
      `the same, heck with ${ORPHAN_ORIGINS} origins every ${ORPHAN_INTERVAL_MS / 1000} s: longest wait of a leaver's origin, its last probe to the new owner's first (s; goal <= ${(ORPHAN_INTERVAL_MS + 1000) / 1000})`,
      fmtS(heck.orphanMs),
      "",
      count,
    ]);
    for (const row of rows.slice(-2)) console.log(row.join(" | "));
  }
} finally {
  dir.remove();
}

const body = table(["scenario", "heck median (min-max)", "Serf median (min-max)", "trials"], rows);
console.log(`\n${body}\n(total ${Math.round((Date.now() - t0) / 1000)} s)`);
if (only === undefined) {
  writeSection(
    "bench:membership",
    `## Membership next to Serf\n\nWritten by \`npm run bench:membership\` (bench/membership.ts): real heck agents and Debian's Serf ${execFileSync("serf", ["version"]).toString().split("\n")[0]?.trim()}, alternating in one run. ${machineLine()}\n\nThe partition runs five agents in their own network namespaces on one bridge and splits them by pointing, in each namespace, the other side's addresses at a MAC address that no interface has: every packet across is lost silently, both ways, until the entries are removed. Members are read through heck's API and \`serf members\` every 20 to 100 ms; a member that a node has already forgotten counts as seen dead.\n\n${body}`,
  );
}
