import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  type AgentProcess,
  api,
  firstSeenByAll,
  isRunning,
  OriginFarm,
  sendRaw,
  startAgent,
  stopAgent,
  tempDir,
  waitFor,
} from "../helpers/cluster.js";

/**
 * Three real `heck agent` processes on loopback with the `local` profile and real origin servers:
 * the whole path from "a user adds an origin" to "every node reports its health".
 */

const ORIGINS = 12;
const INTERVAL_MS = 300;
const ids = Array.from({ length: ORIGINS }, (_, i) => `origin-${i}`);
const pathOf = (id: string) => `/${id}`;

interface OriginView {
  id: string;
  owner: string | null;
  health: { status: string; reporter: string | null };
}

async function originsOn(agent: AgentProcess): Promise<OriginView[]> {
  const res = await api<{ origins: OriginView[] }>(agent, "GET", "/v1/origins");
  assert.equal(res.status, 200);
  return res.body.origins;
}

async function aliveNames(agent: AgentProcess): Promise<string[]> {
  const res = await api<{ members: Array<{ name: string; status: string }> }>(agent, "GET", "/v1/members");
  return res.body.members
    .filter((m) => m.status === "alive")
    .map((m) => m.name)
    .sort();
}

/** Every running agent reports all `expected` members alive. */
async function allSeeAlive(agents: AgentProcess[], expected: string[]): Promise<boolean> {
  for (const a of agents) {
    const alive = await aliveNames(a);
    if (JSON.stringify(alive) !== JSON.stringify([...expected].sort())) return false;
  }
  return true;
}

/** Owner per origin id if every agent reports the same owner for all ids, else undefined. */
async function agreedOwners(agents: AgentProcess[]): Promise<Map<string, string> | undefined> {
  let first: Map<string, string> | undefined;
  for (const a of agents) {
    const views = await originsOn(a);
    const owners = new Map(views.map((v) => [v.id, v.owner ?? ""]));
    if (owners.size !== ids.length) return undefined;
    if (!first) first = owners;
    else for (const [id, owner] of owners) if (first.get(id) !== owner) return undefined;
  }
  return first;
}

