import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { retransmitLimit } from "../../src/core/membership/broadcast-queue.js";
import { type MembershipConfig, profile } from "../../src/core/membership/config.js";
import { suspicionBounds } from "../../src/core/membership/suspicion.js";
import { SimCluster } from "./sim-network.js";

/**
 * A cluster of a few hundred nodes on the simulated network, joined as a deployment brings
 * nodes up (three seeds, then 50 nodes a second through them): it converges, holds no false
 * suspicion without loss, and every node sees a crash within the protocol's bound.
 * `npm run sim:membership` measures the same at 1,000 nodes (docs/membership.md).
 */

const N = 300;

/** As in membership.test.ts: first probe rounds, the longest suspicion, and the verdict's spread. */
function deathBoundMs(config: MembershipConfig, n: number): number {
  const probeRounds = 4 * config.probeIntervalMs;
  const { maxMs } = suspicionBounds(config, n);
  const spread = retransmitLimit(config.retransmitMult, n) * config.gossipIntervalMs;
  return probeRounds + maxMs + spread;
}

describe(`membership at ${N} nodes on a simulated network`, () => {
  it("joins, raises no suspicion without loss, and sees a crash everywhere within the bound", () => {
    const config = profile("lan");
    const cluster = new SimCluster({ size: 0, seed: 31, config, record: (e) => e.previous !== "none" });
    cluster.rollOut(N);
    const converged = cluster.net.runUntilTrue(
      () => cluster.names.length === N && cluster.allSee(cluster.names, cluster.names, "alive"),
      120_000,
      1000,
    );
    if (converged === undefined) assert.fail(`${N} nodes did not converge within 120 s`);
    for (const name of cluster.names) assert.equal(cluster.node(name).aliveCount(), N);

    // A quiet minute: nobody suspects anybody.
    cluster.net.runFor(60_000);
    const falseAlarms = cluster.events.filter((e) => e.status === "suspect" || e.status === "dead");
    assert.deepEqual(falseAlarms, [], "no member is suspected or declared dead without a fault");

    const victim = "n150";
    const killedAt = cluster.net.now;
    cluster.kill(victim);
    const live = cluster.live();
    const bound = deathBoundMs(config, N);
    const at = cluster.net.runUntilTrue(() => cluster.allSee(live, [victim], "dead"), bound + 1, 250);
    if (at === undefined) assert.fail(`${victim} not dead everywhere within ${bound} ms`);
    const deaths = cluster.events.filter((e) => e.member === victim && e.status === "dead");
    const first = Math.min(...deaths.map((e) => e.at)) - killedAt;
    console.log(
      `  ${N} nodes converged at ${converged} ms; crash seen first after ${first} ms, everywhere after ${at - killedAt} ms (bound ${bound} ms)`,
    );
    // No node skips the suspect's chance to refute.
    assert.ok(first >= suspicionBounds(config, N).minMs);
    // Only the victim was ever suspected or declared dead.
    const others = cluster.events.filter(
      (e) => (e.status === "suspect" || e.status === "dead") && e.member !== victim,
    );
    assert.deepEqual(others, []);
    cluster.stopAll();
  });
});
