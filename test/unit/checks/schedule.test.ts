import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  DEFAULT_JITTER_PERCENT,
  firstDueAt,
  intervalFor,
  nextDueAt,
  phaseOffsetMs,
} from "../../../src/core/checks/schedule.js";
import { seededRng } from "../../../src/core/env.js";

describe("schedule", () => {
  it("the phase offset lies in [0, window) and is the same for an id on every call", () => {
    for (let i = 0; i < 1000; i++) {
      const id = `origin-${i}`;
      const p = phaseOffsetMs(id, 5000);
      assert.ok(Number.isInteger(p) && p >= 0 && p < 5000, `${id}: ${p}`);
      assert.equal(phaseOffsetMs(id, 5000), p);
    }
  });

  it("spreads the first probes of many origins across min(interval, 2 s)", () => {
    const buckets = new Array<number>(10).fill(0);
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const due = firstDueAt(`origin-${i}`, 3_600_000, 50_000) - 50_000;
      assert.ok(due < 2000, `an hourly origin is probed within 2 s of a handover, not ${due} ms`);
      buckets[Math.floor(due / 200)]!++;
    }
    for (const count of buckets) assert.ok(Math.abs(count - n / 10) < n / 10 / 5, `buckets ${buckets}`);
    for (let i = 0; i < 1000; i++) assert.ok(firstDueAt(`o${i}`, 500, 0) < 500, "within a short interval");
    assert.ok(firstDueAt("o", 60_000, 0, 10_000) < 10_000, "the window is an option");
  });

  it("the next probe comes within half the jitter of one interval, one interval apart on average", () => {
    for (const percent of [DEFAULT_JITTER_PERCENT, 30, 0]) {
      const rng = seededRng(7);
      let min = Number.POSITIVE_INFINITY;
      let max = 0;
      let sum = 0;
      const n = 10_000;
      for (let i = 0; i < n; i++) {
        const gap = nextDueAt(1_000, 5000, rng, percent) - 1_000;
        min = Math.min(min, gap);
        max = Math.max(max, gap);
        sum += gap;
      }
      const span = (5000 * percent) / 100;
      assert.ok(min >= 5000 - span / 2, `${percent}%: min ${min}`);
      assert.ok(max <= 5000 + span / 2, `${percent}%: max ${max}`);
      assert.ok(max - min >= span * 0.9, `${percent}%: the jitter uses its range`);
      // Four standard errors of the mean of a uniform spread over `span`, plus the floor's rounding.
      assert.ok(Math.abs(sum / n - 5000) < 1 + span * 0.012, `${percent}%: mean gap ${sum / n}`);
    }
  });

  it("the jitter bounds hold at the edges of the generator's range", () => {
    assert.equal(nextDueAt(0, 1000, { next: () => 0 }), 950);
    assert.ok(nextDueAt(0, 1000, { next: () => 0.999_999 }) < 1050);
  });

  it("uses fastIntervalMs while the status changes and downIntervalMs while down", () => {
    const spec = { intervalMs: 10_000, fastIntervalMs: 1000, downIntervalMs: 60_000 };
    const at = (status: "unknown" | "healthy" | "unhealthy", successes: number, failures: number) =>
      intervalFor(spec, { status, successes, failures });
    assert.equal(at("unknown", 0, 0), 1000);
    assert.equal(at("healthy", 3, 0), 10_000);
    assert.equal(at("healthy", 0, 1), 1000, "a failure while healthy: changing");
    assert.equal(at("unhealthy", 0, 5), 60_000);
    assert.equal(at("unhealthy", 1, 0), 1000, "a success while unhealthy: changing");
    assert.equal(intervalFor({ intervalMs: 5000 }, { status: "unhealthy", successes: 0, failures: 4 }), 5000);
  });
});
