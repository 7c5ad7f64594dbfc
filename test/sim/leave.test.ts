import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { profile } from "../../src/core/membership/config.js";
import { SimCluster } from "./sim-network.js";

/**
 * Issue 7, item 4: a graceful leave reaches every member before the leaver exits. With gossip
 * alone (memberlist's way) a leave is retransmitted retransmitMult * ceil(log10(n + 1)) times, 2
 * under the local profile, and a member that misses them waits for a push-pull, 15 s later.
 */
describe("graceful leave on a lossy network", () => {
  it("20 leaves in a row under 10% packet loss: every node shows left within 1 s, and the leaver knows", () => {
    const config = profile("local");
    const cluster = new SimCluster({ size: 8, seed: 41, lossRate: 0.1, config });
    cluster.joinAll();
    cluster.net.runFor(10_000);
    const names = cluster.names;
    assert.ok(cluster.allSee(names, names, "alive"), "the cluster did not form");
    const latencies: number[] = [];
    for (let trial = 0; trial < 20; trial++) {
      const leaver = names[(trial * 3) % names.length] as string;
      const others = names.filter((n) => n !== leaver);
      const incarnation = cluster.node(leaver).localMember().incarnation;
      const start = cluster.net.now;
      let doneAt: number | undefined;
      cluster.node(leaver).leave(3_000, () => {
        doneAt = cluster.net.now;
      });
      const everywhere = cluster.net.runUntilTrue(() => cluster.allSee(others, [leaver], "left"), 1_000, 5);
      assert.ok(everywhere !== undefined, `trial ${trial}: ${leaver}'s leave missed a node for 1 s`);
      latencies.push(everywhere - start);
      cluster.net.runUntilTrue(() => doneAt !== undefined, 3_000, 5);
      // Done before the 3 s limit means every member acked the datagram that carried the leave.
      assert.ok(doneAt !== undefined && doneAt - start < 3_000, `trial ${trial}: not every member acked`);
      cluster.node(leaver).stop();
      cluster.kill(leaver);
      const back = cluster.add(leaver, { initialIncarnation: incarnation + 1 });
      back.join([cluster.address(others[0] as string)], () => {});
      const rejoined = cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 20_000, 50);
      assert.ok(rejoined !== undefined, `trial ${trial}: ${leaver} did not come back`);
    }
    assert.equal(
      cluster.events.filter((e) => e.status === "dead").length,
      0,
      "a leave was taken for a death",
    );
    latencies.sort((a, b) => a - b);
    console.log(
      `  left everywhere after ${latencies[0]}..${latencies.at(-1)} ms virtual (20 leaves, 10% loss)`,
    );
    cluster.stopAll();
  });
});
