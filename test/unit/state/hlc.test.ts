import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareHlc, DEFAULT_MAX_FORWARD_DRIFT_MS, HlcClock } from "../../../src/core/state/hlc.js";
import type { Hlc } from "../../../src/core/state/types.js";

/** A clock the test sets by hand. */
function manualClock(start: number): { now(): number; set(t: number): void } {
  let t = start;
  return {
    now: () => t,
    set: (v) => {
      t = v;
    },
  };
}

const hlc = (wall: number, counter: number, node: string): Hlc => ({ wall, counter, node });

describe("compareHlc", () => {
  const table: Array<[Hlc, Hlc, number]> = [
    [hlc(1, 0, "a"), hlc(2, 0, "a"), -1],
    [hlc(2, 0, "a"), hlc(1, 9, "z"), 1],
    [hlc(1, 1, "a"), hlc(1, 2, "a"), -1],
    [hlc(1, 2, "a"), hlc(1, 1, "z"), 1],
    [hlc(1, 1, "a"), hlc(1, 1, "b"), -1],
    [hlc(1, 1, "b"), hlc(1, 1, "a"), 1],
    [hlc(1, 1, "a"), hlc(1, 1, "a"), 0],
    [hlc(1, 1, "B"), hlc(1, 1, "a"), -1],
  ];
  for (const [a, b, expected] of table) {
    it(`${JSON.stringify(a)} vs ${JSON.stringify(b)} → ${expected}`, () => {
      assert.equal(compareHlc(a, b), expected);
      assert.equal(compareHlc(b, a), -expected || 0);
    });
  }
});

describe("HlcClock", () => {
  it("follows the wall clock and counts within one millisecond", () => {
    const clock = manualClock(1000);
    const h = new HlcClock("n1", clock);
    assert.deepEqual(h.now(), hlc(1000, 0, "n1"));
    assert.deepEqual(h.now(), hlc(1000, 1, "n1"));
    clock.set(1005);
    assert.deepEqual(h.now(), hlc(1005, 0, "n1"));
  });

  it("stays monotonic when the wall clock goes back", () => {
    const clock = manualClock(5000);
    const h = new HlcClock("n1", clock);
    const a = h.now();
    clock.set(1000);
    const b = h.now();
    assert.ok(compareHlc(b, a) > 0);
    assert.deepEqual(b, hlc(5000, 1, "n1"));
  });

  it("a write after observing a peer's stamp orders after it, by the paper's receive rules", () => {
    // [physical time of a fresh clock, remote stamp, expected (wall, counter) after observing it]
    const table: Array<[number, Hlc, [number, number]]> = [
      [100, hlc(200, 4, "p"), [200, 5]], // remote ahead: l = l.m, c = c.m + 1
      [300, hlc(200, 4, "p"), [300, 0]], // physical time ahead of both: c = 0
    ];
    for (const [pt, remote, [wall, counter]] of table) {
      const clock = manualClock(pt);
      const h = new HlcClock("n1", clock);
      assert.equal(h.observe(remote), true);
      assert.deepEqual(h.last(), hlc(wall, counter, "n1"));
      assert.ok(compareHlc(h.now(), remote) > 0);
    }
  });

  it("observing a stamp with the same wall takes the larger counter plus one", () => {
    const clock = manualClock(100);
    const h = new HlcClock("n1", clock);
    h.observe(hlc(200, 2, "p")); // (200, 3)
    h.observe(hlc(200, 7, "q"));
    assert.deepEqual(h.last(), hlc(200, 8, "n1"));
    h.observe(hlc(200, 1, "q"));
    assert.deepEqual(h.last(), hlc(200, 9, "n1"));
    // An older wall is behind the clock already: nothing moves, the next stamp still follows it.
    assert.equal(h.observe(hlc(150, 50, "q")), true);
    assert.deepEqual(h.last(), hlc(200, 9, "n1"));
    assert.deepEqual(h.now(), hlc(200, 10, "n1"));
  });

  it("does not observe a stamp more than the drift bound ahead of the wall clock", () => {
    const clock = manualClock(10_000);
    const h = new HlcClock("n1", clock);
    const far = hlc(10_000 + DEFAULT_MAX_FORWARD_DRIFT_MS + 1, 0, "p");
    assert.equal(h.observe(far), false);
    assert.equal(h.now().wall, 10_000);
    assert.equal(h.observe(hlc(10_000 + DEFAULT_MAX_FORWARD_DRIFT_MS, 0, "p")), true);
  });

  it("honours a configured drift bound", () => {
    const h = new HlcClock("n1", manualClock(0), { maxForwardDriftMs: 10 });
    assert.equal(h.observe(hlc(11, 0, "p")), false);
    assert.equal(h.observe(hlc(10, 0, "p")), true);
  });

  it("nowAfter beats a refused future stamp without moving the clock there", () => {
    const clock = manualClock(1000);
    const h = new HlcClock("n1", clock);
    const far = hlc(10_000_000, 3, "p");
    h.observe(far);
    assert.deepEqual(h.nowAfter(far), hlc(10_000_000, 4, "n1"));
    assert.equal(h.now().wall, 1000);
    const older = hlc(10, 0, "p");
    assert.deepEqual(h.nowAfter(older), h.last());
  });

  it("property: stamps only grow, pass every observed stamp, and stay near real time", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant<"tick">("tick"), ms: fc.integer({ min: -2000, max: 2000 }) }),
      fc.record({ kind: fc.constant<"now">("now") }),
      fc.record({
        kind: fc.constant<"observe">("observe"),
        ahead: fc.integer({ min: -5000, max: 120_000 }),
        counter: fc.nat(5),
      }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const clock = manualClock(1_000_000);
        const h = new HlcClock("n1", clock);
        let last = h.last();
        let maxPt = clock.now();
        let maxObserved = 0;
        for (const s of steps) {
          if (s.kind === "tick") {
            clock.set(clock.now() + s.ms);
            maxPt = Math.max(maxPt, clock.now());
          } else if (s.kind === "now") {
            const stamp = h.now();
            assert.ok(compareHlc(stamp, last) > 0);
            last = stamp;
          } else {
            const remote = hlc(clock.now() + s.ahead, s.counter, "p");
            if (h.observe(remote)) {
              maxObserved = Math.max(maxObserved, remote.wall);
              const stamp = h.now();
              assert.ok(compareHlc(stamp, remote) > 0);
              assert.ok(compareHlc(stamp, last) > 0);
              last = stamp;
            } else {
              assert.ok(remote.wall > clock.now() + DEFAULT_MAX_FORWARD_DRIFT_MS);
            }
          }
          assert.ok(h.last().wall <= Math.max(maxPt, maxObserved));
        }
      }),
    );
  });
});
