import { strict as assert } from "node:assert";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { buildConnector } from "undici";
import { HostPools } from "../../../src/adapters/host-pools.js";

async function listen(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function closedOrigin(): Promise<string> {
  const { server, origin } = await listen();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return origin;
}

async function get(pools: HostPools, origin: string): Promise<number | string> {
  try {
    const res = await pools.request({ origin, path: "/", method: "GET" });
    await res.body.text();
    return res.statusCode;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

test("a host that refuses connections keeps one pool across probes", async () => {
  const origin = await closedOrigin();
  let connects = 0;
  const base = buildConnector({});
  const pools = new HostPools({
    connect: (options, callback) => {
      connects++;
      base(options, callback);
    },
  });
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal(await get(pools, origin), "ECONNREFUSED");
      assert.equal(pools.size, 1);
    }
    assert.equal(connects, 5);
  } finally {
    await pools.destroy();
  }
});

test("pools unused for the idle time or beyond the bound are closed, the oldest first", async (t) => {
  const servers = await Promise.all([listen(), listen(), listen()]);
  t.after(() => {
    for (const { server } of servers) {
      server.closeAllConnections();
      server.close();
    }
  });
  const [a, b, c] = servers.map((s) => s.origin) as [string, string, string];
  let now = 0;
  const pools = new HostPools({ connect: buildConnector({}), idleMs: 10_000, maxPools: 2, now: () => now });
  try {
    assert.equal(await get(pools, a), 200);
    assert.equal(await get(pools, b), 200);
    assert.equal(pools.size, 2);
    // A third origin: the least recently used (a) goes.
    now = 1_000;
    assert.equal(await get(pools, c), 200);
    assert.equal(pools.size, 2);
    // b is used again; then, past the idle time of c but not of b, c goes at the next dispatch.
    now = 5_000;
    assert.equal(await get(pools, b), 200);
    now = 14_000;
    assert.equal(await get(pools, b), 200);
    assert.equal(pools.size, 1);
    // A closed pool's origin is served by a new pool.
    assert.equal(await get(pools, a), 200);
    assert.equal(pools.size, 2);
  } finally {
    await pools.destroy();
  }
});

test("a closed set of pools refuses new requests", async () => {
  const pools = new HostPools({ connect: buildConnector({}) });
  await pools.close();
  assert.equal(await get(pools, "http://127.0.0.1:9"), "UND_ERR_DESTROYED");
});
