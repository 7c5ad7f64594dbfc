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

test("with an API token, the page takes it as ?token= (a browser cannot send the header)", async () => {
  const app = server("s3cret");
  assert.equal((await app.inject({ method: "GET", url: "/?token=s3cret" })).statusCode, 200);
  assert.equal((await app.inject({ method: "GET", url: "/?token=wrong" })).statusCode, 401);
  assert.equal((await app.inject({ method: "GET", url: "/" })).statusCode, 401);
  const header = await app.inject({ method: "GET", url: "/", headers: { authorization: "Bearer s3cret" } });
  assert.equal(header.statusCode, 200);
});
