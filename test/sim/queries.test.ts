import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { profile } from "../../src/core/membership/config.js";
import { SimCluster } from "./sim-network.js";

/**
 * Serf's queries between heck nodes (docs/wire.md §6.10): the asker reaches every member, each
 * member handles a query once however many copies reach it, and the asker collects one answer
 * per member.
 */
function cluster(lossRate: number, seed: number) {
  const c = new SimCluster({ size: 0, seed, lossRate, config: profile("local") });
  const handled = new Map<string, string[]>();
  for (let i = 0; i < 6; i++) {
    const name = `n${i}`;
    handled.set(name, []);
    c.add(name, {
      queryHandler: (query, payload) => {
        handled.get(name)?.push(`${query}:${Buffer.from(payload).toString()}`);
        return query === "_serf_echo" ? new TextEncoder().encode(name) : undefined;
      },
    });
  }
  c.joinAll();
  c.net.runFor(10_000);
  assert.ok(c.allSee(c.names, c.names, "alive"), "the cluster did not form");
  return { c, handled };
}

function ask(c: SimCluster, from: string, name: string) {
  const answers = new Map<string, string>();
  let expected: number | undefined;
  c.node(from).query({
    name,
    payload: new TextEncoder().encode("hi"),
    timeoutMs: 2_000,
    onResponse: (node, payload) => answers.set(node, Buffer.from(payload).toString()),
    done: (n) => {
      expected = n;
    },
  });
  return { answers, finished: () => expected };
}

describe("Serf queries between heck nodes", () => {
  it("every member answers once, the asker too, and the query ends when all have", () => {
    const { c, handled } = cluster(0, 5);
    const start = c.net.now;
    const q = ask(c, "n2", "_serf_echo");
    const at = c.net.runUntilTrue(() => q.finished() !== undefined, 3_000, 5);
    assert.ok(at !== undefined, "the query never ended");
    assert.equal(q.finished(), 6);
    assert.ok(at - start < 2_000, "it ended when the last member answered, before the timeout");
    assert.deepEqual([...q.answers.keys()].sort(), c.names);
    for (const [node, text] of q.answers) assert.equal(text, node);
    // Copies keep arriving by gossip and directly: each member handled the query once.
    c.net.runFor(3_000);
    for (const name of c.names) assert.deepEqual(handled.get(name), ["_serf_echo:hi"], name);
  });

  it("a query nobody answers ends at its timeout, and queries of Serf's users reach no handler", () => {
    const { c, handled } = cluster(0, 6);
    const start = c.net.now;
    const silent = ask(c, "n0", "_serf_unknown");
    const user = ask(c, "n0", "whoami");
    const at = c.net.runUntilTrue(
      () => silent.finished() !== undefined && user.finished() !== undefined,
      3_000,
      5,
    );
    assert.ok(at !== undefined && at - start >= 2_000);
    assert.equal(silent.answers.size, 0);
    assert.equal(user.answers.size, 0);
    for (const name of c.names) assert.deepEqual(handled.get(name), ["_serf_unknown:hi"], name);
  });

  it("under 10% packet loss the query still reaches every member", () => {
    const { c, handled } = cluster(0.1, 7);
    for (let round = 0; round < 5; round++) {
      const q = ask(c, `n${round}`, "_serf_echo");
      c.net.runUntilTrue(() => q.finished() !== undefined, 3_000, 5);
    }
    c.net.runFor(3_000);
    for (const name of c.names) assert.equal(handled.get(name)?.length, 5, name);
  });
});
