import * as assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

const spec = { url: "http://127.0.0.1:9/ok" };
const apps: FastifyInstance[] = [];

function server(options: { apiToken?: string; bodyLimitBytes?: number; batchBodyLimitBytes?: number } = {}) {
  const node = new MemoryNode();
  const app = buildServer({ node, ...options });
  apps.push(app);
  return { node, app };
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

describe("request bodies", () => {
  test("malformed JSON is a 400 invalid_json", async () => {
    const { app } = server();
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      headers: { "content-type": "application/json" },
      payload: '{"url": "http://x",',
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, "invalid_json");
  });

  test("a prototype-poisoning body is refused", async () => {
    const { app } = server();
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      headers: { "content-type": "application/json" },
      payload: '{"url": "http://127.0.0.1/", "__proto__": {"admin": true}}',
    });
    assert.equal(res.statusCode, 400);
  });

  test("a body that is not JSON is a 415", async () => {
    const { app } = server();
    for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "application/xml"]) {
      const res = await app.inject({
        method: "PUT",
        url: "/v1/origins/a",
        headers: { "content-type": contentType },
        payload: "url=http://x",
      });
      assert.equal(res.statusCode, 415, contentType);
      assert.equal(res.json().error.code, "unsupported_media_type");
    }
  });

  test("a body without a content type is a 415", async () => {
    const { app, node } = server();
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      payload: Buffer.from(JSON.stringify(spec)),
    });
    assert.equal(res.statusCode, 415);
    assert.equal(node.origin("a"), undefined);
  });

  test("JSON with a charset parameter is accepted", async () => {
    const { app } = server();
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      headers: { "content-type": "application/json; charset=utf-8" },
      payload: JSON.stringify(spec),
    });
    assert.equal(res.statusCode, 201);
  });

  test("an oversized body is a 413 with the error JSON (1 MiB by default)", async () => {
    const { app } = server();
    const padding = "x".repeat(1024 * 1024);
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      payload: { ...spec, bodyContains: padding },
    });
    assert.equal(res.statusCode, 413);
    assert.equal(res.json().error.code, "body_too_large");
  });

  test("the batch route has its own, larger limit", async () => {
    const { app } = server({ bodyLimitBytes: 1000, batchBodyLimitBytes: 4000 });
    const origins = Array.from({ length: 20 }, (_, i) => ({ id: `o${i}`, ...spec }));
    const batch = await app.inject({ method: "POST", url: "/v1/origins", payload: { origins } });
    assert.equal(batch.statusCode, 200);
    const single = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      payload: { ...spec, bodyContains: "x".repeat(1000) },
    });
    assert.equal(single.statusCode, 413);
    const bigBatch = Array.from({ length: 100 }, (_, i) => ({ id: `o${i}`, ...spec }));
    const tooBig = await app.inject({ method: "POST", url: "/v1/origins", payload: { origins: bigBatch } });
    assert.equal(tooBig.statusCode, 413);
    assert.equal(tooBig.json().error.code, "body_too_large");
  });
});

describe("API token", () => {
  test("without a token set, no header is needed", async () => {
    const { app } = server();
    assert.equal((await app.inject({ method: "GET", url: "/v1/members" })).statusCode, 200);
  });

  test("a missing or wrong token is a 401 on every route but the static page, known or not", async () => {
    const { app } = server({ apiToken: "s3cret" });
    for (const [method, url] of [
      ["GET", "/v1/members"],
      ["GET", "/v1/self"],
      ["GET", "/v1/origins"],
      ["PUT", "/v1/origins/a"],
      ["POST", "/v1/leave"],
      ["GET", "/metrics"],
      ["GET", "/v1/owners"],
      ["GET", "/v1/origins/a/history"],
      ["GET", "/v1/events/recent"],
      ["GET", "/v1/events"],
      ["GET", "/no/such/route"],
    ] as const) {
      const missing = await app.inject({ method, url });
      assert.equal(missing.statusCode, 401, `${method} ${url}`);
      assert.equal(missing.json().error.code, "unauthorized");
      assert.equal(missing.headers["www-authenticate"], 'Bearer realm="heck"');
      const wrong = await app.inject({ method, url, headers: { authorization: "Bearer s3cret!" } });
      assert.equal(wrong.statusCode, 401, `${method} ${url}`);
    }
  });

  test("the right bearer token is accepted, the scheme case-insensitively", async () => {
    const { app } = server({ apiToken: "s3cret" });
    for (const authorization of ["Bearer s3cret", "bearer s3cret"]) {
      const res = await app.inject({ method: "GET", url: "/v1/members", headers: { authorization } });
      assert.equal(res.statusCode, 200, authorization);
    }
    const basic = await app.inject({
      method: "GET",
      url: "/v1/members",
      headers: { authorization: "Basic s3cret" },
    });
    assert.equal(basic.statusCode, 401);
  });

  test("GET /healthz needs no token", async () => {
    const { app } = server({ apiToken: "s3cret" });
    const res = await app.inject({ method: "GET", url: "/healthz" });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { status: "ok" });
  });

  test("an unauthenticated body is refused before it is parsed", async () => {
    const { app, node } = server({ apiToken: "s3cret" });
    const res = await app.inject({
      method: "PUT",
      url: "/v1/origins/a",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    assert.equal(res.statusCode, 401);
    assert.equal(node.origin("a"), undefined);
  });

  test("?token= is not accepted by the API routes", async () => {
    const { app } = server({ apiToken: "s3cret" });
    assert.equal((await app.inject({ method: "GET", url: "/v1/members?token=s3cret" })).statusCode, 401);
  });
});
