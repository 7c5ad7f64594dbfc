import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DueQueue } from "../../../src/core/checks/due-queue.js";

describe("DueQueue", () => {
  it("pops in due order whatever was pushed and removed in between", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dueAt: fc.integer({ min: 0, max: 1000 }), removed: fc.boolean() }), {
          maxLength: 200,
        }),
        (specs) => {
          const queue = new DueQueue();
          for (const [item, s] of specs.entries()) queue.push(item, s.dueAt);
          for (const [item, s] of specs.entries()) if (s.removed) assert.equal(queue.remove(item), true);
          const kept = specs.filter((s) => !s.removed);
          assert.equal(queue.size, kept.length);
          const popped: number[] = [];
          for (let item = queue.pop(); item !== -1; item = queue.pop()) {
            assert.equal(queue.has(item), false);
            popped.push((specs[item] as { dueAt: number }).dueAt);
          }
          assert.deepEqual(
            popped,
            kept.map((s) => s.dueAt).sort((a, b) => a - b),
          );
        },
      ),
    );
  });

  it("stays in due order under pushes, pops and removals interleaved, past its first growth", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant("push" as const), dueAt: fc.integer({ min: 0, max: 50 }) }),
            fc.record({ op: fc.constant("pop" as const) }),
            fc.record({ op: fc.constant("remove" as const), pick: fc.nat() }),
          ),
          { maxLength: 400 },
        ),
        (ops) => {
          const queue = new DueQueue();
          const dueAt = new Map<number, number>();
          let next = 0;
          for (const o of ops) {
            if (o.op === "push") {
              queue.push(next, o.dueAt);
              dueAt.set(next++, o.dueAt);
            } else if (o.op === "pop") {
              const earliest = Math.min(...dueAt.values());
              assert.equal(queue.peekDueAt(), dueAt.size === 0 ? Number.POSITIVE_INFINITY : earliest);
              const item = queue.pop();
              if (dueAt.size === 0) assert.equal(item, -1);
              else {
                assert.equal(dueAt.get(item), earliest);
                dueAt.delete(item);
              }
            } else if (dueAt.size > 0) {
              const item = [...dueAt.keys()][o.pick % dueAt.size] as number;
              dueAt.delete(item);
              assert.equal(queue.remove(item), true);
              assert.equal(queue.has(item), false);
            }
            assert.equal(queue.size, dueAt.size);
            for (const item of dueAt.keys()) assert.equal(queue.has(item), true);
          }
        },
      ),
    );
  });

  it("holds 100,000 items and pops them in order", () => {
    const queue = new DueQueue();
    const due = (item: number) => (item * 7919) % 100_003;
    for (let item = 0; item < 100_000; item++) queue.push(item, due(item));
    let previous = -1;
    let popped = 0;
    for (let item = queue.pop(); item !== -1; item = queue.pop()) {
      assert.ok(due(item) >= previous);
      previous = due(item);
      popped++;
    }
    assert.equal(popped, 100_000);
    assert.equal(queue.size, 0);
  });

  it("removing an item that is not queued does nothing", () => {
    const queue = new DueQueue();
    queue.push(1, 1);
    assert.equal(queue.remove(2), false);
    assert.equal(queue.remove(1_000_000), false);
    assert.equal(queue.has(1), true);
    assert.equal(queue.remove(1), true);
    assert.equal(queue.remove(1), false);
    assert.equal(queue.peek(), -1);
  });

  it("takes an item again after it was popped or removed, and after clear", () => {
    const queue = new DueQueue();
    queue.push(3, 30);
    queue.push(4, 10);
    assert.equal(queue.pop(), 4);
    queue.push(4, 40);
    assert.equal(queue.remove(3), true);
    queue.push(3, 5);
    assert.deepEqual([queue.pop(), queue.pop(), queue.pop()], [3, 4, -1]);
    queue.push(7, 1);
    queue.clear();
    assert.equal(queue.has(7), false);
    assert.equal(queue.size, 0);
    queue.push(7, 2);
    assert.equal(queue.peek(), 7);
  });
});
