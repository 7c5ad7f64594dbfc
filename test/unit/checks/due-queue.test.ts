import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type DueItem, DueQueue } from "../../../src/core/checks/due-queue.js";

interface Item extends DueItem {
  name: number;
}

describe("DueQueue", () => {
  it("pops in due order whatever was pushed and removed in between", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dueAt: fc.integer({ min: 0, max: 1000 }), removed: fc.boolean() }), {
          maxLength: 200,
        }),
        (specs) => {
          const queue = new DueQueue<Item>();
          const items = specs.map((s, name) => ({ dueAt: s.dueAt, heapIndex: -1, name }));
          for (const item of items) queue.push(item);
          for (const [i, s] of specs.entries())
            if (s.removed) assert.equal(queue.remove(items[i] as Item), true);
          const kept = items.filter((_, i) => !specs[i]?.removed);
          assert.equal(queue.size, kept.length);
          const popped: number[] = [];
          for (let item = queue.pop(); item !== undefined; item = queue.pop()) {
            assert.equal(item.heapIndex, -1);
            popped.push(item.dueAt);
          }
          assert.deepEqual(
            popped,
            kept.map((i) => i.dueAt).sort((a, b) => a - b),
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
          const queue = new DueQueue<Item>();
          const queued: Item[] = [];
          let name = 0;
          for (const o of ops) {
            if (o.op === "push") {
              const item = { dueAt: o.dueAt, heapIndex: -1, name: name++ };
              queue.push(item);
              queued.push(item);
            } else if (o.op === "pop") {
              const item = queue.pop();
              const earliest = Math.min(...queued.map((i) => i.dueAt));
              if (queued.length === 0) assert.equal(item, undefined);
              else {
                assert.equal(item?.dueAt, earliest);
                queued.splice(queued.indexOf(item as Item), 1);
              }
            } else if (queued.length > 0) {
              const item = queued.splice(o.pick % queued.length, 1)[0] as Item;
              assert.equal(queue.remove(item), true);
              assert.equal(queue.has(item), false);
            }
            assert.equal(queue.size, queued.length);
            for (const item of queued) assert.equal(queue.has(item), true);
          }
        },
      ),
    );
  });

  it("holds 100,000 items and pops them in order", () => {
    const queue = new DueQueue<Item>();
    const dues = Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 100_003);
    for (const [name, dueAt] of dues.entries()) queue.push({ dueAt, heapIndex: -1, name });
    let previous = -1;
    for (let item = queue.pop(); item !== undefined; item = queue.pop()) {
      assert.ok(item.dueAt >= previous);
      previous = item.dueAt;
    }
    assert.equal(queue.size, 0);
  });

  it("removing an item that is not queued does nothing", () => {
    const queue = new DueQueue<Item>();
    const a = { dueAt: 1, heapIndex: -1, name: 1 };
    const b = { dueAt: 2, heapIndex: -1, name: 2 };
    queue.push(a);
    assert.equal(queue.remove(b), false);
    assert.equal(queue.has(a), true);
    assert.equal(queue.remove(a), true);
    assert.equal(queue.remove(a), false);
    assert.equal(queue.peek(), undefined);
  });
});
