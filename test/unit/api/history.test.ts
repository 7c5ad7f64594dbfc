import * as assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

let node: MemoryNode;
let app: FastifyInstance;

beforeEach(() => {
  node = new MemoryNode("node-1");
  node.addMember("node-2", 7947);
  node.addMember("node-3", 7948, "dead");
  app = buildServer({ node });
});

afterEach(async () => {
  await app.close();
});

const spec = { url: "http://127.0.0.1:9/" };

describe("GET /v1/owners", () => {
  test("counts origins per owner, owners without origins included, in name order", async () => {
    node.addOrigin("a", spec, "node-2");
    node.addOrigin("b", spec, "node-2");
    node.addOrigin("c", spec, "node-1");
    node.setHealth("a", "healthy");
    node.setHealth("b", "unhealthy");
    const res = await app.inject({ method: "GET", url: "/v1/owners" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      owners: [
        { name: "node-1", origins: 1, healthy: 0, unhealthy: 0, unknown: 1 },
        { name: "node-2", origins: 2, healthy: 1, unhealthy: 1, unknown: 0 },
      ],
    });
  });

  test("needs the token like every other route", async () => {
    const secured = buildServer({ node, apiToken: "t0k" });
    try {
      assert.equal((await secured.inject({ method: "GET", url: "/v1/owners" })).statusCode, 401);
      const ok = await secured.inject({
        method: "GET",
        url: "/v1/owners",
        headers: { authorization: "Bearer t0k" },
      });
      assert.equal(ok.statusCode, 200);
      // The query token is only for what a browser cannot send headers with.
      assert.equal((await secured.inject({ method: "GET", url: "/v1/owners?token=t0k" })).statusCode, 401);
    } finally {
      await secured.close();
    }
  });
});

describe("GET /v1/origins/:id/history", () => {
  test("answers the recorded latency and the transitions", async () => {
    node.addOrigin("a", spec);
    const at = Date.now() - 10_000;
    node.recordProbe("a", { at, ms: 42, ok: false });
    node.setHealth("a", "unhealthy", { reporter: "node-2", at: new Date(at) });
    const res = await app.inject({ method: "GET", url: "/v1/origins/a/history" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      latency: [{ at: new Date(at).toISOString(), ms: 42, ok: false }],
      transitions: [
        { at: new Date(at).toISOString(), status: "unhealthy", previous: "unknown", reporter: "node-2" },
      ],
    });
  });

  test("an origin never probed here has empty lists", async () => {
    node.addOrigin("a", spec);
    const res = await app.inject({ method: "GET", url: "/v1/origins/a/history" });
    assert.deepEqual(res.json(), { latency: [], transitions: [] });
  });

  test("404 for an absent origin, 400 for an invalid id", async () => {
    const missing = await app.inject({ method: "GET", url: "/v1/origins/nope/history" });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, "not_found");
    const bad = await app.inject({ method: "GET", url: "/v1/origins/a%20b/history" });
    assert.equal(bad.statusCode, 400);
  });
});

describe("GET /v1/events/recent", () => {
  test("answers health and member events oldest first, with their kind", async () => {
    node.addOrigin("a", spec);
    node.setHealth("a", "healthy");
    node.setMemberStatus("node-2", "suspect");
    const res = await app.inject({ method: "GET", url: "/v1/events/recent" });
    assert.equal(res.statusCode, 200);
    const events = res.json().events;
    assert.deepEqual(
      events.map((e: { kind: string }) => e.kind),
      ["health", "member"],
    );
    assert.equal(events[0].id, "a");
    assert.equal(events[0].status, "healthy");
    assert.equal(events[1].name, "node-2");
    assert.equal(events[1].status, "suspect");
  });

  test("?limit keeps the newest events", async () => {
    node.setMemberStatus("node-2", "suspect");
    node.setMemberStatus("node-2", "alive");
    const res = await app.inject({ method: "GET", url: "/v1/events/recent?limit=1" });
    assert.deepEqual(
      res.json().events.map((e: { status: string }) => e.status),
      ["alive"],
    );
  });

  test("a limit out of range or an unknown parameter is refused", async () => {
    for (const query of ["limit=0", "limit=501", "limit=x", "limit=1&limit=2", "since=3"]) {
      const res = await app.inject({ method: "GET", url: `/v1/events/recent?${query}` });
      assert.equal(res.statusCode, 400, query);
    }
  });
});

describe("GET /v1/origins?q=", () => {
  test("keeps ids containing the text, case-insensitively, and pages through them", async () => {
    for (const id of ["web-1", "WEB-2", "db-1", "web-3", "cache-web"]) node.addOrigin(id, spec);
    const first = await app.inject({ method: "GET", url: "/v1/origins?q=web&limit=2" });
    assert.deepEqual(
      first.json().origins.map((o: { id: string }) => o.id),
      ["WEB-2", "cache-web"],
    );
    const cursor = first.json().nextCursor;
    const second = await app.inject({ method: "GET", url: `/v1/origins?q=web&limit=2&cursor=${cursor}` });
    assert.deepEqual(
      second.json().origins.map((o: { id: string }) => o.id),
      ["web-1", "web-3"],
    );
  });

  test("combines with the status filter", async () => {
    node.addOrigin("web-1", spec);
    node.addOrigin("web-2", spec);
    node.setHealth("web-2", "unhealthy");
    const res = await app.inject({ method: "GET", url: "/v1/origins?q=web&status=unhealthy" });
    assert.deepEqual(
      res.json().origins.map((o: { id: string }) => o.id),
      ["web-2"],
    );
  });
});
