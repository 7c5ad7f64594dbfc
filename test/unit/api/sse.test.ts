import * as assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { afterEach, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { request } from "undici";
import { buildServer } from "../../../src/api/server.js";
import { MemoryNode } from "../../helpers/memory-node.js";

const apps: FastifyInstance[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function listening(options: { apiToken?: string; sseHeartbeatMs?: number } = {}) {
  const node = new MemoryNode("node-1");
  node.addMember("node-2", 7947);
  const app = buildServer({ node, ...options });
  apps.push(app);
  await app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { node, app, base: `http://127.0.0.1:${port}` };
}

/** Reads an event stream until `done` says the text so far is enough. */
async function readUntil(body: AsyncIterable<Buffer>, done: (text: string) => boolean): Promise<string> {
  let text = "";
  for await (const chunk of body) {
    text += chunk.toString("utf8");
    if (done(text)) return text;
  }
  return text;
}

test("GET /v1/events streams health and member events as SSE", async () => {
  const { node, base } = await listening();
  node.addOrigin("www", { url: "http://127.0.0.1:9/" });
  const res = await request(`${base}/v1/events`);
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/event-stream/);
  assert.equal(res.headers["cache-control"], "no-cache, no-transform");

  const received = readUntil(res.body, (text) => text.includes("event: member"));
  // Subscriptions exist once the headers are out, so events from here on reach the client.
  node.setHealth("www", "unhealthy", { reporter: "node-2", at: new Date("2025-01-02T03:04:05.000Z") });
  node.setMemberStatus("node-2", "suspect");
  const text = await received;
  res.body.destroy();

  const events = text
    .split("\n\n")
    .filter((block) => block.startsWith("event: "))
    .map((block) => {
      const [eventLine, dataLine] = block.split("\n");
      return {
        event: eventLine?.slice("event: ".length),
        data: JSON.parse(dataLine?.slice("data: ".length) ?? ""),
      };
    });
  assert.deepEqual(events[0], {
    event: "health",
    data: {
      id: "www",
      status: "unhealthy",
      previous: "unknown",
      reporter: "node-2",
      at: "2025-01-02T03:04:05.000Z",
    },
  });
  assert.equal(events[1]?.event, "member");
  assert.equal(events[1]?.data.name, "node-2");
  assert.equal(events[1]?.data.status, "suspect");
  assert.equal(typeof events[1]?.data.at, "string");
});

test("a closed stream unsubscribes from the node", async () => {
  const { node, base } = await listening();
  const res = await request(`${base}/v1/events`);
  await readUntil(res.body, (text) => text.includes("connected"));
  assert.equal(node.listenerCount("health"), 1);
  assert.equal(node.listenerCount("member"), 1);
  res.body.destroy();
  for (let i = 0; i < 100 && node.listenerCount("health") > 0; i++)
    await new Promise((r) => setTimeout(r, 10));
  assert.equal(node.listenerCount("health"), 0);
  assert.equal(node.listenerCount("member"), 0);
});

test("a heartbeat comment keeps the stream alive", async () => {
  const { base } = await listening({ sseHeartbeatMs: 20 });
  const res = await request(`${base}/v1/events`);
  const text = await readUntil(res.body, (t) => t.includes(": heartbeat"));
  res.body.destroy();
  assert.match(text, /^: heartbeat$/m);
});

test("closing the server ends open streams and their subscriptions", async () => {
  const { node, app, base } = await listening();
  const res = await request(`${base}/v1/events`);
  let closing: Promise<void> | undefined;
  const text = await readUntil(res.body, (t) => {
    if (t.includes("connected")) closing ??= app.close();
    return false;
  });
  await closing;
  assert.match(text, /connected/);
  assert.equal(node.listenerCount("health"), 0);
});

test("with an API token, the stream takes the bearer header or ?token=", async () => {
  const { base } = await listening({ apiToken: "s3cret" });
  const refused = await request(`${base}/v1/events`);
  assert.equal(refused.statusCode, 401);
  await refused.body.text();
  const wrong = await request(`${base}/v1/events?token=nope`);
  assert.equal(wrong.statusCode, 401);
  await wrong.body.text();
  for (const [url, headers] of [
    [`${base}/v1/events?token=s3cret`, {}],
    [`${base}/v1/events`, { authorization: "Bearer s3cret" }],
  ] as const) {
    const res = await request(url, { headers });
    assert.equal(res.statusCode, 200, url);
    res.body.destroy();
  }
});