describe("a three-node cluster on loopback", { timeout: 180_000 }, () => {
  const dir = tempDir("heck-it-");
  const farm = new OriginFarm();
  let agents: AgentProcess[] = [];

  before(async () => {
    await farm.start();
    const a = await startAgent({ name: "node-a", dataDir: `${dir.path}/node-a` });
    const b = await startAgent({ name: "node-b", dataDir: `${dir.path}/node-b`, join: [a.gossip] });
    const c = await startAgent({ name: "node-c", dataDir: `${dir.path}/node-c`, join: [a.gossip] });
    agents = [a, b, c];
  });

  after(async () => {
    await Promise.all(agents.map((a) => stopAgent(a, "SIGKILL")));
    await farm.stop();
    dir.remove();
  });

  const running = () => agents.filter(isRunning);

  test("all three agents see each other alive", async () => {
    await waitFor("three alive members everywhere", () =>
      allSeeAlive(agents, ["node-a", "node-b", "node-c"]),
    );
  });

  test("origins added on one node are probed by exactly one node: the owner every node reports", async () => {
    for (const id of ids) {
      const res = await api(agents[0]!, "PUT", `/v1/origins/${id}`, {
        url: farm.url(pathOf(id)),
        intervalMs: INTERVAL_MS,
        healthyThreshold: 1,
        unhealthyThreshold: 2,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
    await waitFor("every node reports every origin healthy", async () => {
      for (const a of agents) {
        const views = await originsOn(a);
        if (views.length !== ORIGINS || views.some((v) => v.health.status !== "healthy")) return false;
      }
      return true;
    });
    const owners = await waitFor("the same owner on every node", () => agreedOwners(agents));
    assert.equal(new Set(owners.values()).size > 1, true, "origins are spread over more than one owner");

    const since = Date.now();
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 5));
    for (const id of ids) {
      const probes = farm.probesOf(pathOf(id), since);
      assert.ok(probes.length >= 2, `${id} was probed (${probes.length} probes)`);
      const probers = new Set(probes.map((p) => p.node));
      assert.deepEqual([...probers], [owners.get(id)], `${id} probed only by its owner`);
      assert.match(probes[0]!.userAgent ?? "", /^heck\/\d+\.\d+\.\d+/);
    }
  });

  test("an origin switched to failing is unhealthy on every node", async () => {
    const id = ids[3]!;
    farm.fail(pathOf(id));
    await waitFor(`${id} unhealthy everywhere`, async () => {
      for (const a of agents) {
        const res = await api<OriginView>(a, "GET", `/v1/origins/${id}`);
        if (res.body.health.status !== "unhealthy") return false;
      }
      return true;
    });
    farm.fail(pathOf(id), false);
    await waitFor(`${id} healthy again everywhere`, async () => {
      for (const a of agents) {
        const res = await api<OriginView>(a, "GET", `/v1/origins/${id}`);
        if (res.body.health.status !== "healthy") return false;
      }
      return true;
    });
  });

  test("bad input gets a clear error and changes nothing; random datagrams and streams crash nothing", async () => {
    const target = agents[1]!;
    const before = (await originsOn(target)).length;

    const malformed = await fetch(`http://${target.http}/v1/origins/x`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: "{not json",
    });
    assert.equal(malformed.status, 400);
    const invalid = await api(target, "PUT", "/v1/origins/x", { url: farm.url("/x"), intervalMS: 1000 });
    assert.equal(invalid.status, 400);
    assert.match(JSON.stringify(invalid.body), /intervalMS/);
    const badId = await api(target, "PUT", "/v1/origins/bad%20id", { url: farm.url("/x") });
    assert.equal(badId.status, 400);
    const huge = await sendRaw(
      target,
      "POST",
      "/v1/origins",
      JSON.stringify({ origins: [], pad: "x".repeat(20 << 20) }),
    );
    assert.equal(huge, 413);
    const notJson = await api(target, "PUT", "/v1/origins/x", "url=x", { "content-type": "text/plain" });
    assert.equal(notJson.status, 415);

    const socket = createSocket("udp4");
    for (const agent of agents) {
      const port = Number(agent.gossip.split(":").pop());
      for (let i = 0; i < 200; i++) {
        const junk = randomBytes(1 + (i % 64) * 20);
        if (i % 4 === 0) junk[0] = i % 14; // a valid message type followed by garbage
        await new Promise<void>((resolve) => socket.send(junk, port, "127.0.0.1", () => resolve()));
      }
    }
    socket.close();
    for (const agent of agents) {
      const port = Number(agent.gossip.split(":").pop());
      for (let i = 0; i < 20; i++) {
        await new Promise<void>((resolve) => {
          const conn = connect(port, "127.0.0.1", () => {
            const junk = randomBytes(1 + i * 50);
            junk[0] = i % 14;
            conn.end(junk);
          });
          conn.on("error", () => resolve());
          conn.on("close", () => resolve());
          conn.resume();
        });
      }
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const agent of agents) {
      assert.ok(isRunning(agent), `${agent.name} still running`);
      assert.equal((await api(agent, "GET", "/healthz")).status, 200);
      assert.equal((await originsOn(agent)).length, before);
    }
    assert.equal((await api(target, "GET", "/v1/origins/x")).status, 404);
    assert.ok(await allSeeAlive(agents, ["node-a", "node-b", "node-c"]), "membership unchanged");
  });

  test("an owner stopped past one probe interval of suspicion has stand-ins probe its origins; they return once it answers", async () => {
    const owners = (await waitFor("the same owner on every node", () => agreedOwners(agents)))!;
    const victim = agents.find((a) => a.name === owners.get(ids[1]!))!;
    const its = ids.filter((id) => owners.get(id) === victim.name);
    const others = agents.filter((a) => a !== victim);
    // Stopped for 4 s: its suspicion starts after one to three seconds (a probe round), the
    // stand-ins take over a probe interval (1 s under `local`) later, while the verdict needs the
    // suspicion's timeout (3 s here). The others' member lists are watched meanwhile.
    victim.child.kill("SIGSTOP");
    const stoppedAt = Date.now();
    let deadAt = Number.POSITIVE_INFINITY;
    try {
      while (Date.now() - stoppedAt < 4000) {
        for (const a of others) {
          const res = await api<{ members: Array<{ name: string; status: string }> }>(
            a,
            "GET",
            "/v1/members",
          );
          const status = res.body.members.find((m) => m.name === victim.name)?.status;
          if (status === "dead" && deadAt === Number.POSITIVE_INFINITY) deadAt = Date.now();
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    } finally {
      victim.child.kill("SIGCONT");
    }
    const standIns = its.flatMap((id) =>
      farm.probesOf(pathOf(id)).filter((p) => p.at > stoppedAt && p.at < deadAt && p.node !== victim.name),
    );
    assert.ok(standIns.length > 0, "no stand-in probed the stopped owner's origins before its verdict");
    await waitFor("every node sees the stopped node alive again", () =>
      allSeeAlive(agents, ["node-a", "node-b", "node-c"]),
    );
    await new Promise((r) => setTimeout(r, 1500));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, INTERVAL_MS * 5));
    for (const id of its) {
      const probers = new Set(farm.probesOf(pathOf(id), since).map((p) => p.node));
      assert.deepEqual([...probers], [victim.name], `${id} back with its owner`);
    }
  });

  test("after kill -9 of an owner its origins are probed by another node and every node says so", async () => {
    const owners = (await agreedOwners(agents))!;
    const victim = agents.find((a) => a.name === owners.get(ids[0]!))!;
    const moved = ids.filter((id) => owners.get(id) === victim.name);
    const kept = ids.filter((id) => owners.get(id) !== victim.name);
    await stopAgent(victim, "SIGKILL");
    const killedAt = Date.now();
    const survivors = running();

    await firstSeenByAll(survivors, victim.name, "dead");

    const newOwners = await waitFor("survivors agree on new owners", async () => {
      const o = await agreedOwners(survivors);
      return o && moved.every((id) => o.get(id) !== victim.name) ? o : undefined;
    });
    for (const id of kept) assert.equal(newOwners.get(id), owners.get(id), `${id} did not move`);
    await waitFor("the moved origins are probed by their new owners", () =>
      moved.every((id) => farm.probesOf(pathOf(id), killedAt).some((p) => p.node === newOwners.get(id))),
    );
    for (const a of survivors) {
      for (const view of await originsOn(a)) assert.notEqual(view.health.status, "unknown", view.id);
    }
  });

  test("a full restart of every node loses no origin and the cluster reforms without --join", async () => {
    const expected = (await originsOn(running()[0]!)).map((v) => v.id).sort();
    assert.equal(expected.length, ORIGINS);
    const gossipPorts = new Map(agents.map((a) => [a.name, Number(a.gossip.split(":").pop())]));
    await Promise.all(running().map((a) => stopAgent(a, "SIGKILL")));

    agents = [];
    for (const name of ["node-a", "node-b", "node-c"]) {
      agents.push(
        await startAgent({ name, dataDir: `${dir.path}/${name}`, gossipPort: gossipPorts.get(name)! }),
      );
    }
    for (const a of agents) {
      assert.deepEqual((await originsOn(a)).map((v) => v.id).sort(), expected, `${a.name} kept every origin`);
    }
    await waitFor(
      "the restarted nodes find each other",
      () => allSeeAlive(agents, ["node-a", "node-b", "node-c"]),
      30_000,
    );
  });

  test("an acknowledged PUT survives kill -9 of the node that took it", async () => {
    const taker = agents[2]!;
    const res = await api(taker, "PUT", "/v1/origins/durable-1", { url: farm.url("/durable-1") });
    assert.equal(res.status, 201);
    await stopAgent(taker, "SIGKILL");
    const port = Number(taker.gossip.split(":").pop());
    agents[2] = await startAgent({ name: taker.name, dataDir: taker.dataDir, gossipPort: port });
    const view = await api<OriginView>(agents[2]!, "GET", "/v1/origins/durable-1");
    assert.equal(view.status, 200);
  });

  test("SIGTERM makes a node leave: the others see it left, and it exits 0", async () => {
    const leaver = agents[2]!;
    const signalledAt = Date.now();
    const code = await stopAgent(leaver, "SIGTERM");
    assert.equal(code, 0);
    assert.ok(Date.now() - signalledAt < 5000, `exited within 5 s (${Date.now() - signalledAt} ms)`);
    await firstSeenByAll(running(), leaver.name, "left", { timeoutMs: 20_000 });
  });
});
