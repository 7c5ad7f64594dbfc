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
