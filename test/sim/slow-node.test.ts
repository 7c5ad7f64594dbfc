import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { profile } from "../../src/core/membership/config.js";
import { SimCluster } from "./sim-network.js";

/**
 * Issue 7, item 5, on the simulated network: a slow node (its host stopped 400 ms of every second,
 * as SIGSTOP / SIGCONT do) learns it is slow from its own event-loop delay and stretches its own
 * timeouts, accuses no healthy member, and nobody is declared dead.
 */

/**
 * What the agent's monitorEventLoopDelay sampler does, on virtual time: a timer every 10 ms on
 * the node's host measures how late it fires and reports the delay to the node. Returns a probe
 * of the highest health score the node reached.
 */
function monitorLoopDelay(cluster: SimCluster, name: string): () => number {
  const host = cluster.net.host(name);
  const node = cluster.node(name);
  let due = cluster.net.now + 10;
  let worstScore = 0;
  const tick = () => {
    node.reportEventLoopDelay(cluster.net.now - due);
    worstScore = Math.max(worstScore, node.healthScore());
    due = cluster.net.now + 10;
    host.timers.setTimeout(tick, 10);
  };
  host.timers.setTimeout(tick, 10);
  return () => worstScore;
}

describe("a slow node on a simulated network", () => {
  for (const name of ["lan", "local"] as const) {
    it(`stopped 400 ms of every second for 60 s (${name}): it accuses nobody, nobody dies, its health score rises`, () => {
      for (let seed = 1; seed <= 3; seed++) {
        const cluster = new SimCluster({ size: 5, seed, config: profile(name) });
        cluster.joinAll();
        const names = cluster.names;
        assert.ok(cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 30_000, 100));
        const slow = "n4";
        const worstScore = monitorLoopDelay(cluster, slow);
        const from = cluster.net.now;
        for (let t = 0; t < 60_000; t += 1000) {
          cluster.net.schedule(t + 100, () => cluster.net.pause(slow));
          cluster.net.schedule(t + 500, () => cluster.net.resume(slow));
        }
        cluster.net.runFor(61_000);
        const events = cluster.events.filter((e) => e.at > from);
        assert.deepEqual(
          events.filter((e) => e.status === "dead"),
          [],
          `seed ${seed}: someone was declared dead`,
        );
        // The slow node's own failed probes accused nobody; no healthy member was suspected at all.
        const stats = cluster.node(slow).stats;
        assert.equal(stats.probeFailures, stats.probesInconclusive, `seed ${seed}: the slow node accused`);
        assert.deepEqual(
          events.filter((e) => e.status === "suspect" && e.member !== slow),
          [],
          `seed ${seed}: a healthy member was suspected`,
        );
        assert.ok(worstScore() >= 1, `seed ${seed}: the stalls did not reach the health score`);
        assert.ok(cluster.allSee(names, names, "alive"));
        cluster.stopAll();
      }
    });
  }

  it("a probe that fails while the prober is stalled accuses nobody; once it is well again, it does", () => {
    const config = profile("local");
    const cluster = new SimCluster({ size: 2, seed: 3, config });
    cluster.joinAll();
    assert.ok(
      cluster.net.runUntilTrue(() => cluster.allSee(["n0", "n1"], ["n0", "n1"], "alive"), 10_000, 50),
    );
    const n0 = cluster.node("n0");
    // n0's event loop reports a 300 ms delay every 100 ms (a busy process); n1 dies meanwhile.
    let stalled = true;
    const stall = () => {
      if (!stalled) return;
      n0.reportEventLoopDelay(300);
      cluster.net.host("n0").timers.setTimeout(stall, 100);
    };
    stall();
    cluster.kill("n1");
    cluster.net.runFor(10_000);
    assert.equal(cluster.statusOf("n0", "n1"), "alive");
    assert.ok(n0.stats.probesInconclusive > 0);
    assert.equal(n0.stats.probeFailures, n0.stats.probesInconclusive);
    assert.ok(n0.healthScore() > 0);
    stalled = false;
    assert.ok(
      cluster.net.runUntilTrue(() => cluster.statusOf("n0", "n1") === "dead", 60_000, 100) !== undefined,
      "the dead node was never declared dead",
    );
    cluster.stopAll();
  });

  it("a short event-loop delay changes nothing; one of half a probe timeout or more worsens the health score", () => {
    const cluster = new SimCluster({ size: 1, seed: 4, config: profile("lan") });
    const n0 = cluster.node("n0");
    n0.reportEventLoopDelay(50);
    n0.reportEventLoopDelay(249);
    assert.equal(n0.healthScore(), 0);
    n0.reportEventLoopDelay(250);
    assert.equal(n0.healthScore(), 1);
    n0.reportEventLoopDelay(Number.NaN);
    assert.equal(n0.healthScore(), 1);
    cluster.stopAll();
  });
});
