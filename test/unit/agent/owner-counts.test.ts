import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import { OwnerCounter } from "../../../src/agent/owner-counts.js";
import type { HealthStatus } from "../../../src/core/state/types.js";

/** A catalog where the owner is the id's prefix before the dash, with a hand-run event loop. */
function fixture(sliceSize = 2) {
  const status = new Map<string, HealthStatus>([
    ["n1-a", "healthy"],
    ["n1-b", "unhealthy"],
    ["n2-a", "unknown"],
  ]);
  const queue: Array<() => void> = [];
  let now = 0;
  const counter = new OwnerCounter({
    ids: () => [...status.keys()].sort(),
    size: () => status.size,
    candidates: () => ["n1", "n2", "n3"],
    ownerOf: (id) => id.split("-")[0],
    statusOf: (id) => status.get(id),
    later: (fn) => queue.push(fn),
    now: () => now,
    sliceSize,
    minIntervalMs: 1000,
  });
  const runQueue = (): number => {
    let turns = 0;
    while (queue.length > 0) {
      queue.shift()!();
      turns++;
    }
    return turns;
  };
  return { status, counter, runQueue, queue, advance: (ms: number) => (now += ms) };
}

const plain = (counts: Map<string, object>) => Object.fromEntries(counts);

describe("OwnerCounter", () => {
  test("the first count of a catalog of one slice runs at once and lists every candidate", () => {
    const { counter, queue } = fixture(3);
    assert.equal(counter.ready(), false);
    assert.deepEqual(plain(counter.counts()), {
      n1: { origins: 2, healthy: 1, unhealthy: 1, unknown: 0 },
      n2: { origins: 1, healthy: 0, unhealthy: 0, unknown: 1 },
      n3: { origins: 0, healthy: 0, unhealthy: 0, unknown: 0 },
    });
    assert.equal(queue.length, 0);
  });

  test("the first count of a larger catalog runs in slices, with zeros meanwhile", () => {
    const { counter, runQueue } = fixture(2);
    assert.deepEqual(plain(counter.counts()), {
      n1: { origins: 0, healthy: 0, unhealthy: 0, unknown: 0 },
      n2: { origins: 0, healthy: 0, unhealthy: 0, unknown: 0 },
      n3: { origins: 0, healthy: 0, unhealthy: 0, unknown: 0 },
    });
    assert.equal(counter.ready(), false);
    assert.equal(runQueue(), 2);
    assert.equal(counter.ready(), true);
    assert.deepEqual(counter.counts().get("n1"), { origins: 2, healthy: 1, unhealthy: 1, unknown: 0 });
  });

  test("after a change, readers get the last count while a new one runs in slices", () => {
    const { counter, status, runQueue, advance } = fixture(2);
    counter.counts();
    runQueue();
    status.set("n2-a", "healthy");
    status.set("n3-a", "unhealthy");
    status.set("n3-b", "unhealthy");
    counter.invalidate();
    advance(1000);
    assert.equal(counter.counts().get("n3")?.origins, 0);
    // Five ids in slices of two: three turns.
    assert.equal(runQueue(), 3);
    assert.deepEqual(counter.counts().get("n3"), { origins: 2, healthy: 0, unhealthy: 2, unknown: 0 });
    assert.equal(counter.counts().get("n2")?.healthy, 1);
  });

  test("passes run at most once per minIntervalMs, and not at all when nothing changed", () => {
    const { counter, status, queue, runQueue, advance } = fixture(3);
    counter.counts();
    advance(5000);
    counter.counts();
    assert.equal(queue.length, 0);
    status.set("n3-a", "healthy");
    counter.invalidate();
    counter.counts();
    runQueue();
    status.set("n3-b", "healthy");
    counter.invalidate();
    advance(500);
    counter.counts();
    assert.equal(queue.length, 0, "too soon after the last pass");
    assert.equal(counter.counts().get("n3")?.origins, 1);
    advance(500);
    counter.counts();
    runQueue();
    assert.equal(counter.counts().get("n3")?.origins, 2);
  });

  test("a change during a pass leaves its result stale, so the next read counts again", () => {
    const { counter, status, queue, runQueue, advance } = fixture(1);
    counter.counts();
    counter.invalidate();
    advance(1000);
    counter.counts();
    queue.shift()!();
    status.set("n3-z", "healthy");
    counter.invalidate();
    runQueue();
    advance(1000);
    counter.counts();
    runQueue();
    assert.equal(counter.counts().get("n3")?.origins, 1);
  });

  test("an origin deleted during a pass is not counted; stop abandons a pass", () => {
    const { counter, status, queue, advance } = fixture(1);
    counter.counts();
    counter.invalidate();
    advance(1000);
    counter.counts();
    status.delete("n1-b");
    while (queue.length > 0) queue.shift()!();
    assert.equal(counter.counts().get("n1")?.origins, 1);
    status.set("n3-a", "healthy");
    counter.invalidate();
    advance(1000);
    counter.counts();
    counter.stop();
    counter.stop();
    while (queue.length > 0) queue.shift()!();
    assert.equal(counter.counts().get("n3")?.origins, 0);
  });
});
