import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  firstDueAt,
  gridDueAt,
  inheritedDueAt,
  intervalFor,
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

  it("an inherited origin not due yet keeps its cadence: the grid instant after its last probe", () => {
    const noJitter = { next: () => 0.5 };
    const phase = phaseOffsetMs("o", 60_000);
    const last = 1000 * 60_000 + phase;
    // Taken over 20 s after its last probe: probed 60 s after it, as the previous owner would have.
    assert.equal(inheritedDueAt("o", 60_000, last + 20_000, last, noJitter), last + 60_000);
  });

  it("an inherited origin probed off its grid waits for its next grid instant, up to 1.5 intervals on", () => {
    const noJitter = { next: () => 0.5 };
    const phase = phaseOffsetMs("o", 60_000);
    // Its first probe came 0.4 interval before a grid instant (a new origin is probed within 2 s
    // of its creation, not on its grid): the next probe is on the instant after that one.
    const last = 1000 * 60_000 + phase - 24_000;
    const due = inheritedDueAt("o", 60_000, last + 6000, last, noJitter);
    assert.equal(due, last + 84_000, "1.4 intervals after the last probe, not at once");
  });

  it("an inherited origin overdue by the handover window or more is probed at once", () => {
    const noJitter = { next: () => 0.5 };
    const phase = phaseOffsetMs("o", 5000);
    const last = 1000 * 5000 + phase;
    const now = last + 5000 + 2000;
    assert.equal(inheritedDueAt("o", 5000, now, last, noJitter), now);
    // Due in the past: the missed instant plus the window, so the longest unprobed go first.
    assert.equal(inheritedDueAt("o", 5000, now + 60_000, last, noJitter), now);
    assert.equal(inheritedDueAt("o", 5000, now, last - 5000, noJitter), now - 5000);
  });

  it("an inherited origin overdue by less comes within what remains of the window, spread by id", () => {
    const noJitter = { next: () => 0.5 };
    const spread = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const id = `origin-${i}`;
      const last = 1000 * 5000 + phaseOffsetMs(id, 5000);
      const now = last + 5000 + 500;
      const due = inheritedDueAt(id, 5000, now, last, noJitter) - now;
      assert.ok(due >= 0 && due < 1500, `${id}: ${due} ms`);
      spread.add(due);
    }
    assert.ok(spread.size > 100, `${spread.size} distinct offsets`);
  });

  it("an inherited origin without a last probe, or with one from a clock far ahead, is spread as a new one", () => {
    const rng = seededRng(4);
    assert.equal(inheritedDueAt("o", 60_000, 50_000, null, rng), firstDueAt("o", 60_000, 50_000));
    assert.equal(inheritedDueAt("o", 60_000, 50_000, undefined, rng), firstDueAt("o", 60_000, 50_000));
    assert.equal(
      inheritedDueAt("o", 60_000, 50_000, 50_000 + 3_600_000, rng),
      firstDueAt("o", 60_000, 50_000),
    );
  });

  it("on the grid, a probe that ran on time is followed one interval on, within the jitter", () => {
    const rng = seededRng(3);
    const noJitter = { next: () => 0.5 };
    const phase = phaseOffsetMs("o", 5000);
    const onTime = 1_000_000 * 5000 + phase;
    assert.equal(gridDueAt("o", onTime, 5000, noJitter), onTime + 5000);
    let sum = 0;
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const gap = gridDueAt("o", onTime, 5000, rng) - onTime;
      assert.ok(gap >= 4750 && gap <= 5250, `gap ${gap}`);
      sum += gap;
    }
    assert.ok(Math.abs(sum / n - 5000) < 8, `mean gap ${sum / n}`);
  });

  it("the jitter bounds hold at the edges of the generator's range", () => {
    const grid = 7 * 1000 + phaseOffsetMs("o", 1000);
    assert.equal(gridDueAt("o", grid - 1000, 1000, { next: () => 0 }, 10), grid - 50);
    assert.ok(gridDueAt("o", grid - 1000, 1000, { next: () => 0.999_999 }, 10) < grid + 50);
  });

  it("on the grid, a late probe does not push its successors back", () => {
    const noJitter = { next: () => 0.5 };
    const phase = phaseOffsetMs("o", 10_000);
    const due = 500 * 10_000 + phase;
    for (const late of [0, 100, 2000, 4900]) {
      assert.equal(gridDueAt("o", due + late, 10_000, noJitter), due + 10_000, `late by ${late}`);
    }
    assert.equal(
      gridDueAt("o", due + 6000, 10_000, noJitter),
      due + 20_000,
      "over half an interval late: skip one",
    );
  });

  it("on the grid, origins that ran at the same instant spread to their own phases", () => {
    const noJitter = { next: () => 0.5 };
    const buckets = new Array<number>(10).fill(0);
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const due = gridDueAt(`origin-${i}`, 1_234_567, 10_000, noJitter);
      assert.ok(due >= 1_234_567 + 5000 && due < 1_234_567 + 15_000);
      buckets[Math.floor((due % 10_000) / 1000)]!++;
    }
    for (const count of buckets) assert.ok(Math.abs(count - n / 10) < n / 10 / 5, `buckets ${buckets}`);
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
