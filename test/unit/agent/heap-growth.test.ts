import { strict as assert } from "node:assert";
import { describe, test } from "node:test";
import { HeapGrowth } from "../../../src/agent/heap-growth.js";

describe("HeapGrowth", () => {
  test("caps the growth while the node is settled and leaves it to V8 while it takes a bootstrap in", () => {
    const growth = new HeapGrowth(100);
    growth.update(false);
    assert.equal(growth.applied, 100);
    growth.update(true);
    assert.equal(growth.applied, 0);
    growth.update(false);
    assert.equal(growth.applied, 100);
  });

  test("0 leaves the sizing to V8 at all times", () => {
    const growth = new HeapGrowth(0);
    for (const growing of [false, true, false]) {
      growth.update(growing);
      assert.equal(growth.applied, 0);
    }
  });
});
