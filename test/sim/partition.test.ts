import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { profile } from "../../src/core/membership/config.js";
import { SimCluster } from "./sim-network.js";

/**
 * Issue 7, item 3, on the simulated network (virtual time, seeded): a 3|2 split of five nodes
 * under the `local` profile is recognised by every node of both sides within 10 s, the healed
 * halves merge within one push-pull interval without a flap, and packet loss of 0, 5 and 10%
 * kills no healthy node, inside a split or without one.
 */

const local = profile("local");

/**
 * Heals the partition and runs until every node sees every node alive, for at most one push-pull
 * interval: when that happened, and how long after the heal; undefined if it did not.
 */
function healUntilWhole(cluster: SimCluster, stepMs: number): { at: number; after: number } | undefined {
  const names = cluster.names;
  cluster.net.heal();
  const healedAt = cluster.net.now;
  const at = cluster.net.runUntilTrue(
    () => cluster.allSee(names, names, "alive"),
    local.pushPullIntervalMs,
    stepMs,
  );
  return at === undefined ? undefined : { at, after: at - healedAt };
}

function converged(cluster: SimCluster): void {
  const names = cluster.names;
  if (cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 60_000, 100) === undefined) {
    assert.fail("the cluster did not converge");
  }
}

/** When every node of each side first saw every node of the other side dead, from `since`. */
function recognisedAfter(cluster: SimCluster, sides: string[][], since: number): number {
  let worst = 0;
  for (const [i, side] of sides.entries()) {
    for (const observer of side) {
      for (const [j, other] of sides.entries()) {
        if (i === j) continue;
        for (const member of other) {
          const at = cluster.firstEvent(observer, member, "dead", since);
          worst = Math.max(worst, at === undefined ? Number.POSITIVE_INFINITY : at - since);
        }
      }
    }
  }
  return worst;
}

/** Dead verdicts about a node by an observer on its own side, after `since`. */
function deathsWithinSides(cluster: SimCluster, sides: string[][], since: number): number {
  return cluster.events.filter(
    (e) =>
      e.at > since &&
      e.status === "dead" &&
      sides.some((side) => side.includes(e.observer) && side.includes(e.member)),
  ).length;
}

describe("partitions on a simulated network (local profile)", () => {
  it("a 3|2 split is recognised by every node of both sides within 10 s, in each of 20 seeds", () => {
    const times: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const cluster = new SimCluster({ size: 5, seed, config: local });
      cluster.joinAll();
      converged(cluster);
      cluster.net.runFor(2_000);
      const names = cluster.names;
      const sides = [names.slice(0, 3), names.slice(3)];
      cluster.net.partition(sides);
      const splitAt = cluster.net.now;
      cluster.net.runFor(30_000);
      const worst = recognisedAfter(cluster, sides, splitAt);
      assert.ok(worst <= 10_000, `seed ${seed}: the split took ${worst} ms to be recognised everywhere`);
      assert.equal(
        deathsWithinSides(cluster, sides, splitAt),
        0,
        `seed ${seed}: a node of its own side died`,
      );
      times.push(worst);
      cluster.stopAll();
    }
    times.sort((a, b) => a - b);
    console.log(
      `  recognised everywhere after ${Math.round(times[0] ?? 0)}..${Math.round(times.at(-1) ?? 0)} ms (median ${Math.round(times[10] ?? 0)})`,
    );
  });

  for (const healAfterMs of [12_000, 40_000]) {
    it(`healed ${healAfterMs / 1000} s after the split, the member lists are whole within one push-pull interval and stay whole`, () => {
      const wholeAfter: number[] = [];
      for (let seed = 1; seed <= 10; seed++) {
        const cluster = new SimCluster({ size: 5, seed, config: local });
        cluster.joinAll();
        converged(cluster);
        cluster.net.runFor(2_000);
        const names = cluster.names;
        cluster.net.partition([names.slice(0, 3), names.slice(3)]);
        cluster.net.runFor(healAfterMs);
        // The other side is dead (12 s) or already forgotten (40 s) everywhere.
        assert.ok(!cluster.allSee(names, names, "alive"));
        const healed = healUntilWhole(cluster, 50);
        if (healed === undefined) {
          assert.fail(`seed ${seed}: not whole ${local.pushPullIntervalMs} ms after the heal`);
        }
        const wholeAt = healed.at;
        wholeAfter.push(healed.after);
        cluster.net.runFor(60_000);
        const flaps = cluster.events.filter((e) => e.at > wholeAt && e.status !== "alive");
        assert.deepEqual(flaps, [], `seed ${seed}: a member flapped after the heal`);
        cluster.stopAll();
      }
      console.log(`  whole ${Math.min(...wholeAfter)}..${Math.max(...wholeAfter)} ms after the heal`);
    });
  }

  it("a node cut off for an hour merges back by itself once the network heals", () => {
    // Long after every member has forgotten the other side (and it them), the reconnect attempts
    // to known peers must still be running, on both sides: nobody is told to join again.
    for (let seed = 1; seed <= 3; seed++) {
      const cluster = new SimCluster({ size: 5, seed, config: local });
      cluster.joinAll();
      converged(cluster);
      const names = cluster.names;
      const lone = names[4] as string;
      cluster.net.partition([names.slice(0, 4), [lone]]);
      cluster.net.runFor(60 * 60_000);
      assert.ok(!cluster.allSee(names, names, "alive"), "split for the hour");
      const healed = healUntilWhole(cluster, 100);
      assert.ok(healed !== undefined, `seed ${seed}: not whole one push-pull interval after the heal`);
      console.log(`  seed ${seed}: whole ${healed.after} ms after an hour apart`);
      cluster.stopAll();
    }
  });

  for (const lossRate of [0, 0.05, 0.1]) {
    it(`${lossRate * 100}% packet loss, UDP only: no healthy node is declared dead, in a whole cluster or inside the sides of a split`, () => {
      // Without the TCP fallback ping every lost datagram can fail a probe, so loss raises suspicions.
      const config = profile("local", { tcpFallbackPing: false });
      let suspicions = 0;
      for (let seed = 1; seed <= 3; seed++) {
        const cluster = new SimCluster({ size: 10, seed, config, lossRate });
        cluster.joinAll();
        converged(cluster);
        cluster.net.runFor(120_000);
        assert.deepEqual(
          cluster.events.filter((e) => e.status === "dead"),
          [],
          `seed ${seed}: a healthy node died`,
        );
        const names = cluster.names;
        const sides = [names.slice(0, 6), names.slice(6)];
        cluster.net.partition(sides);
        const splitAt = cluster.net.now;
        cluster.net.runFor(40_000);
        assert.equal(
          deathsWithinSides(cluster, sides, splitAt),
          0,
          `seed ${seed}: a node of its own side died`,
        );
        assert.ok(
          recognisedAfter(cluster, sides, splitAt) < 40_000,
          `seed ${seed}: the split was not recognised`,
        );
        suspicions += cluster.events.filter((e) => e.status === "suspect" && e.at < splitAt).length;
        cluster.stopAll();
      }
      if (lossRate > 0) assert.ok(suspicions > 0, "loss raised no suspicion: the test would prove nothing");
      console.log(
        `  ${lossRate * 100}% loss: ${suspicions} suspect events before the splits, no false death`,
      );
    });
  }
});
