import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { parseOriginSpec } from "../../src/core/checks/spec.js";
import { profile } from "../../src/core/membership/config.js";
import { ownersOf } from "../../src/core/ownership/rendezvous.js";
import type { Replicator } from "../../src/core/state/replication.js";
import { SimCluster } from "./sim-network.js";
import { addStateNode } from "./state-nodes.js";

/**
 * Membership and replicated state together on the simulated network: origins added on one node
 * reach every node through gossip and push-pull, and every converged view gives each origin
 * exactly one owner, the same on every node.
 */

const NODES = 50;
const ORIGINS = 500;
const spec = parseOriginSpec({ url: "http://origin.test/health" });

function build(seed: number, overrides: Parameters<typeof profile>[1] = {}) {
  const config = profile("lan", overrides);
  const cluster = new SimCluster({ seed, size: 0, config, latencyMs: 2, jitterMs: 2 });
  const replicators = new Map<string, Replicator>();
  for (let i = 0; i < NODES; i++) {
    const name = `n${i}`;
    replicators.set(name, addStateNode(cluster, name));
  }
  cluster.joinAll();
  return { cluster, replicators };
}

/** Each node's owner table, computed from that node's own view of the members. */
function ownerTables(cluster: SimCluster, replicators: Map<string, Replicator>, nodes: string[]) {
  return nodes.map((name) => {
    const candidates = cluster
      .node(name)
      .members()
      .filter((m) => m.status === "alive" || m.status === "suspect")
      .map((m) => m.name);
    const ids = [...replicators.get(name)!.liveOrigins()].map((e) => e.id);
    return ownersOf(ids, candidates);
  });
}

function assertOneOwnerEverywhere(tables: Map<string, string>[], owners: Set<string>): Map<string, string> {
  const first = tables[0]!;
  assert.equal(first.size, ORIGINS);
  for (const table of tables) {
    assert.equal(table.size, ORIGINS);
    for (const [id, owner] of first) assert.equal(table.get(id), owner, `owner of ${id} agrees`);
  }
  for (const owner of first.values()) assert.ok(owners.has(owner), `${owner} is a live member`);
  return first;
}

describe("ownership on a simulated cluster", () => {
  it("origins added on one node reach all 50 nodes and have one owner in every converged view", () => {
    const { cluster, replicators } = build(11);
    cluster.net.runFor(5000);
    assert.ok(cluster.allSee(cluster.names, cluster.names, "alive"), "all joined");

    const n0 = replicators.get("n0")!;
    n0.putOrigins(Array.from({ length: ORIGINS }, (_, i) => ({ id: `o${i}`, spec })));
    // A bulk write skips gossip: sync requests to random peers start anti-entropy sessions,
    // and every node that got news passes the request on.
    const reached = cluster.net.runUntilTrue(
      () => [...replicators.values()].every((r) => r.originCount === ORIGINS),
      150_000,
    );
    assert.notEqual(reached, undefined, "every node holds every origin");

    const live = new Set(cluster.names);
    const before = assertOneOwnerEverywhere(ownerTables(cluster, replicators, cluster.names), live);
    const perOwner = new Map<string, number>();
    for (const owner of before.values()) perOwner.set(owner, (perOwner.get(owner) ?? 0) + 1);
    assert.ok(perOwner.size > NODES * 0.9, `work is spread (${perOwner.size} owners)`);

    // A killed node's origins, and only those, move once everyone has declared it dead.
    const victim = "n7";
    cluster.kill(victim);
    const survivors = cluster.names.filter((n) => n !== victim);
    const dead = cluster.net.runUntilTrue(() => cluster.allSee(survivors, [victim], "dead"), 60_000);
    assert.notEqual(dead, undefined, "victim declared dead");
    live.delete(victim);
    const after = assertOneOwnerEverywhere(ownerTables(cluster, replicators, survivors), live);
    for (const [id, owner] of before) {
      if (owner === victim) assert.notEqual(after.get(id), victim);
      else assert.equal(after.get(id), owner, `${id} stayed with ${owner}`);
    }
    cluster.stopAll();
  });

  it("each side of a partition keeps an owner for every origin, and the healed cluster agrees again", () => {
    const { cluster, replicators } = build(12);
    cluster.net.runFor(5000);
    replicators.get("n0")!.putOrigins(Array.from({ length: ORIGINS }, (_, i) => ({ id: `o${i}`, spec })));
    cluster.net.runUntilTrue(() => [...replicators.values()].every((r) => r.originCount === ORIGINS), 60_000);
    const all = new Set(cluster.names);
    const before = assertOneOwnerEverywhere(ownerTables(cluster, replicators, cluster.names), all);

    const left = cluster.names.slice(0, NODES / 2);
    const right = cluster.names.slice(NODES / 2);
    cluster.net.partition([left, right]);
    const split = cluster.net.runUntilTrue(
      () => cluster.allSee(left, right, "dead") && cluster.allSee(right, left, "dead"),
      120_000,
    );
    assert.notEqual(split, undefined, "each side declares the other dead");
    assertOneOwnerEverywhere(ownerTables(cluster, replicators, left), new Set(left));
    assertOneOwnerEverywhere(ownerTables(cluster, replicators, right), new Set(right));

    cluster.net.heal();
    const healed = cluster.net.runUntilTrue(
      () => cluster.allSee(cluster.names, cluster.names, "alive"),
      180_000,
    );
    assert.notEqual(healed, undefined, "one all-alive view after the heal");
    const after = assertOneOwnerEverywhere(ownerTables(cluster, replicators, cluster.names), all);
    assert.deepEqual([...after.entries()].sort(), [...before.entries()].sort(), "the same owners as before");
    cluster.stopAll();
  });

  it("status changes reach all 50 nodes by gossip alone, within seconds", () => {
    const { cluster, replicators } = build(13, { pushPullIntervalMs: 0 });
    cluster.net.runFor(5000);
    assert.ok(cluster.allSee(cluster.names, cluster.names, "alive"), "all joined");
    const owner = replicators.get("n3")!;
    for (let i = 0; i < 20; i++) owner.putOrigin(`o${i}`, spec);
    cluster.net.runUntilTrue(() => [...replicators.values()].every((r) => r.originCount === 20), 30_000, 10);
    const changedAt = cluster.net.now;
    for (let i = 0; i < 20; i++) {
      owner.recordHealth(`o${i}`, {
        status: "unhealthy",
        reporter: "n3",
        checkedAt: changedAt,
        changedAt,
        latencyMs: 5,
        error: "status 503",
      });
    }
    const everywhere = cluster.net.runUntilTrue(
      () =>
        [...replicators.values()].every((r) =>
          Array.from({ length: 20 }, (_, i) => r.healthOf(`o${i}`)?.status).every((s) => s === "unhealthy"),
        ),
      30_000,
      10,
    );
    assert.notEqual(everywhere, undefined, "every node heard every change without anti-entropy");
    const spreadMs = everywhere! - changedAt;
    console.log(`20 status changes reached 50 nodes by gossip in ${spreadMs} virtual ms`);
    assert.ok(spreadMs < 3000, `spread in ${spreadMs} ms`);
    cluster.stopAll();
  });
});
