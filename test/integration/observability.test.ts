import { strict as assert } from "node:assert";
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import {
  type AgentProcess,
  api,
  HECK_BIN,
  OriginFarm,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";
import { requireProgram } from "../helpers/require-program.js";

/** What an operator reads from a real agent: `/metrics` (checked by promtool and parsed) and its logs. */

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  type: string;
  help: string;
  samples: Sample[];
}

/**
 * A small reader of the Prometheus text format: `# HELP` and `# TYPE` lines and samples, a
 * histogram's `_bucket`, `_sum` and `_count` samples filed under their family.
 */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (!f) {
      f = { type: "untyped", help: "", samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (meta) {
      const f = family(meta[2]!);
      if (meta[1] === "TYPE") f.type = meta[3]!;
      else f.help = meta[3]!;
      continue;
    }
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!;
    }
    const name = m[1]!;
    const base = families.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "");
    family(base).samples.push({ name, labels, value: Number(m[3]) });
  }
  return families;
}

async function scrape(agent: AgentProcess): Promise<string> {
  const res = await fetch(`http://${agent.http}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  return res.text();
}

/** Runs `promtool check metrics` with `text` on stdin; resolves with its exit code and output. */
function promtoolCheck(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      output += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end(text);
  });
}

/**
 * The metrics that answer an operator's questions (docs/operations.md, "Metrics"), with their
 * type and the label values each must carry from the start.
 */
const OPERATOR_METRICS: Array<{ name: string; type: string; labels?: Record<string, string[]> }> = [
  { name: "heck_origins_by_status", type: "gauge", labels: { status: ["healthy", "unhealthy", "unknown"] } },
  {
    name: "heck_health_transitions_total",
    type: "counter",
    labels: { from: ["unknown", "healthy", "unhealthy"], to: ["healthy", "unhealthy"] },
  },
  {
    name: "heck_probe_errors_total",
    type: "counter",
    labels: {
      kind: ["timeout", "dns", "connect", "tls", "closed", "status", "body", "protocol", "denied", "other"],
    },
  },
  { name: "heck_membership_broadcast_queue", type: "gauge" },
  { name: "heck_state_gossip_queue", type: "gauge" },
  { name: "heck_state_sessions_total", type: "counter", labels: { direction: ["in", "out"] } },
  { name: "heck_state_sync_bytes_total", type: "counter", labels: { direction: ["in", "out"] } },
  { name: "heck_membership_push_pulls_total", type: "counter" },
  { name: "nodejs_eventloop_lag_seconds", type: "gauge" },
  { name: "nodejs_eventloop_lag_p99_seconds", type: "gauge" },
  { name: "heck_membership_health_score", type: "gauge" },
  {
    name: "heck_gossip_refused_total",
    type: "counter",
    labels: {
      reason: [
        "inbound_streams",
        "outbound_streams",
        "stream_too_large",
        "stream_deadline",
        "decompressed_too_large",
      ],
    },
  },
  { name: "heck_malformed_packets_total", type: "counter" },
  { name: "heck_state_refused_stamps_total", type: "counter" },
  { name: "heck_state_refused_writes_total", type: "counter" },
  { name: "heck_members", type: "gauge", labels: { status: ["alive", "suspect", "dead", "left"] } },
  { name: "heck_membership_suspicions_total", type: "counter" },
  { name: "heck_membership_refutations_total", type: "counter" },
  {
    name: "heck_confirmations_total",
    type: "counter",
    labels: { outcome: ["confirmed", "refuted", "unanswered"] },
  },
];

const value = (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number => {
  const sample = families
    .get(name)
    ?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return sample?.value ?? Number.NaN;
};

describe("metrics of a real agent", { timeout: 90_000 }, () => {
  const dir = tempDir("heck-obs-");
  const farm = new OriginFarm();
  let agent: AgentProcess;

  before(async () => {
    await farm.start();
    farm.fail("/down");
    agent = await startAgent({ name: "obs-a", dataDir: `${dir.path}/a` });
    for (const id of ["up", "down"]) {
      const res = await api(agent, "PUT", `/v1/origins/${id}`, {
        url: farm.url(`/${id}`),
        intervalMs: 500,
        timeoutMs: 500,
        healthyThreshold: 1,
        unhealthyThreshold: 1,
      });
      assert.equal(res.status, 201);
    }
    // Both origins have a verdict, the failing one counted as a status error.
    await waitFor("one origin healthy and one unhealthy on /metrics", async () => {
      const families = parseExposition(await scrape(agent));
      return (
        value(families, "heck_origins_by_status", { status: "healthy" }) === 1 &&
        value(families, "heck_origins_by_status", { status: "unhealthy" }) === 1
      );
    });
  });

  after(async () => {
    await stopAgent(agent, "SIGKILL");
    await farm.stop();
    dir.remove();
  });

  test("promtool check metrics passes on /metrics", {
    skip: requireProgram("promtool", "prometheus"),
  }, async () => {
    const text = await scrape(agent);
    const { code, output } = await promtoolCheck(text);
    assert.equal(code, 0, `promtool check metrics failed:\n${output}`);
  });

  test("the operator's metrics are there, typed, with every label value from the start", async () => {
    const families = parseExposition(await scrape(agent));
    for (const { name, type, labels } of OPERATOR_METRICS) {
      const family = families.get(name);
      assert.ok(family, `${name} missing from /metrics`);
      assert.equal(family.type, type, `${name} type`);
      assert.notEqual(family.help, "", `${name} has no help text`);
      assert.ok(family.samples.length > 0, `${name} has no samples`);
      for (const [label, values] of Object.entries(labels ?? {})) {
        const seen = new Set(family.samples.map((s) => s.labels[label]));
        for (const v of values) assert.ok(seen.has(v), `${name}{${label}="${v}"} missing`);
      }
    }
    // Only counters end in _total (promtool's rule): prom-client's summed gauges are left out.
    for (const [name, family] of families) {
      if (name.endsWith("_total")) assert.equal(family.type, "counter", `${name} is a ${family.type}`);
    }
    // The figures follow what happened: two first verdicts, failures counted by kind.
    assert.equal(value(families, "heck_health_transitions_total", { from: "unknown", to: "healthy" }), 1);
    assert.equal(value(families, "heck_health_transitions_total", { from: "unknown", to: "unhealthy" }), 1);
    assert.ok(value(families, "heck_probe_errors_total", { kind: "status" }) >= 1);
    assert.equal(value(families, "heck_probe_errors_total", { kind: "connect" }), 0);
    assert.equal(value(families, "heck_members", { status: "alive" }), 1);
  });
});

/** A port nothing listens on: bound once to find it, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("logs of a real agent", { timeout: 60_000 }, () => {
  const dir = tempDir("heck-logs-");
  let child: ChildProcess | undefined;

  after(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    dir.remove();
  });

  test("every JSON log line on stdout and stderr names the node", async () => {
    const name = "logs-a";
    const seed = `127.0.0.1:${await closedPort()}`;
    // A seed that never answers makes the agent warn and retry; debug level lets everything out.
    const proc = spawn(
      process.execPath,
      [
        HECK_BIN,
        "agent",
        "--name",
        name,
        "--bind",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        `${dir.path}/a`,
        "--profile",
        "local",
        "--log-level",
        "debug",
        "--join",
        seed,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    const stdout: string[] = [];
    const stderr: string[] = [];
    createInterface({ input: proc.stdout! }).on("line", (line) => stdout.push(line));
    createInterface({ input: proc.stderr! }).on("line", (line) => stderr.push(line));
    const exited = new Promise<number | string>((resolve) =>
      proc.once("exit", (code, signal) => resolve(code ?? signal ?? -1)),
    );

    const start = await waitFor("the start line", () => stdout[0], 20_000);
    const http = /http=(\S+)$/.exec(start)?.[1];
    assert.ok(http, start);
    // An API error and a probe that fails add lines of their own.
    await api(http, "GET", "/v1/origins/absent");
    await api(http, "PUT", "/v1/origins/nowhere", {
      url: `http://${seed}/`,
      intervalMs: 200,
      timeoutMs: 100,
    });
    await waitFor(
      "two join retries logged",
      () => stderr.filter((l) => l.includes("no seed answered")).length >= 2,
      20_000,
    );
    proc.kill("SIGTERM");
    const result = await Promise.race([
      exited,
      new Promise<string>((resolve) => setTimeout(() => resolve("still running"), 10_000).unref()),
    ]);
    assert.equal(result, 0, "the agent exits 0 on SIGTERM");

    const jsonLines = [...stdout, ...stderr].filter((line) => line.startsWith("{"));
    assert.ok(jsonLines.length >= 2, `too few log lines:\n${stderr.join("\n")}`);
    for (const line of jsonLines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      assert.equal(entry.node, name, `a log line without the node name: ${line}`);
      assert.equal(typeof entry.msg, "string", line);
      assert.ok(["debug", "info", "warn", "error"].includes(String(entry.level)), line);
    }
    // Apart from the start line the contract prints, the agent writes only JSON log lines.
    assert.deepEqual(
      [...stdout.slice(1), ...stderr].filter((line) => line.trim() !== "" && !line.startsWith("{")),
      [],
    );
  });
});
