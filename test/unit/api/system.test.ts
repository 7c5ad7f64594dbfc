import * as assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

let node: MemoryNode;
let app: FastifyInstance;

beforeEach(() => {
  node = new MemoryNode("node-1", 7946);
  node.addMember("node-2", 7947, "alive");
  node.addMember("node-0", 7945, "suspect");
  node.addMember("node-3", 7948, "left");
  app = buildServer({ node });
});

afterEach(async () => {
  await app.close();
});

test("GET /healthz answers ok", async () => {
  const res = await app.inject({ method: "GET", url: "/healthz" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: "ok" });
});

test("GET /v1/self answers the node's summary with counts", async () => {
  node.addOrigin("a", { url: "http://127.0.0.1:9/" });
  node.addOrigin("b", { url: "http://127.0.0.1:9/" }, "node-2");
  const res = await app.inject({ method: "GET", url: "/v1/self" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    name: "node-1",
    version: "0.0.0-test",
    gossipAddress: "127.0.0.1:7946",
    httpAddress: "127.0.0.1:8700",
    members: { alive: 2, suspect: 1, dead: 0, left: 1 },
    origins: 2,
    owned: 1,
  });
});

test("GET /v1/members lists every member, self included, sorted by name", async () => {
  const res = await app.inject({ method: "GET", url: "/v1/members" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json().members, [
    { name: "node-0", address: "127.0.0.1:7945", status: "suspect", incarnation: 1 },
    { name: "node-1", address: "127.0.0.1:7946", status: "alive", incarnation: 1 },
    { name: "node-2", address: "127.0.0.1:7947", status: "alive", incarnation: 1 },
    { name: "node-3", address: "127.0.0.1:7948", status: "left", incarnation: 1 },
  ]);
});

describe("POST /v1/join", () => {
  test("joins the parsed addresses and answers how many answered", async () => {
    node.joinAnswers = () => 1;
    const res = await app.inject({
      method: "POST",
      url: "/v1/join",
      payload: { addresses: ["127.0.0.1:7001", "[::1]:7002"] },
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { joined: 1 });
    assert.deepEqual(node.joinCalls, [
      [
        { host: "127.0.0.1", port: 7001 },
        { host: "::1", port: 7002 },
      ],
    ]);
  });

  test("a bad address is refused naming its index; nothing is joined", async () => {
    const res = await app.inject({
      method: "POST",
      url: "/v1/join",
      payload: { addresses: ["127.0.0.1:7001", "nowhere"] },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.field, "addresses[1]");
    assert.equal(node.joinCalls.length, 0);
  });

  test("an empty list, a missing list or an unknown field is refused", async () => {
    for (const payload of [{ addresses: [] }, {}, { addresses: ["127.0.0.1:1"], seeds: [] }]) {
      const res = await app.inject({ method: "POST", url: "/v1/join", payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
    }
  });
});

test("POST /v1/leave answers 202, then leaves", async () => {
  const res = await app.inject({ method: "POST", url: "/v1/leave" });
  assert.equal(res.statusCode, 202);
  assert.deepEqual(res.json(), { status: "leaving" });
  await tick();
  assert.equal(node.leaveCalls, 1);
});

test("POST /v1/leave with a JSON content type and no body still works", async () => {
  const res = await app.inject({
    method: "POST",
    url: "/v1/leave",
    headers: { "content-type": "application/json" },
  });
  assert.equal(res.statusCode, 202);
});

test("GET /metrics answers Prometheus text with heck's metrics", async () => {
  node.metricSet.probes.inc({ result: "success" });
  node.metricSet.members.set({ status: "alive" }, 3);
  const res = await app.inject({ method: "GET", url: "/metrics" });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  for (const name of [
    "heck_members",
    "heck_probes_total",
    "heck_probe_duration_seconds",
    "heck_probe_lateness_seconds",
    "heck_owned_origins",
    "heck_origins",
    "heck_gossip_messages_total",
    "heck_gossip_bytes_total",
    "heck_malformed_packets_total",
    "heck_gossip_refused_total",
    "process_cpu_user_seconds_total",
  ]) {
    assert.match(res.body, new RegExp(`^# TYPE ${name} `, "m"), name);
  }
  assert.match(res.body, /^heck_probes_total\{result="success"\} 1$/m);
  assert.match(res.body, /^heck_probes_total\{result="failure"\} 0$/m);
  assert.match(res.body, /^heck_members\{status="alive"\} 3$/m);
  assert.match(res.body, /^heck_gossip_refused_total\{reason="stream_too_large"\} 0$/m);
});

test("two nodes in one process keep separate metrics", async () => {
  const other = new MemoryNode("node-9");
  other.metricSet.malformedPackets.inc(5);
  const mine = await app.inject({ method: "GET", url: "/metrics" });
  assert.match(mine.body, /^heck_malformed_packets_total 0$/m);
  assert.match(await other.metrics.metrics(), /^heck_malformed_packets_total 5$/m);
});

test("an unknown route answers 404 with the error JSON", async () => {
  const res = await app.inject({ method: "GET", url: "/v1/nothing?x=1" });
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), { error: { code: "not_found", message: "no route GET /v1/nothing" } });
  const wrongMethod = await app.inject({ method: "PATCH", url: "/v1/origins/a" });
  assert.equal(wrongMethod.statusCode, 404);
  assert.equal(wrongMethod.json().error.code, "not_found");
});

test("a failure inside the node is a 500 that hides the internals", async () => {
  node.members = () => {
    throw new Error("SQLITE_BUSY at /var/lib/heck/db");
  };
  const res = await app.inject({ method: "GET", url: "/v1/members" });
  assert.equal(res.statusCode, 500);
  assert.equal(res.json().error.code, "internal");
  assert.doesNotMatch(res.body, /SQLITE/);
});
