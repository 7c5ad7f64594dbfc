import * as assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

const apps: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function server(apiToken?: string): FastifyInstance {
  const app = buildServer(
    apiToken === undefined ? { node: new MemoryNode() } : { node: new MemoryNode(), apiToken },
  );
  apps.push(app);
  return app;
}

test("GET / serves the dashboard page", async () => {
  const res = await server().inject({ method: "GET", url: "/" });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/html/);
  assert.equal(res.headers["referrer-policy"], "no-referrer");
  assert.equal(res.headers["cache-control"], "no-store");
  assert.match(res.body, /<title>heck<\/title>/);
  assert.match(res.body, /new EventSource\(/);
});

test("with an API token, the page loads without it (to ask for it) and the data does not", async () => {
  const app = server("s3cret");
  const page = await app.inject({ method: "GET", url: "/" });
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /id="token-form"/);
  for (const url of ["/v1/self", "/v1/members", "/v1/owners", "/v1/origins", "/v1/events/recent"]) {
    assert.equal((await app.inject({ method: "GET", url })).statusCode, 401, url);
  }
  // Only the event stream takes ?token=: EventSource cannot send the header.
  assert.equal((await app.inject({ method: "GET", url: "/v1/self?token=s3cret" })).statusCode, 401);
});
