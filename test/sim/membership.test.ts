import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { retransmitLimit } from "../../src/core/membership/broadcast-queue.js";
import { type MembershipConfig, profile } from "../../src/core/membership/config.js";
import { suspicionBounds } from "../../src/core/membership/suspicion.js";
import { SimCluster } from "./sim-network.js";

/**
 * Upper bound on the time from a kill until every live node holds the victim as dead, from the
 * protocol's own formulas (docs/wire.md §6.9):
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

  for (const preset of ["lan", "local", "wan"] as const) {
    it(`a killed node is declared dead by every live node within the ${preset} preset's bound`, () => {
      const n = 50;
      const config = profile(preset);
      const cluster = new SimCluster({ size: n, seed: 12, config });
      cluster.joinAll();
      cluster.net.runFor(20 * config.probeIntervalMs);
      assert.ok(cluster.allSee(cluster.names, cluster.names, "alive"));
      const victim = "n17";
      const killedAt = cluster.net.now;
      cluster.kill(victim);
      const live = cluster.live();
      const bound = deathBoundMs(config, n);
      const at = cluster.net.runUntilTrue(() => cluster.allSee(live, [victim], "dead"), bound + 1, 50);
      if (at === undefined) assert.fail(`not dead everywhere within ${bound} ms`);
      const detection = at - killedAt;
      const first = Math.min(
        ...cluster.events.filter((e) => e.member === victim && e.status === "dead").map((e) => e.at),
      );
      const { minMs } = suspicionBounds(config, n);
      console.log(
        `  ${n} nodes (${preset}): first dead after ${first - killedAt} ms, dead everywhere after ${detection} ms (bound ${bound} ms, suspicion min ${minMs} ms)`,
      );
      // Never faster than the suspicion minimum: no node may skip the suspect's chance to refute.
      assert.ok(first - killedAt >= minMs, `declared dead after ${first - killedAt} ms, below ${minMs} ms`);
      assert.ok(detection <= bound);
      cluster.stopAll();
    });
  }

  it("a joiner announces itself directly to the members its join taught it, without waiting for gossip", () => {
    // No gossip at all: without the direct announcement, n1 would learn of n2 only at the next
    // push-pull, 30 s on.
    const cluster = new SimCluster({ size: 3, seed: 21, config: { ...profile("lan"), gossipNodes: 0 } });
    const seed = [cluster.address("n0")];
    cluster.node("n1").join(seed, () => {});
    cluster.net.runFor(1000);
    assert.equal(cluster.statusOf("n1", "n0"), "alive");
    cluster.node("n2").join(seed, () => {});
    cluster.net.runFor(100);
    assert.equal(cluster.statusOf("n0", "n2"), "alive", "the seed learns the joiner in the exchange");
    assert.equal(cluster.statusOf("n2", "n1"), "alive", "the joiner learns the members in the exchange");
    assert.equal(cluster.statusOf("n1", "n2"), "alive", "the member before learns the joiner directly");
    cluster.stopAll();
  });

  it("a suspect that refutes with a higher incarnation stays alive", () => {
    const cluster = new SimCluster({ size: 20, seed: 13 });
    cluster.joinAll();
    cluster.net.runFor(15_000);
    assert.ok(cluster.allSee(cluster.names, cluster.names, "alive"));
    const victim = "n7";
    const before = cluster.node(victim).localMember().incarnation;
    const pausedAt = cluster.net.now;
    // Shorter than the suspicion minimum (4 * log10(20) s = 5.2 s): long enough to be suspected,
    // short enough to answer in time.
    cluster.net.pause(victim);
    cluster.net.runFor(3_000);
    cluster.net.resume(victim);
    cluster.net.runFor(30_000);
    const suspectedBy = cluster.events.filter(
      (e) => e.member === victim && e.status === "suspect" && e.at >= pausedAt,
    ).length;
    assert.ok(suspectedBy > 0, "the pause should have raised a suspicion");
    assert.equal(cluster.events.filter((e) => e.member === victim && e.status === "dead").length, 0);
    const after = cluster.node(victim).localMember().incarnation;
    assert.ok(after > before, `incarnation ${before} -> ${after}`);
    assert.ok(cluster.allSee(cluster.names, [victim], "alive"));
    for (const name of cluster.names) assert.equal(cluster.node(name).member(victim)?.incarnation, after);
    console.log(`  suspected by ${suspectedBy} nodes, refuted: incarnation ${before} -> ${after}`);
    cluster.stopAll();
  });

  it("a one-way link cut is routed around by indirect probes: nobody is suspected", () => {
    const cluster = new SimCluster({ size: 10, seed: 23 });
    cluster.joinAll();
    cluster.net.runFor(10_000);
    cluster.net.cut("n1", "n2");
    const cutAt = cluster.net.now;
    cluster.net.runFor(60_000);
    const names = cluster.names;
    assert.ok(cluster.allSee(names, names, "alive"));
    assert.deepEqual(
      cluster.events.filter((e) => e.at >= cutAt && e.status !== "alive"),
      [],
    );
    assert.ok(cluster.node("n1").stats.indirectPings > 0, "n1 should have probed n2 indirectly");
    cluster.stopAll();
  });

  it("a graceful leave shows as left everywhere, never as dead", () => {
    const cluster = new SimCluster({ size: 20, seed: 14 });
    cluster.joinAll();
    cluster.net.runFor(15_000);
    const leaver = "n4";
    let left = false;
    const leftAt = cluster.net.now;
    cluster.node(leaver).leave(5_000, () => {
      left = true;
    });
    cluster.net.runUntilTrue(() => left, 5_000, 10);
    assert.ok(left, "leave did not complete");
    cluster.node(leaver).stop();
    cluster.kill(leaver);
    const others = cluster.live();
    const at = cluster.net.runUntilTrue(() => cluster.allSee(others, [leaver], "left"), 10_000, 50);
    if (at === undefined) assert.fail("leave did not reach every node");
    console.log(`  leave done after ${at - leftAt} ms virtual everywhere`);
    cluster.net.runFor(10_000);
    assert.ok(cluster.allSee(others, [leaver], "left"));
    assert.equal(cluster.events.filter((e) => e.member === leaver && e.status === "dead").length, 0);
    assert.ok(cluster.allSee(others, others, "alive"));
    cluster.stopAll();
  });

  it("a partition into two halves declares each other dead and, once healed, converges into one all-alive view", () => {
    const n = 20;
    const config = profile("lan");
    const cluster = new SimCluster({ size: n, seed: 15, config });
    cluster.joinAll();
    cluster.net.runFor(15_000);
    const left = cluster.names.slice(0, n / 2);
    const right = cluster.names.slice(n / 2);
    cluster.net.partition([left, right]);
    const splitAt = cluster.net.now;
    const split = cluster.net.runUntilTrue(
      () => cluster.allSee(left, right, "dead") && cluster.allSee(right, left, "dead"),
      deathBoundMs(config, n),
      100,
    );
    if (split === undefined) assert.fail("the halves did not declare each other dead");
    assert.ok(cluster.allSee(left, left, "alive") && cluster.allSee(right, right, "alive"));
    // Stay split past deadNodeReclaimTime, so that both sides forget each other and only Serf's
    // reconnect to failed members (docs/wire.md §6.7) can bring them back together.
    cluster.net.runFor(config.deadNodeReclaimTimeMs + 10_000);
    assert.equal(cluster.statusOf("n0", right[0] as string), "unknown");
    cluster.net.heal();
    const healedAt = cluster.net.now;
    const names = cluster.names;
    const merged = cluster.net.runUntilTrue(
      () => cluster.allSee(names, names, "alive"),
      4 * config.reconnectIntervalMs,
      250,
    );
    if (merged === undefined) assert.fail("the healed halves did not converge");
    console.log(
      `  split declared after ${split - splitAt} ms, healed view converged ${merged - healedAt} ms after the heal`,
    );
    cluster.stopAll();
  });

  it("a partition healed before anyone forgets converges too", () => {
    const n = 20;
    const config = profile("lan");
    const cluster = new SimCluster({ size: n, seed: 16, config });
    cluster.joinAll();
    cluster.net.runFor(15_000);
    const left = cluster.names.slice(0, n / 2);
    const right = cluster.names.slice(n / 2);
    cluster.net.partition([left, right]);
    const split = cluster.net.runUntilTrue(
      () => cluster.allSee(left, right, "dead") && cluster.allSee(right, left, "dead"),
      deathBoundMs(config, n),
      100,
    );
    assert.ok(split !== undefined);
    cluster.net.heal();
    const names = cluster.names;
    const healedAt = cluster.net.now;
    const merged = cluster.net.runUntilTrue(
      () => cluster.allSee(names, names, "alive"),
      4 * config.reconnectIntervalMs,
      250,
    );
    if (merged === undefined) assert.fail("the healed halves did not converge");
    console.log(`  converged ${merged - healedAt} ms after an early heal`);
    cluster.stopAll();
  });

  for (const tcpFallbackPing of [true, false]) {
    it(`5% packet loss in a 20-node cluster converges with no false deaths over 60 virtual seconds (TCP fallback ${tcpFallbackPing ? "on" : "off"})`, () => {
      const config = profile("lan", { tcpFallbackPing });
      const cluster = new SimCluster({ size: 20, seed: 17, lossRate: 0.05, config });
      cluster.joinAll();
      const names = cluster.names;
      const at = cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 30_000, 100);
      if (at === undefined) assert.fail("no convergence under 5% loss");
      cluster.net.runUntil(60_000);
      assert.ok(cluster.allSee(names, names, "alive"));
      assert.deepEqual(
        cluster.events.filter((e) => e.status === "dead"),
        [],
      );
      const suspicions = cluster.events.filter((e) => e.status === "suspect").length;
      let refutations = 0;
      for (const name of names) refutations += cluster.node(name).stats.refutations;
      console.log(
        `  TCP fallback ${tcpFallbackPing ? "on" : "off"}: converged at ${at} ms; ${cluster.net.stats.packetsLost} packets lost, ${suspicions} suspect events, ${refutations} refutations, no deaths`,
      );
      cluster.stopAll();
    });
  }

  it("a killed node restarted under the same name with a fresh incarnation comes back alive", () => {
    const cluster = new SimCluster({ size: 12, seed: 18 });
    cluster.joinAll();
    cluster.net.runFor(15_000);
    const victim = "n9";
    cluster.kill(victim);
    const live = cluster.live();
    assert.ok(
      cluster.net.runUntilTrue(() => cluster.allSee(live, [victim], "dead"), 60_000, 100) !== undefined,
    );
    const deadIncarnation = cluster.node("n0").member(victim)?.incarnation ?? 0;
    const restarted = cluster.add(victim);
    assert.equal(restarted.localMember().incarnation, 1);
    restarted.join([cluster.address("n0")], (joined) => assert.equal(joined, 1));
    const names = cluster.names;
    const at = cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 30_000, 100);
    if (at === undefined) assert.fail("the restarted node did not come back");
    // It learned of its own death from the join reply and out-bid it.
    assert.ok(restarted.localMember().incarnation > deadIncarnation);
    cluster.stopAll();
  });

  it("a node that left and rejoins with a newer incarnation comes back alive", () => {
    const cluster = new SimCluster({ size: 12, seed: 19 });
    cluster.joinAll();
    cluster.net.runFor(15_000);
    const leaver = "n3";
    const incarnation = cluster.node(leaver).localMember().incarnation;
    let left = false;
    cluster.node(leaver).leave(5_000, () => {
      left = true;
    });
    cluster.net.runUntilTrue(() => left, 5_000, 10);
    cluster.kill(leaver);
    const others = cluster.live();
    assert.ok(
      cluster.net.runUntilTrue(() => cluster.allSee(others, [leaver], "left"), 10_000, 50) !== undefined,
    );
    const back = cluster.add(leaver, { initialIncarnation: incarnation + 1 });
    back.join([cluster.address("n0")], () => {});
    const names = cluster.names;
    assert.ok(
      cluster.net.runUntilTrue(() => cluster.allSee(names, names, "alive"), 10_000, 50) !== undefined,
    );
    assert.equal(back.stats.refutations, 0);
    cluster.stopAll();
  });

  it("the same seed replays the same run exactly", () => {
    const run = () => {
      const cluster = new SimCluster({ size: 15, seed: 20, lossRate: 0.02 });
      cluster.joinAll();
      cluster.net.runFor(10_000);
      cluster.kill("n5");
      cluster.net.runFor(30_000);
      cluster.stopAll();
      return JSON.stringify(cluster.events);
    };
    assert.equal(run(), run());
  });

  it("a 100-node cluster runs a simulated minute and stays converged", () => {
    const started = performance.now();
    const cluster = new SimCluster({ size: 100, seed: 22 });
    cluster.joinAll();
    cluster.net.runUntil(60_000);
    const names = cluster.names;
    assert.ok(cluster.allSee(names, names, "alive"));
    const s = cluster.net.stats;
    console.log(
      `  100 nodes x 60 s virtual: ${s.packetsDelivered} packets, ${s.streamsOpened} streams, ${Math.round(performance.now() - started)} ms real`,
    );
    cluster.stopAll();
  });
});
