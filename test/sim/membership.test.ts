import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { retransmitLimit } from "../../src/core/membership/broadcast-queue.js";
import { type MembershipConfig, profile } from "../../src/core/membership/config.js";
import { suspicionBounds } from "../../src/core/membership/suspicion.js";
import { SimCluster } from "./sim-network.js";

/**
 * Upper bound on the time from a kill until every live node holds the victim as dead, from the
 * protocol's own formulas (wire.md §6.9):
 * - probe rounds: the victim is first probed by one of the n - 1 round-robin probers within a few
 *   intervals (each interval it escapes all of them with probability about 1/e), and the failed
 *   probe itself runs one full interval before the suspicion;
 * - the suspicion's maximum timeout (no confirmations at all);
 * - gossip spread of the verdict: it leaves each node's queue after retransmitLimit gossip rounds.
 */
function deathBoundMs(config: MembershipConfig, n: number): number {
  const probeRounds = 4 * config.probeIntervalMs;
  const { maxMs } = suspicionBounds(config, n);
  const spread = retransmitLimit(config.retransmitMult, n) * config.gossipIntervalMs;
  return probeRounds + maxMs + spread;
}

describe("membership on a simulated network", () => {
  it("50 nodes all join through one seed and converge: every node sees all alive", () => {
    const cluster = new SimCluster({ size: 50, seed: 11 });
    cluster.joinAll();
    const names = cluster.names;
    const at = cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 30_000, 250);
    if (at === undefined) assert.fail("cluster did not converge within 30 s");
    console.log(`  50-node join converged at ${at} ms virtual`);
    for (const name of names) assert.equal(cluster.node(name).aliveCount(), 50);
    cluster.stopAll();
  });

  it("a killed node is declared dead by every live node within the preset's bound", () => {
    const n = 50;
    const config = profile("lan");
    const cluster = new SimCluster({ size: n, seed: 12, config });
    cluster.joinAll();
    cluster.net.runFor(20_000);
    assert.ok(cluster.allSee(cluster.names, cluster.names, "alive"));
    const victim = "n17";
    const killedAt = cluster.net.now;
    cluster.kill(victim);
    const live = cluster.live();
    const bound = deathBoundMs(config, n);
    const at = cluster.net.runUntilTrue(() => cluster.allSee(live, [victim], "dead"), bound + 1, 50);
    if (at === undefined) assert.fail(`not dead everywhere within ${bound} ms`);
    const detection = at - killedAt;
    const { minMs } = suspicionBounds(config, n);
    console.log(`  ${n} nodes (lan): dead everywhere ${detection} ms after the kill (bound ${bound} ms)`);
    // Never faster than the suspicion minimum: no node may skip the suspect's chance to refute.
    assert.ok(detection >= minMs, `detected in ${detection} ms, below the suspicion minimum ${minMs} ms`);
    assert.ok(detection <= bound);
    cluster.stopAll();
  });
});
