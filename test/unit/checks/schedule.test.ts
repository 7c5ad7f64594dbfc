import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { firstDueAt, JITTER_FRACTION, nextDueAt, phaseOffsetMs } from "../../../src/core/checks/schedule.js";
import { seededRng } from "../../../src/core/env.js";

describe("schedule", () => {
  it("the phase offset lies in [0, interval) and is the same for an id on every call", () => {
    for (let i = 0; i < 1000; i++) {
      const id = `origin-${i}`;
      const p = phaseOffsetMs(id, 5000);
      assert.ok(Number.isInteger(p) && p >= 0 && p < 5000, `${id}: ${p}`);
      assert.equal(phaseOffsetMs(id, 5000), p);
    }
  });

  it("spreads the first probes of many origins across the interval", () => {
    const buckets = new Array<number>(10).fill(0);
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const due = firstDueAt(`origin-${i}`, 1000, 50_000) - 50_000;
      buckets[Math.floor(due / 100)]!++;
    }
    for (const count of buckets) assert.ok(Math.abs(count - n / 10) < n / 10 / 5, `buckets ${buckets}`);
  });

  it("the next probe comes within half the jitter of one interval, one interval apart on average", () => {
    const rng = seededRng(7);
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    let sum = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const gap = nextDueAt(1_000, 5000, rng) - 1_000;
      min = Math.min(min, gap);
      max = Math.max(max, gap);
      sum += gap;
    }
    assert.ok(min >= 5000 * (1 - JITTER_FRACTION / 2), `min ${min}`);
    assert.ok(max < 5000 * (1 + JITTER_FRACTION / 2), `max ${max}`);
    assert.ok(max - min > 5000 * JITTER_FRACTION * 0.9, "the jitter uses its range");
    assert.ok(Math.abs(sum / n - 5000) < 5, `mean gap ${sum / n}`);
  });

  it("the jitter bounds hold at the edges of the generator's range", () => {
    assert.equal(nextDueAt(0, 1000, { next: () => 0 }), 950);
    assert.ok(nextDueAt(0, 1000, { next: () => 0.999_999 }) < 1050);
  });
});
