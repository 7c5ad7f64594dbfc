import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import { buildServer } from "../../../src/api/server.js";
import {
  HeckApiError,
  HeckClient,
  type HeckEvent,
  HeckUnreachableError,
  parseEventStream,
} from "../../../src/client/index.js";
import { MemoryNode } from "../../helpers/memory-node.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** Resolves once `check` is true, or fails after `ms`. */
async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("HeckClient against a real HTTP server", () => {
  let node: MemoryNode;
  let app: FastifyInstance;
  let client: HeckClient;

  beforeEach(async () => {
    node = new MemoryNode("node-1");
    node.addMember("node-2", 7947);
    app = buildServer({ node, sseHeartbeatMs: 50 });
    await app.listen({ host: "127.0.0.1", port: 0 });
    client = new HeckClient({ baseUrl: `127.0.0.1:${(app.server.address() as AddressInfo).port}` });
  });

  afterEach(async () => {
    await client.close();
    await app.close();
  });

  test("origins() follows the cursors over every page, in id order, with the filters", async () => {
    for (let i = 0; i < 25; i++) {
      node.addOrigin(
        `o-${String(i).padStart(2, "0")}`,
        { url: "http://127.0.0.1:9/" },
        i % 2 ? "node-2" : "node-1",
      );
    }
    for (const id of ["o-03", "o-04", "o-17"]) node.setHealth(id, "unhealthy");
    const all = [];
    for await (const origin of client.origins({ pageSize: 4 })) all.push(origin.id);
    assert.equal(all.length, 25);
    assert.deepEqual(all, [...all].sort());
    const unhealthy = await client.listOrigins({ status: "unhealthy", pageSize: 1 });
    assert.deepEqual(
      unhealthy.map((o) => o.id),
      ["o-03", "o-04", "o-17"],
    );
    const owned = await client.listOrigins({ owner: "node-2", status: "unhealthy", pageSize: 2 });
    assert.deepEqual(
      owned.map((o) => o.id),
      ["o-03", "o-17"],
    );
    const first = await client.originsPage({ limit: 10 });
    assert.equal(first.origins.length, 10);
    assert.equal(typeof first.nextCursor, "string");
  });

  test("every route has a typed call", async () => {
    assert.deepEqual(await client.healthz(), { status: "ok" });
    assert.equal((await client.self()).name, "node-1");
    assert.deepEqual(
      (await client.members()).map((m) => m.name),
      ["node-1", "node-2"],
    );
    const put = await client.putOrigin("www", { url: "http://127.0.0.1:9/" });
    assert.equal(put.created, true);
    assert.equal(put.origin.intervalMs, 5000);
    assert.equal(
      (await client.putOrigin("www", { url: "http://127.0.0.1:9/", intervalMs: 1000 })).created,
      false,
    );
    assert.equal(await client.upsertOrigins([{ id: "a", url: "http://127.0.0.1:9/a" }]), 1);
    assert.equal((await client.getOrigin("a")).url, "http://127.0.0.1:9/a");
    assert.deepEqual(await client.originHistory("a"), { latency: [], transitions: [] });
    assert.ok((await client.owners()).some((o) => o.name === "node-1"));
    node.setHealth("a", "healthy");
    assert.deepEqual(
      (await client.recentEvents(5)).map((e) => e.kind),
      ["health"],
    );
    assert.match(await client.metrics(), /# TYPE/);
    assert.equal((await client.openapi()).openapi, "3.1.0");
    await client.deleteOrigin("a");
    assert.equal(await client.join(["127.0.0.1:7000"]), 1);
    assert.deepEqual(await client.leave(), { status: "leaving" });
  });

  test("a refusal is a HeckApiError with the status and the API's error body", async () => {
    const missing = await client.getOrigin("nope").catch((err: unknown) => err);
    assert.ok(missing instanceof HeckApiError);
    assert.equal(missing.status, 404);
    assert.equal(missing.code, "not_found");
    assert.match(missing.message, /nope/);
    const batch = await client
      .upsertOrigins([
        { id: "ok", url: "http://127.0.0.1:9/" },
        { id: "bad", url: "ftp://x/" },
      ])
      .catch((err: unknown) => err);
    assert.ok(batch instanceof HeckApiError);
    assert.equal(batch.status, 400);
    assert.equal(batch.details[0]?.index, 1);
    assert.equal(batch.body.field, "origins[1].url");
  });

  test("events() yields typed health and member events until the signal aborts", async () => {
    node.addOrigin("www", { url: "http://127.0.0.1:9/" });
    const stop = new AbortController();
    const seen: HeckEvent[] = [];
    let opened = false;
    const loop = (async () => {
      for await (const event of client.events({ signal: stop.signal, onOpen: () => (opened = true) })) {
        seen.push(event);
      }
    })();
    await until("the stream to open", () => opened);
    node.setHealth("www", "unhealthy", { reporter: "node-2" });
    node.setMemberStatus("node-2", "suspect");
    await until("two events", () => seen.length >= 2);
    const [health, member] = seen;
    assert.ok(health?.kind === "health");
    assert.equal(health.id, "www");
    assert.equal(health.status, "unhealthy");
    assert.equal(health.previous, "unknown");
    assert.equal(health.reporter, "node-2");
    assert.ok(member?.kind === "member");
    assert.equal(member.name, "node-2");
    assert.equal(member.status, "suspect");
    stop.abort();
    await loop;
    await until("the server to drop the subscription", () => node.listenerCount("health") === 0);
  });

  test("events() ends when the agent closes the stream; an unreachable agent throws HeckUnreachableError", async () => {
    let opened = false;
    const loop = (async () => {
      let n = 0;
      for await (const _ of client.events({ onOpen: () => (opened = true) })) n++;
      return n;
    })();
    await until("the stream to open", () => opened);
    await app.close();
    assert.equal(await loop, 0);

    const nobody = new HeckClient({ baseUrl: "127.0.0.1:9" });
    try {
      await assert.rejects(nobody.self(), HeckUnreachableError);
      await assert.rejects(async () => {
        for await (const _ of nobody.events()) break;
      }, HeckUnreachableError);
    } finally {
      await nobody.close();
    }
  });
});

describe("the event stream parser", () => {
  let server: Server;
  let base: string;
  /** What the raw server sends, chunk by chunk. */
  let chunks: string[] = [];

  before(async () => {
    server = createServer(async (_req, res) => {
      res.writeHead(200, { "content-type": "text/event-stream" });
      for (const chunk of chunks) {
        res.write(chunk);
        await new Promise((r) => setTimeout(r, 5));
      }
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test("reads events split anywhere, CRLF and CR line ends, comments, and skips unknown kinds", async () => {
    const health = {
      id: "a",
      status: "healthy",
      previous: "unknown",
      reporter: "n",
      at: "2025-01-01T00:00:00.000Z",
    };
    const text =
      `retry: 2000\r\n: hello\r\n\r\n` +
      `event: health\r\ndata: ${JSON.stringify(health)}\r\n\r\n` +
      `event: other\ndata: {}\n\n` +
      `: heartbeat\n\n` +
      `event: member\rdata: {"name":"m","status":"dead",\rdata: "at":"2025-01-01T00:00:01.000Z"}\r\r`;
    // Every split point between two chunks, a CR and its LF separated included.
    chunks = [];
    for (let i = 0; i < text.length; i += 7) chunks.push(text.slice(i, i + 7));
    const client = new HeckClient({ baseUrl: base });
    try {
      const events: HeckEvent[] = [];
      for await (const event of client.events()) events.push(event);
      assert.deepEqual(events, [
        { kind: "health", ...health },
        { kind: "member", name: "m", status: "dead", at: "2025-01-01T00:00:01.000Z" },
      ]);
    } finally {
      await client.close();
    }
    const messages = [];
    for await (const m of parseEventStream(
      (async function* () {
        yield "data: one\r";
        yield "\ndata: two\r\n\r";
        yield "\n";
      })(),
    ))
      messages.push(m);
    assert.deepEqual(messages, [{ event: "message", data: "one\ntwo", id: "" }]);
  });
});

test("the package exports heck/client with its types, from dist", {
  skip: !existsSync(`${ROOT}dist/client/index.js`) && "run npm run build first",
}, () => {
  const pkg = spawnSync(
    process.execPath,
    ["-p", 'JSON.stringify(require("./package.json").exports["./client"])'],
    { cwd: ROOT, encoding: "utf8" },
  );
  const target = JSON.parse(pkg.stdout) as { types: string; default: string };
  assert.ok(existsSync(`${ROOT}${target.types}`), `${target.types} is emitted`);
  const run = spawnSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      'const m = await import("heck/client"); console.log(typeof m.HeckClient, typeof m.HeckApiError)',
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout.trim(), "function function");
});
