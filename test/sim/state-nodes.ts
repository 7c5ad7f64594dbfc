import type { Timers } from "../../src/core/env.js";
import { seededRng } from "../../src/core/env.js";
import { Replicator, type ReplicatorOptions } from "../../src/core/state/replication.js";
import type { SimCluster } from "./sim-network.js";

/**
 * Adds a node with a replicator to a simulated cluster, wired as the agent wires it: the
 * replicator is the membership delegate, and its sync sessions travel as user messages over the
 * node's simulated streams.
 */
export function addStateNode(
  cluster: SimCluster,
  name: string,
  options: Partial<ReplicatorOptions> = {},
): Replicator {
  // The host (and its timers) exists once the node is added; timers are looked up on each call.
  const timers: Timers = {
    setTimeout: (fn, delayMs) => cluster.net.host(name).timers.setTimeout(fn, delayMs),
    clearTimeout: (handle) => cluster.net.host(name).timers.clearTimeout(handle),
  };
  const replicator = new Replicator({
    node: name,
    writer: `w-${name}`,
    clock: cluster.net.clock,
    rng: seededRng(name.length * 7919 + name.charCodeAt(name.length - 1)),
    timers,
    clusterSize: () => cluster.nodes.get(name)?.aliveCount() ?? 1,
    ...options,
  });
  const swim = cluster.add(name, { delegate: replicator });
  replicator.attach({
    members: () =>
      swim
        .members()
        .filter((m) => m.status === "alive" || m.status === "suspect")
        .map((m) => m.name),
    addressOf: (peer) => swim.member(peer)?.address,
    sendStream: (to, payload, timeoutMs, done) => swim.sendUserStream(to, payload, done, timeoutMs),
  });
  return replicator;
}
