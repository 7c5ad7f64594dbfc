import * as assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { main } from "../../../src/cli/main.js";
import { MemoryNode } from "../../helpers/memory-node.js";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in process with captured output and an environment of its own. */
async function heck(
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: options.env ?? {},
    readStdin: async () => options.stdin ?? "",
  });
  return { code, stdout, stderr };
}

async function startServer(
  node: MemoryNode,
  apiToken?: string,
): Promise<{ app: FastifyInstance; http: string }> {
  const app = buildServer(apiToken === undefined ? { node } : { node, apiToken });
  await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, http: `127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

/** A loopback port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const url = "http://127.0.0.1:9/ok";

describe("against a running agent", () => {
  let node: MemoryNode;
  let app: FastifyInstance;
  let http: string;

  beforeEach(async () => {
    node = new MemoryNode("node-1");
    node.addMember("node-2", 7947, "suspect");
    ({ app, http } = await startServer(node));
  });

  afterEach(async () => {
    await app.close();
  });

  test("members prints a table, --json the API's answer", async () => {
    const human = await heck(["members", "--http", http]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^NAME\s+ADDRESS\s+STATUS\s+INCARNATION$/m);
    assert.match(human.stdout, /^node-2\s+127\.0\.0\.1:7947\s+suspect\s+1$/m);
    const json = await heck(["members", "--http", http, "--json"]);
    assert.equal(json.code, 0);
    assert.deepEqual(
      JSON.parse(json.stdout).members.map((m: { name: string }) => m.name),
      ["node-1", "node-2"],
    );
  });

  test("--http falls back to HECK_HTTP_ADDR, and accepts a URL", async () => {
    assert.equal((await heck(["members"], { env: { HECK_HTTP_ADDR: http } })).code, 0);
    assert.equal((await heck(["members", "--http", `http://${http}`])).code, 0);
  });

  test("origins add creates, then replaces; every flag reaches the spec", async () => {
    const created = await heck(["origins", "add", "www", "--url", url, "--http", http]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created www/);
    const replaced = await heck([
      "origins",
      "add",
      "www",
      "--http",
      http,
      "--json",
      "--url",
      url,
      "--method",
      "head",
      "--interval-ms",
      "1000",
      "--timeout-ms",
      "500",
      "--expect-status",
      "200,301-399",
      "--expect-status",
      "404",
      "--healthy-threshold",
      "1",
      "--unhealthy-threshold",
      "4",
      "--header",
      "X-Probe: yes: really",
      "--header",
      "Host:example.org",
      "--body-contains",
      "ok",
    ]);
    assert.equal(replaced.code, 0, replaced.stderr);
    const view = JSON.parse(replaced.stdout);
    assert.deepEqual(
      {
        method: view.method,
        intervalMs: view.intervalMs,
        timeoutMs: view.timeoutMs,
        expectStatus: view.expectStatus,
        healthyThreshold: view.healthyThreshold,
        unhealthyThreshold: view.unhealthyThreshold,
        headers: view.headers,
        bodyContains: view.bodyContains,
      },
      {
        method: "HEAD",
        intervalMs: 1000,
        timeoutMs: 500,
        expectStatus: [200, "301-399", 404],
        healthyThreshold: 1,
        unhealthyThreshold: 4,
        headers: { "X-Probe": "yes: really", Host: "example.org" },
        bodyContains: "ok",
      },
    );
    assert.equal(node.origin("www")?.method, "HEAD");
  });

  test("origins add passes the probing options of issue 8", async () => {
    const res = await heck([
      "origins",
      "add",
      "api",
      "--http",
      http,
      "--json",
      "--url",
      "https://api.example.com/health",
      "--interval-ms",
      "10000",
      "--fast-interval-ms",
      "1000",
      "--down-interval-ms",
      "30000",
      "--host-header",
      "api.internal.example",
      "--follow-redirects",
      "--fresh-connection",
      "--tls-skip-verify",
      "--tls-server-name",
      "api.example.com",
    ]);
    assert.equal(res.code, 0, res.stderr);
    const view = JSON.parse(res.stdout);
    assert.deepEqual(
      [view.fastIntervalMs, view.downIntervalMs, view.hostHeader, view.followRedirects, view.freshConnection],
      [1000, 30000, "api.internal.example", true, true],
    );
    assert.deepEqual([view.tlsSkipVerify, view.tlsServerName], [true, "api.example.com"]);
    const missing = await heck([
      "origins",
      "add",
      "x",
      "--http",
      http,
      "--url",
      url,
      "--tls-ca",
      "/nonexistent.pem",
    ]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--tls-ca/);
  });

  test("origins add --file reads a spec, flags override it, '-' reads stdin", async () => {
    const dir = mkdtempSync(join(tmpdir(), "heck-cli-"));
    try {
      const file = join(dir, "spec.json");
      writeFileSync(file, JSON.stringify({ url, intervalMs: 2000, headers: { A: "1" } }));
      const run = await heck([
        "origins",
        "add",
        "api",
        "--file",
        file,
        "--interval-ms",
        "3000",
        "--header",
        "B:2",
        "--http",
        http,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(node.origin("api")?.intervalMs, 3000);
      assert.deepEqual(node.origin("api")?.headers, { A: "1", B: "2" });
      const piped = await heck(["origins", "add", "piped", "--file", "-", "--http", http], {
        stdin: JSON.stringify({ url }),
      });
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(node.origin("piped")?.url, url);
      const missing = await heck(["origins", "add", "x", "--file", join(dir, "nope.json"), "--http", http]);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a spec the agent refuses exits 1 with its message", async () => {
    const run = await heck(["origins", "add", "www", "--url", url, "--interval-ms", "5", "--http", http]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /intervalMs/);
    const typo = await heck(["origins", "add", "w w", "--url", url, "--http", http]);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /origin id/);
  });

  test("origins add without --url or --file is bad usage (2)", async () => {
    const run = await heck(["origins", "add", "www", "--http", http]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--url or --file/);
  });

  test("a malformed flag value is bad usage (2)", async () => {
    assert.equal(
      (await heck(["origins", "add", "www", "--url", url, "--interval-ms", "soon", "--http", http])).code,
      2,
    );
    assert.equal(
      (await heck(["origins", "add", "www", "--url", url, "--header", "novalue", "--http", http])).code,
      2,
    );
    assert.equal(
      (await heck(["origins", "add", "www", "--url", url, "--method", "POST", "--http", http])).code,
      2,
    );
    assert.equal((await heck(["origins", "ls", "--status", "green", "--http", http])).code, 2);
    assert.equal((await heck(["members", "--http", "ftp://x"])).code, 2);
  });

  test("origins ls lists with filters; get shows one; rm removes", async () => {
    node.addOrigin("a", { url });
    node.addOrigin("b", { url }, "node-2");
    node.setHealth("a", "healthy", { latencyMs: 12 });

    const table = await heck(["origins", "ls", "--http", http]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^ID\s+STATUS\s+OWNER\s+REPORTER\s+LATENCY\s+CHECKED\s+URL$/m);
    assert.match(table.stdout, /^a\s+healthy\s+node-1\s+node-1\s+12ms\s+\d+s ago\s+http:/m);

    const healthy = await heck(["origins", "ls", "--status", "healthy", "--json", "--http", http]);
    assert.deepEqual(
      JSON.parse(healthy.stdout).origins.map((o: { id: string }) => o.id),
      ["a"],
    );
    const owned = await heck(["origins", "ls", "--owner", "node-2", "--json", "--http", http]);
    assert.deepEqual(
      JSON.parse(owned.stdout).origins.map((o: { id: string }) => o.id),
      ["b"],
    );

    const got = await heck(["origins", "get", "a", "--http", http]);
    assert.equal(got.code, 0);
    assert.match(got.stdout, /^status:\s+healthy$/m);
    const gotJson = await heck(["origins", "get", "a", "--json", "--http", http]);
    assert.equal(JSON.parse(gotJson.stdout).id, "a");

    const removed = await heck(["origins", "rm", "a", "--http", http]);
    assert.equal(removed.code, 0);
    assert.equal(node.origin("a"), undefined);
    const again = await heck(["origins", "rm", "a", "--http", http]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /does not exist/);
    const gone = await heck(["origins", "get", "a", "--http", http]);
    assert.equal(gone.code, 1);
  });

  test("health summarises every origin, or shows one", async () => {
    node.addOrigin("a", { url });
    node.addOrigin("b", { url });
    node.setHealth("b", "unhealthy", { error: "connect ECONNREFUSED" });
    const all = await heck(["health", "--http", http]);
    assert.equal(all.code, 0);
    assert.match(all.stdout, /^b\s+unhealthy\s+node-1.*connect ECONNREFUSED$/m);
    assert.match(all.stdout, /^0 healthy, 1 unhealthy, 1 unknown$/m);
    const one = await heck(["health", "b", "--json", "--http", http]);
    assert.equal(one.code, 0);
    const parsed = JSON.parse(one.stdout);
    assert.equal(parsed.id, "b");
    assert.equal(parsed.health.status, "unhealthy");
    const allJson = JSON.parse((await heck(["health", "--json", "--http", http])).stdout);
    assert.equal(allJson.origins.length, 2);
  });

  test("join sends the addresses; bad ones are bad usage; nobody answering exits 1", async () => {
    const run = await heck(["join", "127.0.0.1:7001,127.0.0.1:7002", "127.0.0.1:7003", "--http", http]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /joined 3 of 3 addresses/);
    assert.equal(node.joinCalls[0]?.length, 3);
    assert.equal((await heck(["join", "nowhere", "--http", http])).code, 2);
    assert.equal((await heck(["join", "--http", http])).code, 2);
    node.joinAnswers = () => 0;
    const none = await heck(["join", "127.0.0.1:7001", "--json", "--http", http]);
    assert.equal(none.code, 1);
    assert.deepEqual(JSON.parse(none.stdout), { joined: 0 });
  });

  test("leave asks the agent to leave", async () => {
    const run = await heck(["leave", "--http", http, "--json"]);
    assert.equal(run.code, 0);
    assert.deepEqual(JSON.parse(run.stdout), { status: "leaving" });
    for (let i = 0; i < 100 && node.leaveCalls === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(node.leaveCalls, 1);
  });
});

describe("with an API token", () => {
  let app: FastifyInstance;
  let http: string;

  before(async () => {
    ({ app, http } = await startServer(new MemoryNode(), "s3cret"));
  });

  after(async () => {
    await app.close();
  });

  test("no token is a refusal (1); --api-token or HECK_API_TOKEN is accepted", async () => {
    const refused = await heck(["members", "--http", http]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /API token is required/);
    assert.equal((await heck(["members", "--http", http, "--api-token", "s3cret"])).code, 0);
    assert.equal((await heck(["members", "--http", http], { env: { HECK_API_TOKEN: "s3cret" } })).code, 0);
  });
});

test("no agent at --http exits 3", async () => {
  const port = await closedPort();
  const run = await heck(["members", "--http", `127.0.0.1:${port}`]);
  assert.equal(run.code, 3);
  assert.match(run.stderr, /no agent reachable at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  assert.equal(
    (await heck(["origins", "ls", "--json"], { env: { HECK_HTTP_ADDR: `127.0.0.1:${port}` } })).code,
    3,
  );
});

test("commander's usage errors exit 2, help exits 0", async () => {
  assert.equal((await heck(["frobnicate"])).code, 2);
  assert.equal((await heck(["origins", "get"])).code, 2);
  assert.equal((await heck(["members", "--no-such-flag"])).code, 2);
  assert.equal((await heck([])).code, 2);
  const help = await heck(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /origins/);
  assert.equal((await heck(["origins", "add", "--help"])).code, 0);
  assert.equal((await heck(["--version"])).code, 0);
});

test("keygen prints a random base64 32-byte key", async () => {
  const first = await heck(["keygen"]);
  const second = await heck(["keygen"]);
  assert.equal(first.code, 0);
  assert.equal(Buffer.from(first.stdout.trim(), "base64").length, 32);
  assert.notEqual(first.stdout, second.stdout);
});
