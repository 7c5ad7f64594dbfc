import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { capacityFor, grown, newColumn, ownMemoryColumns } from "../../src/core/typed-arrays.js";

describe("column growth", () => {
  test("a grown column keeps its contents and its type, small or large", () => {
    for (const capacity of [100, 50_000]) {
      const column = new Float64Array(capacity);
      for (let i = 0; i < capacity; i++) column[i] = i + 0.5;
      const out = grown(column, 3 * capacity);
      assert.ok(out instanceof Float64Array);
      assert.equal(out.length, 3 * capacity);
      for (let i = 0; i < capacity; i++) assert.equal(out[i], i + 0.5);
      assert.equal(out[capacity], 0);
      assert.equal(out[3 * capacity - 1], 0);
    }
  });

  test("a column with room is returned as it is", () => {
    const column = new Int32Array(10);
    assert.equal(grown(column, 10), column);
  });

  test("a large column takes a memory of its own and then grows in place", () => {
    const before = ownMemoryColumns();
    let column = newColumn(BigUint64Array, 20_000);
    assert.equal(ownMemoryColumns(), before + 1);
    column[19_999] = 7n;
    const old = column;
    for (const capacity of [40_000, 45_000, 300_000]) {
      column = grown(column, capacity);
      assert.equal(column.length, capacity);
      assert.equal(column[19_999], 7n);
    }
    // In place: no new memory, and the array it had is detached.
    assert.equal(ownMemoryColumns(), before + 1);
    assert.equal(old.length, 0);
  });

  test("a small column stays an ordinary array", () => {
    const before = ownMemoryColumns();
    const column = grown(new Uint8Array(10), 1000);
    assert.equal(ownMemoryColumns(), before);
    assert.equal(column.buffer.byteLength, 1000);
  });

  test("capacityFor fits the slot, doubles while small and then grows by about an eighth", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.integer({ min: 0, max: 5_000_000 }),
        (slot, capacity) => {
          fc.pre(slot >= capacity);
          const next = capacityFor(slot, capacity);
          assert.ok(next > slot);
          // Past the doubling range, the room left over is at most one step: an eighth, or 16,384.
          if (slot >= 32_768) assert.ok(next - slot <= Math.max(16_384, next / 8));
        },
      ),
    );
    assert.equal(capacityFor(0, 0), 1024);
    assert.equal(capacityFor(1024, 1024), 2048);
    assert.equal(capacityFor(16_384, 16_384), 32_768);
    assert.equal(capacityFor(100_000, 98_304), 114_688);
  });
});
